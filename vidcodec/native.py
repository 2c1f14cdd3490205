"""The C++ core, ``vidcodec._native`` (Elias coders, delta-frame encoder kernels, the prefilter's
mean), imported once with an error that says how to build it.

In a source checkout (an editable install: ``src/`` beside the package) the core must have been
built from the sources there now: a ``git pull`` that changes them leaves the old build in place, and
a function it lacks would fail mid-command. The build records the digest of its sources
(``SOURCES_SHA256``, CMakeLists.txt) and the import compares it with ``src/`` as it is."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import BuildError

REPO = Path(__file__).resolve().parents[1]


def sources_sha256(src: Path) -> str:
    """The digest CMakeLists.txt computes: a line ``NAME SHA256`` for the CMakeLists.txt beside ``src``
    (when there is one), then for each ``*.cpp`` and ``*.hpp`` file of ``src`` in name order (not those
    whose name starts with a dot: an editor's lock or backup files), and the SHA-256 of those lines."""
    files = sorted((p for p in src.iterdir() if p.suffix in (".cpp", ".hpp") and not p.name.startswith(".")
                    and p.is_file()), key=lambda p: p.name)
    build = src.parent / "CMakeLists.txt"
    lines = "".join(f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                    for p in ([build] if build.is_file() else []) + files)
    return hashlib.sha256(lines.encode()).hexdigest()


def _source_tree() -> Path | None:
    """The checkout's ``src/`` when this package is a source tree's ``vidcodec/`` (None when installed)."""
    src = REPO / "src"
    return src if (REPO / "CMakeLists.txt").is_file() and (src / "module.cpp").is_file() else None


try:
    from . import _native as core
except ImportError as e:  # pragma: no cover - depends on how the package was installed
    hidden = ""
    if _source_tree() is not None:
        hidden = (f". If you installed it with `pip install .` and run Python from the repository, its folder "
                  f"{REPO / 'vidcodec'} (which has no built core) hides the installed package: run from "
                  "another folder, or install with `pip install -e .`")
    raise BuildError(
        "vidcodec._native (the C++ core) is not built: install the package with `pip install -e .` "
        f"(or `pip install .`) from the repository root{hidden}"
    ) from e


def check_sources(built: str | None, src: Path | None) -> None:
    """BuildError when a checkout's core (its recorded digest ``built``; None: built before builds
    recorded one) was built from other sources than ``src`` (None: an installed package) holds."""
    if src is not None and built != sources_sha256(src):
        why = ("by an earlier version of the build, which did not record its sources" if built is None else
               f"from other sources than {src} holds now (a git pull or an edit since the last build)")
        raise BuildError(f"vidcodec's C++ core was built {why}: build it again with `pip install -e .` from the "
                         "repository root")


check_sources(getattr(core, "SOURCES_SHA256", None), _source_tree())

__all__ = ["check_sources", "core", "sources_sha256"]
