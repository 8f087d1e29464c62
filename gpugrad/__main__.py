"""``python -m gpugrad ...``: see gpugrad.cli."""

import sys

from .cli import main

sys.exit(main())
