"""Names media.py imports from PyAV (see av/__init__.py)."""
from av import _Missing

ColorRange, Colorspace, Interpolation, VideoReformatter = (
    _Missing(f"av.video.reformatter.{n}") for n in ("ColorRange", "Colorspace", "Interpolation", "VideoReformatter"))
