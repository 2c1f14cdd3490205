"""The C++ core, ``vidcodec._native`` (Elias coders, delta-frame encoder kernels, the prefilter's
mean), imported once with an error that says how to build it."""

try:
    from . import _native as core
except ImportError as e:  # pragma: no cover - depends on how the package was installed
    raise ImportError(
        "vidcodec._native (the C++ core) is not built: install the package with "
        "`pip install -e .` (or `pip install .`) from the repository root"
    ) from e

__all__ = ["core"]
