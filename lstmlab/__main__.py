"""`python -m lstmlab ...` (and `torchrun ... -m lstmlab ...`) runs the command line, as the `lstmlab` script does."""

import sys

from .cli.main import main

sys.exit(main())
