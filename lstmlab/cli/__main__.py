"""`python -m lstmlab.cli ...` runs the command line, as the `lstmlab` script does."""

import sys

from .main import main

sys.exit(main())
