"""Print the decision pack to an A4 PDF with headless Chromium (``--print-to-pdf``).

Chromium prints the same HTML, CSS and inline SVG the browser shows (the page's ``@media
print`` rules hide the sliders and break pages), so the PDF cannot drift from the HTML; it is
the browser the test suite already installs (Debian ``chromium``).  Chromium runs with a fresh
profile in a temporary folder, no sandbox (containers), no GPU, and every background network
feature off; the page itself forbids network requests (Content-Security-Policy).
"""
from __future__ import annotations

import shutil
import re
import subprocess
import tempfile
from pathlib import Path

from locmap.errors import LocmapError
from locmap.export import write_bytes

#: Candidate Chromium executables, first found wins.
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "chrome")
#: Flags for a quiet, offline, headless print.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage",
    "--hide-scrollbars", "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
)
PRINT_TIMEOUT_S = 120.0


class PdfError(LocmapError):
    """The PDF could not be printed (no Chromium, or Chromium failed)."""

    remedy = ("install Chromium (`apt-get install -y chromium`) or pass --no-pdf; the HTML pack "
              "prints to A4 from any browser as well.")
    exit_code = 1


def find_chromium() -> Path:
    """Path of a Chromium executable on PATH; PdfError if there is none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise PdfError(f"no Chromium found on PATH (looked for {', '.join(CHROMIUM_NAMES)})")


def print_pdf(html_path: str | Path, pdf_path: str | Path, chromium: str | Path | None = None,
              timeout_s: float = PRINT_TIMEOUT_S) -> Path:
    """Print ``html_path`` to ``pdf_path`` (A4, from the page's ``@page`` rule); atomic write."""
    exe = Path(chromium) if chromium else find_chromium()
    html_path = Path(html_path).resolve()
    with tempfile.TemporaryDirectory(prefix="locmap-pdf-") as tmp:
        out = Path(tmp) / "pack.pdf"
        cmd = [str(exe), *CHROMIUM_FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}",
               f"--print-to-pdf={out}", html_path.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not finish printing {html_path} within {timeout_s:g} s") from None
        except (FileNotFoundError, PermissionError) as exc:
            raise PdfError(f"cannot run Chromium '{exe}': {exc.strerror}") from None
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise PdfError(f"Chromium could not print {html_path} (exit code {proc.returncode}): {tail}")
        return write_bytes(pdf_path, without_dates(out.read_bytes()))


_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:[0-9]{14}[^)]*\)")


def without_dates(pdf: bytes) -> bytes:
    """The PDF with its creation/modification dates set to 2000-01-01 00:00 UTC, byte for byte the
    same length (the cross-reference offsets stay valid), so the same pack prints to the same bytes."""
    def zero(m: re.Match) -> bytes:
        text = m.group(0)
        head = text[: text.index(b"D:") + 2]
        tail = re.sub(rb"[0-9]", b"0", text[len(head) + 14:])
        return head + b"20000101000000" + tail
    return _renumbered_nodes(_PDF_DATE.sub(zero, pdf))


_NODE_ID = re.compile(rb"\(node([0-9]{8})\)")


def _renumbered_nodes(pdf: bytes) -> bytes:
    """Chromium's tagged-PDF structure ids ``(node00000129)`` number the page's DOM nodes, which
    shift from one print of the same page to the next; each is replaced by its rank among them
    (same width, so offsets stay valid; same order, so the structure's id tree stays sorted)."""
    ranks = {n: b"%08d" % i for i, n in enumerate(sorted(set(_NODE_ID.findall(pdf))), start=1)}
    return _NODE_ID.sub(lambda m: b"(node" + ranks[m.group(1)] + b")", pdf)
