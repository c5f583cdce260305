"""``python -m dotdo.server``: the same as ``dotdo dev`` (see :mod:`dotdo.server.dev`)."""

import sys

from dotdo.server.dev import run_dev

if __name__ == "__main__":
    sys.exit(run_dev(sys.argv[1:]))
