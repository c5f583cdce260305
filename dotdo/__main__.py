"""``python -m dotdo``: the same as the ``dotdo`` command."""

import sys

from dotdo.cli import main

sys.exit(main())
