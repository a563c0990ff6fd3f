"""`python -m fuzz`: the fuzz campaign's entry point (see fuzz/campaign.py)."""

import sys

from fuzz.campaign import main

sys.exit(main())
