"""``python -m rowatch``."""

import sys

from rowatch.cli import main

sys.exit(main())
