"""Where outputs can go: checked before long work starts, not when its results are written."""

from __future__ import annotations

import tempfile
from pathlib import Path


def writable_folder(folder: str | Path) -> Path | None:
    """The folder, or the nearest existing one above it, if a file can be made there (tried: the
    permission bits do not tell, e.g. /sys as root); else None."""
    path = Path(folder).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    try:
        with tempfile.TemporaryFile(dir=existing):
            return existing
    except OSError:
        return None
