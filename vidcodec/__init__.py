"""vidcodec: a learned (VAE-GAN) video codec for streaming, with its own .gvc container.

Public API: :func:`encode`, :func:`decode`, :func:`frames` (see :mod:`vidcodec.api`).
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

# numpy's OpenBLAS would start a thread per core for each matrix product; the codec already runs
# its stages in threads (two network lanes, the delta coder and its worker), and the learned
# sub-pixel prediction's many small products then fight them for the cores: 640x360 through the
# CLI, 11 -> 17 fps encode and 26 -> 34 fps decode with one BLAS thread on this 2-core VM.
# Only when numpy is not loaded yet and the user has not chosen.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

try:
    __version__ = version("vidcodec")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["DecodeStats", "DecodedFrame", "EncodeStats", "__version__", "decode", "encode", "frames"]


def __getattr__(name: str):
    # The API pulls in torch and PyAV; import it on first use so that `vidcodec --version`,
    # the training code and the container tools start fast.
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'vidcodec' has no attribute {name!r}")
