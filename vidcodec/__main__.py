"""``python -m vidcodec``: the same as the ``vidcodec`` command."""

import sys

from ._entry import main

sys.exit(main())
