"""``python -m vidcodec``: the same as the ``vidcodec`` command."""

import sys

from .cli import main

sys.exit(main())
