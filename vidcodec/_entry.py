"""The ``vidcodec`` command's entry point: :func:`vidcodec.cli.main`, loaded and run so that a Ctrl-C
during its imports or while it reads its options (a few tenths of a second at start-up) ends as one
later does: exit 130 with one line, not a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from .cli import main as run

        # (a Ctrl-C while the options are read, before the command's own handling: its parser imports
        # the training options' module, a few tenths of a second, and it gave a traceback)
        return run()
    except KeyboardInterrupt:
        print("vidcodec: interrupted", file=sys.stderr)
        return 130
