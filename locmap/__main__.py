import sys

from locmap.cli import main

sys.exit(main())
