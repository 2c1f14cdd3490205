"""vidcodec: a learned (VAE-GAN) video codec for streaming, with its own .gvc container.

Public API: :func:`encode`, :func:`decode`, :func:`frames` (see :mod:`vidcodec.api`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
