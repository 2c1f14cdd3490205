"""Bring a device call's training run back into its run folder, as the next resume point.

    python runs/vaegan-g/gpu/bring_back.py FILES_AT/run.tgz runs/vaegan-w [--log FILES_AT/train.log runs/vaegan-w.gpu1.log]

Copies the resume point and the run's records out of run.tgz (last and disc checkpoints, log.csv,
val.csv, ranks.json, curves.png, disc.json; last.toml the first time, for a run that had only a
config.toml), rewrites last.json's (and a new last.toml's) ``out`` and data paths from the device's to
RUN and data/, and stores the Adam moments in bfloat16 (``vidcodec.train.checkpoint compact``). best.* stay
behind: the run's best is in its val.csv, and a trial is packaged from last. Then commit (the
checkpoints are git-ignored: `git add -f RUN/*.safetensors`), package a trial and compare it
(runs/vaegan-g/gpu/session.sh's header).

Checked on 2026-12-04: run on the second call's run.tgz in a clone at 597c4ad, it rewrote
runs/vaegan-g byte for byte as commit f65de55 has it (done by hand then).
"""

import argparse
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from vidcodec.train import checkpoint

RECORDS = ("last.safetensors", "disc.safetensors", "log.csv", "val.csv", "ranks.json", "curves.png", "disc.json")
FIRST_TIME = ("last.toml",)  # a run that had only its config.toml before its first call


def bring_back(tgz: Path, run: Path) -> list[str]:
    """Copy ``tgz``'s resume point into ``run``; return the files written."""
    written = []
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(tgz) as tar:
        tar.extractall(tmp, filter="data")
        src = Path(tmp)
        for name in RECORDS + FIRST_TIME:
            if (src / name).exists() and (name in RECORDS or not (run / name).exists()):
                shutil.copyfile(src / name, run / name)
                written.append(name)
        meta = json.loads((src / "last.json").read_text())
    meta["train"]["out"] = str(run)
    meta["train"]["data"] = [p.replace(".gpu/data", "data") for p in meta["train"]["data"]]
    (run / "last.json").write_text(json.dumps(meta, indent=2) + "\n")
    written.append("last.json")
    if "last.toml" in written:  # the device's, brought back the first time
        toml = (run / "last.toml").read_text().splitlines()
        toml = [f'out = "{run}"' if line.startswith("out = ") else
                line.replace(".gpu/data", "data") if line.startswith("data = ") else line for line in toml]
        (run / "last.toml").write_text("\n".join(toml) + "\n")
    for name in ("last.safetensors", "disc.safetensors"):
        if (run / name).exists():
            checkpoint.compact(run / name)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tgz", type=Path)
    ap.add_argument("run", type=Path)
    ap.add_argument("--log", nargs=2, type=Path, metavar=("TRAIN_LOG", "DEST"), help="copy the call's train.log too")
    a = ap.parse_args()
    written = bring_back(a.tgz, a.run)
    if a.log:
        shutil.copyfile(*a.log)
        written.append(str(a.log[1]))
    meta = json.loads((a.run / "last.json").read_text())
    best = "none yet" if meta.get("best_val") is None else f"{meta['best_val']:.4f}"  # null: not validated yet
    print(f"{a.run}: step {meta['step']}, best validation {best}; wrote {', '.join(written)}")


if __name__ == "__main__":
    main()
