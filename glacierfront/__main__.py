"""`python -m glacierfront` runs the command line."""

import sys

from glacierfront.cli import main

sys.exit(main())
