"""Network inputs by URL (``rtsp://camera/stream``): what counts as one, without importing PyAV (the
command line checks its arguments with it before the codec's libraries load)."""

from __future__ import annotations

import re

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")  # rtsp://, udp://, http://...: FFmpeg's protocols


def is_url(src: object) -> bool:
    """Whether ``src`` is a URL FFmpeg opens through one of its protocols (``rtsp://cam/stream``)."""
    return isinstance(src, str) and _URL.match(src) is not None


def missing_file_hint(name: object) -> str:
    """What to add to "cannot open NAME: No such file" for a .gvc input: a tcp:// or udp:// URL short of
    its slashes (tcp:/host:5000, udp:host:5000) is named as the URL it was meant to be."""
    typo = re.match(r"(?i)(tcp|udp):/?(?!/)", str(name))
    if typo is not None and "://" not in str(name):
        return f"; did you mean {typo.group(1).lower()}://{str(name)[typo.end():]}?"
    return "; give a .gvc file"
