"""Network inputs by URL (``rtsp://camera/stream``): what counts as one, without importing PyAV (the
command line checks its arguments with it before the codec's libraries load)."""

from __future__ import annotations

import re

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")  # rtsp://, udp://, http://...: FFmpeg's protocols


def is_url(src: object) -> bool:
    """Whether ``src`` is a URL FFmpeg opens through one of its protocols (``rtsp://cam/stream``)."""
    return isinstance(src, str) and _URL.match(src) is not None
