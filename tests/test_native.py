"""The C++ core's build check: a checkout's core records the digest of the sources it was built from,
and an import against other sources says to build again (instead of failing later on a function the
old build lacks)."""

from __future__ import annotations

import shutil

import pytest

from vidcodec import native
from vidcodec.errors import BuildError, VidcodecError


def test_the_core_of_this_checkout_was_built_from_its_sources():
    src = native._source_tree()
    if src is None:
        pytest.skip("an installed package: no src/ beside it")
    assert native.core.SOURCES_SHA256 == native.sources_sha256(src)
    native.check_sources(native.core.SOURCES_SHA256, src)


def test_changed_sources_ask_for_a_build(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(native.REPO / "src", src) if (native.REPO / "src").is_dir() else src.mkdir()
    (src / "module.cpp").write_text("// a\n")
    built = native.sources_sha256(src)
    native.check_sources(built, src)
    native.check_sources(None, None)  # an installed package: nothing to compare
    (src / "module.cpp").write_text("// b\n")  # a git pull
    with pytest.raises(BuildError, match=r"built from other sources .* `pip install -e \.`"):
        native.check_sources(built, src)
    (src / "module.cpp").write_text("// a\n")
    native.check_sources(built, src)
    (src / "new.hpp").write_text("\n")  # a new header counts too
    with pytest.raises(BuildError):
        native.check_sources(built, src)
    with pytest.raises(BuildError):  # a build from before builds recorded their sources
        native.check_sources(None, src)
    assert issubclass(BuildError, VidcodecError) and issubclass(BuildError, ImportError)


def test_other_files_do_not_count_but_the_build_file_does(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.cpp").write_text("int a;\n")
    before = native.sources_sha256(src)
    (src / "notes.txt").write_text("x")
    (src / "a.cpp.orig").write_text("x")
    (src / ".#a.cpp").symlink_to("user@host.1:1")  # an editor's lock file: a dangling link
    (src / ".a.cpp.swp").write_text("x")
    assert native.sources_sha256(src) == before
    (tmp_path / "CMakeLists.txt").write_text("project(x)\n")  # the build's flags count
    assert native.sources_sha256(src) != before


def test_a_build_from_before_the_check_is_named_so(tmp_path):
    (tmp_path / "a.cpp").write_text("int a;\n")
    with pytest.raises(BuildError, match="built by an earlier version of the build, which did not record"):
        native.check_sources(None, tmp_path)
