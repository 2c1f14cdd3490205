"""The working tree must stay small enough to travel to a lent GPU machine with its data pack.

A device call carries the working tree (tracked files) and its carried paths, 64 MiB in all; the
prepared GPU session (runs/device-call.sh) carries the training data pack and a wheel, and takes the
folders named in runs/device-slim.sh out of the tree first. On 2026-12-07 the tree had grown past
that limit unnoticed; this test fails the commit that makes the prepared call impossible.
"""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MIB = 64
# runs/vaegan-g/gpu/make_pack.py data .gpu/data --format webp --quality 70 (13.3 MB on 2026-12-07) and
# constriction's wheel (0.4 MB), with a margin for the checkpoints a GPU run brings back (runs/README.md)
CARRIED_MIB = 13.7
MARGIN_MIB = 2.0


def _tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.decode().split("\0") if p]


def _slimmed() -> list[str]:
    script = ROOT / "runs" / "device-slim.sh"
    if not script.exists():  # a source distribution (no runs/), unpacked inside another checkout
        pytest.skip("no runs/device-slim.sh: not this project's checkout")
    text = script.read_text()
    m = re.search(r'^SLIM="([^"]*)"', text, re.MULTILINE)
    assert m, "runs/device-slim.sh names the folders it takes out in a SLIM=\"...\" line"
    return m.group(1).split()


def test_tree_with_the_gpu_pack_fits_a_device_call():
    tracked = _tracked()  # a source distribution (no git, no runs/) skips here
    slim = _slimmed()
    assert slim
    sizes = {p: (ROOT / p).stat().st_size for p in tracked if (ROOT / p).is_file() and not (ROOT / p).is_symlink()}
    kept = sum(s for p, s in sizes.items() if not any(p == d or p.startswith(d + "/") for d in slim))
    mib = kept / 2**20 + CARRIED_MIB
    assert mib <= LIMIT_MIB - MARGIN_MIB, (
        f"the tree without {' '.join(slim)} is {kept / 2**20:.1f} MiB: with the GPU data pack and wheel "
        f"({CARRIED_MIB} MiB) {mib:.1f} MiB, over the {LIMIT_MIB} MiB a device call carries less a {MARGIN_MIB} "
        f"MiB margin; take more out in runs/device-slim.sh or keep large files out of the tree")
    # the slimmed folders are documentation only: nothing the device call runs lives there
    assert all(d.startswith("docs/") for d in slim)
