"""``python -m locmap``: the command line (:func:`locmap.cli.main`)."""
import signal
import sys

try:
    from locmap.cli import INTERRUPTED, main
except KeyboardInterrupt:  # Ctrl-C while Python is still importing: the same one line
    print("locmap: interrupted", file=sys.stderr)
    sys.exit(130)

code = main()
if code == INTERRUPTED:  # a second Ctrl-C while the interpreter shuts down prints no traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.exit(code)
