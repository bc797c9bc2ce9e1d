"""Text from data made inert for a terminal, for everything the batch prints or logs.

Every batch call site (progress lines, the command's failure lines, ``log.txt``, ``error.txt``,
the ``error`` and ``last_failure`` columns of ``batch_status.csv``) goes through :func:`shown`,
which is the project-wide sanitiser :func:`locmap._text.terminal_safe_message`: control characters
and the bidirectional-text controls are written as visible escapes (``\\x1b``, ``\\u202e``), never
sent raw; newlines and tabs of a multi-line message are kept.
"""
from __future__ import annotations

from locmap._text import terminal_safe_message as shown

__all__ = ["shown"]
