"""``python -m locmap``: the command line (:func:`locmap.cli.main`)."""
import sys

from locmap.cli import main

sys.exit(main())
