"""``python -m minke.cli``."""

import sys

from .main import main

sys.exit(main())
