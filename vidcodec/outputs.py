"""Where outputs can go: checked before long work starts, not when its results are written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def flush(out: object) -> None:
    """Flush a file object if it buffers (one with write() alone writes as it is called)."""
    method = getattr(out, "flush", None)
    if callable(method):
        method()


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


def _umask() -> int:
    """The process's umask, read without changing it (Linux's /proc; else the usual 022)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def usual_mode(path: str | Path) -> None:
    """Give a file another library made private (safetensors writes 0600) the permissions of a
    file made the usual way (0666 less the umask), so that weights and checkpoints can be shared."""
    os.chmod(path, 0o666 & ~_umask())
