#!/usr/bin/env python3
"""Export an installed model's analysis and synthesis transforms to ONNX.

    python export/onnx_export.py --model vaegan-s --out DIR [--check CLIP] [--frames N] [--json]

A thin shell over ``vidcodec export`` (see ``vidcodec export --help``), which calls
:func:`vidcodec.runtime.export_onnx` and :func:`vidcodec.runtime.check_export`; the package
itself never imports this folder.
"""

from __future__ import annotations

import sys

from vidcodec.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
