"""Nothing from a data file reaches the terminal raw: service names, types, column names and
postcodes are printed through :func:`locmap._text.terminal_safe` (control characters shown escaped)."""
from __future__ import annotations

from pathlib import Path

import pytest

from locmap._text import terminal_safe, terminal_safe_message
from locmap.cli import main

#: clear screen, set the window title (OSC 0, BEL), hyperlink (OSC 8), red text, right-to-left override
CLEAR, TITLE, RED, RLO = "\x1b[2J", "\x1b]0;pwned\x07", "\x1b[31m", "\u202e"
RAW = ("\x1b", "\x07", "\x9b", RLO)


def test_control_characters_are_shown_escaped_and_other_text_kept():
    assert terminal_safe(f"Evil{CLEAR}{TITLE}") == "Evil\\x1b[2J\\x1b]0;pwned\\x07"
    assert terminal_safe("a\x9bb\x7fc") == "a\\x9bb\\x7fc"
    assert terminal_safe(f"{RLO}gnp.exe\u2066\u2069") == "\\u202egnp.exe\\u2066\\u2069"
    assert terminal_safe("two\nlines\ttab\r") == "two\\x0alines\\x09tab\\x0d"
    assert terminal_safe("Ealing – St Mary’s Café 東京 \\path") == "Ealing – St Mary’s Café 東京 \\path"
    assert terminal_safe(3.5) == "3.5"
    assert terminal_safe("lone \udc80 surrogate") == "lone \\udc80 surrogate"


def test_a_message_keeps_its_own_lines_but_not_escapes():
    assert terminal_safe_message(f"error: {CLEAR}x\n  What to do: y") == "error: \\x1b[2Jx\n  What to do: y"


def _hostile_register(path: Path) -> Path:
    path.write_text("service_id,name,service_type,postcode\n"
                    f'x1,"Evil{CLEAR}{TITLE} Centre",childrens_centre,W5 5DB\n'
                    f'x2,"Nowhere{RED} red",childrens_centre,\n', encoding="utf-8")
    return path


def _assert_inert(text: str) -> None:
    for ch in RAW:
        assert ch not in text, f"raw {ch!r} printed"


def test_check_prints_service_names_escaped(tmp_path, capsys):
    rc = main(["check", "--area", "ealing", "--services", str(_hostile_register(tmp_path / "ansi.csv"))])
    out, err = capsys.readouterr()
    assert rc == 0
    _assert_inert(out + err)
    assert "childrens_centre: Nowhere\\x1b[31m red" in out  # the unlocated service, escaped


def test_error_messages_print_file_text_escaped(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(f"nam{CLEAR}e,x\n1,2\n", encoding="utf-8")
    rc = main(["check", "--area", "ealing", "--services", str(bad)])
    out, err = capsys.readouterr()
    assert rc == 2
    _assert_inert(out + err)
    assert "columns present: nam\\x1b[2Je, x" in err
    assert err.count("\n") == 2  # the message and its remedy line, nothing the data added


def test_nearest_prints_names_escaped_not_as_question_marks(tmp_path, capsys):
    reg = _hostile_register(tmp_path / "ansi.csv")
    rc = main(["nearest", "--area", "ealing", "--services", str(reg), "--postcode", "W5 5DB",
               "--types", "childrens_centre"])
    out, err = capsys.readouterr()
    assert rc == 0
    _assert_inert(out + err)
    assert "Evil\\x1b[2J\\x1b]0;pwned\\x07 Centre" in out
