"""``python -m locmap``: the command line (:func:`locmap.cli.main`)."""
import signal
import sys

from locmap.cli import INTERRUPTED, main

code = main()
if code == INTERRUPTED:  # a second Ctrl-C while the interpreter shuts down prints no traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.exit(code)
