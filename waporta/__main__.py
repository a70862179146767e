"""``python -m waporta``: the same command line as the ``waporta`` script (see :mod:`waporta.cli`)."""

from __future__ import annotations

import sys

from waporta.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
