"""vidcodec: a learned (VAE-GAN) video codec for streaming, with its own .gvc container.

Public API (loaded on first use; ``help(vidcodec.encode)`` and the others document each, see
:mod:`vidcodec.api`)::

    import vidcodec
    vidcodec.encode("in.mp4", "out.gvc", quality=5)   # -> EncodeStats; bitrate=, preset="fast", ...
    vidcodec.decode("out.gvc", "out.mp4")             # -> DecodeStats; .y4m, or "-" for stdout
    for f in vidcodec.frames("out.gvc"):              # DecodedFrame: rgb (H x W x 3 uint8), pts, ...
        ...

Errors are :class:`vidcodec.errors.VidcodecError` subclasses (UsageError, InputError, FormatError,
...) whose messages say what to do.
"""

from __future__ import annotations

import os
import sys

# numpy's OpenBLAS would start a thread per core for each matrix product; the codec already runs
# its stages in threads (two network lanes, the delta coder and its worker), and the learned
# sub-pixel prediction's many small products then fight them for the cores: 640x360 through the
# CLI, 11 -> 17 fps encode and 26 -> 34 fps decode with one BLAS thread on this 2-core VM.
# Unless the user has chosen: by the environment when numpy is not loaded yet, else by OpenBLAS's own
# call (threadpoolctl), numpy's OpenBLAS only (torch's BLAS keeps its threads for training). A program
# that imported numpy first had two BLAS threads per process: GOP-parallel workers (two processes
# on two cores) then decoded 1080p symbols 6x slower than one process alone.
if "OPENBLAS_NUM_THREADS" not in os.environ:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if "numpy" in sys.modules:
        from threadpoolctl import ThreadpoolController

        blas = ThreadpoolController()
        mine = [i["filepath"] for i in blas.info() if i["internal_api"] == "openblas" and "numpy" in i["filepath"]]
        if mine:
            blas.select(filepath=mine).limit(limits=1)

from typing import TYPE_CHECKING

from . import errors  # light (no numpy): `except vidcodec.errors.UsageError` works before any call
from .errors import VidcodecError

if TYPE_CHECKING:  # what type checkers see of the API that __getattr__ loads on first use
    from .api import DecodedFrame, DecodeStats, EncodeStats, decode, encode, frames
    from .streamcopy import RemuxStats, remux

__all__ = ["DecodeStats", "DecodedFrame", "EncodeStats", "RemuxStats", "VidcodecError", "__version__", "decode", "encode",
           "errors", "frames", "remux"]


def __dir__() -> list[str]:
    """The public API too (it loads on first use), for tab completion and dir()."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    # The version is looked up on first use too (importlib.metadata is 30 ms of the command's
    # start, before its entry point can turn a Ctrl-C into a quiet exit 130).
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("vidcodec")
        except PackageNotFoundError:  # running from a source tree that was not installed
            value = "0.0.0+source"
        globals()["__version__"] = value
        return value
    # The API pulls in torch and PyAV; import it on first use so that `vidcodec --version`,
    # the training code and the container tools start fast.
    if name in ("remux", "RemuxStats"):
        from . import streamcopy

        return getattr(streamcopy, name)
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'vidcodec' has no attribute {name!r}")
