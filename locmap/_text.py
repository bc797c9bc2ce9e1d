"""Text from data files made inert for a terminal.

Every text that came from a data file (a service name, a type, a postcode, a file's row value inside an
error message) and is printed goes through :func:`terminal_safe`: control characters are shown as
escapes, so a register cannot clear the screen, set the terminal title, write a hidden link (OSC 8) or
reverse the reading order of a line.

Escaped: C0 controls (U+0000-U+001F, including newline and tab: one value stays on one line), DEL
(U+007F), C1 controls (U+0080-U+009F) as ``\\xNN``; the bidirectional controls (U+061C, U+200E, U+200F,
U+202A-U+202E, U+2066-U+2069) and lone surrogates as ``\\uNNNN``. Everything else, including accented
letters and other scripts, is kept as it is. A backslash is kept as it is (paths stay readable), so an
escape is a display, not a reversible encoding.
"""
from __future__ import annotations

import re

__all__ = ["terminal_safe", "terminal_safe_message"]

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
_UNSAFE_KEEP_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """``str(text)`` with every control character shown escaped (``\\x1b``, ``\\u202e``), on one line."""
    return _UNSAFE.sub(_escape, str(text))


def terminal_safe_message(text: object) -> str:
    """Like :func:`terminal_safe` but keeps newlines and tabs: for a whole multi-line message whose
    layout is the program's own (an error with its remedy on the next line)."""
    return _UNSAFE_KEEP_LINES.sub(_escape, str(text))
