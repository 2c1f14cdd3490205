"""The ``vidcodec`` command's entry point: :func:`vidcodec.cli.main`, loaded so that a Ctrl-C during
its imports (about a tenth of a second at start-up) ends as one later does: exit 130 with one line,
not a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        print("vidcodec: interrupted", file=sys.stderr)
        return 130
    return run()
