"""Training checkpoints as safetensors (never pickle) plus a JSON sidecar.

A checkpoint kept in the repository as a run's resume point can be compacted (``python -m
vidcodec.train.checkpoint compact PATH...``): its optimizer moments are stored in bfloat16, half their
bytes, the weights untouched. :func:`load` reads either kind, giving the moments their parameter's
dtype back; a run resumed from a compacted checkpoint goes on with moments rounded to bfloat16's 8
significant bits (Adam's moments are running averages of noisy gradients: 0.4 % of relative error).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import UsageError, first_line
from ..models.vaegan import VAEGAN, VAEGANConfig
from ..outputs import usual_mode


def _atomic_write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def metadata_in_order(path: Path, metadata: dict[str, str]) -> None:
    """Put the ``__metadata__`` entries of the safetensors file at ``path`` in ``metadata``'s order.
    safetensors (0.8) writes them in a hash map's order, which varies from run to run, so a file
    with two entries (a GAN generator's "name" and "kind") got one of two hashes, and streams name
    their model by its file's hash. Only the entries' order changes, never their bytes' count."""
    with open(path, "r+b") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = f.read(size)
        found = json.loads(header).get("__metadata__") or {}
        if found != metadata:
            raise ValueError(f"{path}'s metadata {found} is not {metadata}")
        if list(found) == list(metadata):
            return
        was, want = (json.dumps(m, separators=(",", ":"), ensure_ascii=False).encode() for m in (found, metadata))
        at = header.find(b'"__metadata__":' + was)
        if at < 0 or header.count(was) != 1:
            raise ValueError(f"{path}'s metadata is not where safetensors writes it")
        f.seek(8 + at + len(b'"__metadata__":'))
        f.write(want)


def atomic_save_file(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` to ``path`` through a temporary file beside it, with the usual file
    permissions (:func:`vidcodec.outputs.usual_mode`)."""
    tmp = path.with_suffix(".tmp")
    try:
        save_file(tensors, str(tmp))
    except SafetensorError as e:  # safetensors' own error for what is an OSError (a full disk): said as one
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write {path}: {first_line(e)}") from None
    usual_mode(tmp)
    os.replace(tmp, path)


def save(path: Path, model: torch.nn.Module, meta: dict, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Write ``path`` (.safetensors: weights, and optimizer moments if given) and ``path``.json (meta)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if optimizer is not None:
        names = {id(p): n for n, p in model.named_parameters()}
        for group in optimizer.param_groups:
            for p in group["params"]:
                for key, value in optimizer.state.get(p, {}).items():
                    tensors[f"optim.{names[id(p)]}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        meta = {**meta, "lr": optimizer.param_groups[0]["lr"]}
    atomic_save_file(path, tensors)
    _atomic_write_json(path.with_suffix(".json"), meta)


def training_meta(path: Path, flag: str = "") -> dict:
    """The JSON sidecar of a ``vidcodec train`` checkpoint (given as ``flag``, e.g. ``--init``), or a
    UsageError that says what ``path`` is instead and what to give."""
    given = f"{flag} {path}" if flag else str(path)
    want = ("give a checkpoint of a `vidcodec train` run: its best.safetensors or last.safetensors, with the .json "
            "of the same name beside it")
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.safetensors") if p.with_suffix(".json").exists())
        raise UsageError(f"{given} is a folder: {want}" + (f" (it holds {', '.join(found)})" if found else ""))
    if not path.exists():
        raise UsageError(f"{given} does not exist: {want}")
    sidecar = path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise UsageError(f"{given} has no {sidecar.name} beside it: {want}") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{given}: {sidecar} cannot be read ({e}): {want}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict) or "step" not in meta:
        if isinstance(meta, dict) and "sha256" in meta:
            what = ("a packaged model (what encode and decode load), which keeps no entropy model to train on "
                    "(docs/MODELS.md names the run checkpoint each shipped model was packaged from)")
        elif isinstance(meta, dict) and ("scales" in meta or meta.get("kind") == "pgan"):
            what = "a GAN-mode (train-gan) checkpoint"
        else:
            what = "not a training checkpoint"
        raise UsageError(f"{given} is {what}: {want}")
    return meta


def load_vaegan(path: Path, flag: str = "") -> tuple[VAEGAN, dict]:
    """The VAE-GAN a ``vidcodec train`` checkpoint holds, built as its .json describes it, and that
    .json; a UsageError (given as ``flag``, e.g. ``--init``) for anything else or a damaged file."""
    meta = training_meta(path, flag)
    given = f"{flag} {path}" if flag else str(path)
    try:
        model = VAEGAN(VAEGANConfig.from_dict(meta["config"]))
    except (TypeError, KeyError, ValueError) as e:  # another version's or another kind of run's settings
        raise UsageError(f"{given} is not a VAE-GAN checkpoint this version can read ({e}): give a `vidcodec train` "
                         "run's best.safetensors or last.safetensors") from None
    try:
        load(path, model)
    except (RuntimeError, SafetensorError, OSError) as e:  # damaged, or weights of another shape than its config
        raise UsageError(f"{given} cannot be read as the model its .json describes "
                         f"({first_line(e, 200)})") from None
    return model, meta


def damaged_resume(what: str | Path, e: BaseException, out: Path) -> UsageError:
    """The error for a run's resume point (``what``: its checkpoint or .json) that cannot be read."""
    return UsageError(f"{what} cannot be read ({first_line(e)}): the resume point is damaged; restore the run "
                      f"folder from a copy, or start a new run in another --out (with --init "
                      f"{out / 'best.safetensors'} if that one reads)")


def load(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict:
    """Restore weights (and optimizer moments when present) from ``save``'s files; return the meta."""
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if optimizer is not None:
        params = dict(model.named_parameters())
        fused = any(group.get("fused") for group in optimizer.param_groups)
        for key, value in tensors.items():
            if key.startswith("optim."):
                name, field = key[6:].rsplit(".", 1)
                p = params[name]
                # Moments live beside their parameter, in its memory format (a CPU checkpoint resumes on
                # a GPU; fused Adam refuses moments whose strides differ from a channels-last
                # parameter's); Adam keeps its step count on the CPU, fused Adam beside the parameter
                # (as float32).
                if field != "step":
                    value = torch.empty_like(p).copy_(value)
                elif fused:
                    value = value.to(p.device, torch.float32)
                optimizer.state[p][field] = value
    return json.loads(path.with_suffix(".json").read_text())


COMPACT_FIELDS = ("exp_avg", "exp_avg_sq")  # Adam's moments; the step count stays as it is


def compact(path: Path) -> tuple[int, int]:
    """Rewrite ``path``'s optimizer moments in bfloat16 (in place, atomically); the weights and the JSON
    sidecar are untouched. Returns the file's bytes before and after."""
    tensors = load_file(str(path))
    before = path.stat().st_size
    for key, value in tensors.items():
        if key.startswith("optim.") and key.rsplit(".", 1)[1] in COMPACT_FIELDS and value.is_floating_point():
            tensors[key] = value.to(torch.bfloat16)
    atomic_save_file(path, tensors)
    return before, path.stat().st_size


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vidcodec.train.checkpoint",
                                description="Tools for training checkpoints.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compact", help="store a checkpoint's optimizer moments in bfloat16 (half their bytes), "
                                       "e.g. a resume point committed to the repository")
    c.add_argument("paths", type=Path, nargs="+", metavar="PATH", help=".safetensors checkpoints written by training")
    a = p.parse_args(argv)
    for path in a.paths:
        before, after = compact(path)
        print(f"{path}: {before} -> {after} bytes")


if __name__ == "__main__":
    main()
