"""`python -m modelport` runs the command line."""

import sys

from modelport.cli import main

sys.exit(main())
