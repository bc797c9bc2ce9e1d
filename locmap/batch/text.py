"""Text from data made inert for a terminal, for everything the batch prints or logs.

Every batch call site (progress lines, the command's failure lines, ``log.txt``, ``error.txt``,
the ``error`` and ``last_failure`` columns of ``batch_status.csv``) goes through :func:`shown`,
so pointing it at the project-wide sanitiser (``locmap._text.terminal_safe``, issue #23) is a
one-line change here.  Until then this is a minimal stand-in with the same contract: control
characters (C0 except newline, DEL, C1 including ESC and CSI) and the bidirectional-text
controls are written as visible escapes (``\\x1b``, ``\\u202e``), never sent raw.
"""
from __future__ import annotations

#: Bidirectional-text controls (they reorder what a terminal shows: "Trojan Source").
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escaped(ch: str) -> str:
    code = ord(ch)
    if ch == "\n":
        return ch
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"\\x{code:02x}"
    if ch in BIDI_CONTROLS:
        return f"\\u{code:04x}"
    return ch


def shown(text: object) -> str:
    """``text`` as a string safe to print: control and bidi characters escaped, newlines kept."""
    return "".join(_escaped(ch) for ch in str(text))


__all__ = ["BIDI_CONTROLS", "shown"]
