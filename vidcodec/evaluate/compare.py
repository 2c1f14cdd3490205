"""Compare installed models on the same clips: RD points, BD-rates against the first model, and a
side-by-side crop for the eye (used for the ablations in docs/MODELS.md).

    python -m vidcodec.evaluate.compare --models vaegan-n vaegan-n-no-adv --clips CLIP... \\
        --frames 30 --out docs/ablation

With ``--refine N`` it compares one model's encoder with and without ``--refine N`` (latent
refinement): BD-rates of the refined streams against the plain ones, and the encode time of each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .. import api
from ..codec import DEFAULT_GOP
from ..errors import UsageError, VidcodecError
from ..models import zoo
from ..outputs import write_file
from .bdrate import bd_rate, ms_ssim_db
from .rd import RDPoint, check_clips, evaluate_clip, format_table, read_frames, vidcodec_points, write_csv


def compare(models: list[str], clips: list[Path], frames: int, gop: int = DEFAULT_GOP,
            qualities: list[int] | None = None, refine: int = 0) -> tuple[list[RDPoint], list[dict]]:
    """Every model on every clip (vidcodec with ``gop``); BD-rates of each model against ``models[0]``.

    With ``refine`` > 0, ``models`` must name one model: it is run without and with ``refine``
    steps (labels ``MODEL`` and ``MODEL refine=N``), and each row also gives both encode times.
    """
    points: list[RDPoint] = []
    seconds: dict[tuple[str, str], list[float]] = {}
    if refine:
        if len(models) != 1:
            raise UsageError("--refine compares one model with itself: give one --models name")
        variants = [(models[0], models[0], 0), (f"{models[0]} refine={refine}", models[0], refine)]
        models = [v[0] for v in variants]
        for clip in clips:
            ref, rate = read_frames(clip, frames)
            with tempfile.TemporaryDirectory(prefix="vidcodec-compare-") as d:
                for label, m, steps in variants:
                    secs = seconds.setdefault((clip.name, label), [])
                    for p in vidcodec_points(clip, ref, rate, gop, Path(d), qualities or api.quality_range(m), m,
                                             refine=steps, seconds=secs):
                        p.codec = label
                        points.append(p)
                    secs[:] = [s / len(ref) for s in secs]
    else:
        for clip in clips:
            for m in models:
                for p in evaluate_clip(clip, frames, gop, codecs=["vidcodec"], model=m, qualities=qualities):
                    p.codec = m
                    points.append(p)
    rows = []
    for clip in [c.name for c in clips]:
        ref = [p for p in points if p.clip == clip and p.codec == models[0]]
        for m in models[1:]:
            mine = [p for p in points if p.clip == clip and p.codec == m]
            rows.append({
                "clip": clip, "model": m, "against": models[0],
                "bd_rate_psnr": bd_rate([(p.bpp, p.psnr) for p in ref], [(p.bpp, p.psnr) for p in mine]),
                "bd_rate_ms_ssim": bd_rate([(p.bpp, ms_ssim_db(p.ms_ssim)) for p in ref],
                                           [(p.bpp, ms_ssim_db(p.ms_ssim)) for p in mine]),
            })
            if seconds:
                base, this = seconds[(clip, models[0])], seconds[(clip, m)]
                rows[-1].update({"encode_s_per_frame": float(np.median(this)),
                                 "reference_s_per_frame": float(np.median(base)),
                                 "encode_time_ratio": float(np.median(this) / np.median(base))})
    return points, rows


def side_by_side(models: list[str], clip: Path, frame: int, quality: int, box: tuple[int, int, int, int],
                 out: Path) -> Path:
    """PNG: the original crop, then each model's intra decode of the same crop, labelled with bpp and PSNR."""
    import tempfile

    ref, rate = read_frames(clip, frame + 1)
    x, y, w, h = box
    tiles = [_label(ref[frame][y : y + h, x : x + w], "original")]
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "f.y4m"
        from .rd import write_y4m_clip

        write_y4m_clip([ref[frame]], rate, src)
        for m in models:
            q = min(quality, zoo.load(m).levels)
            s = api.encode(src, Path(d) / "f.gvc", model=m, quality=q, gop=1, overwrite=True)
            dec = next(iter(api.frames(Path(d) / "f.gvc"))).rgb
            mse = np.mean((dec.astype(float) - ref[frame].astype(float)) ** 2)
            tiles.append(_label(dec[y : y + h, x : x + w], f"{m} q{q}: {s.bpp:.3f} bpp {10 * np.log10(255**2 / mse):.1f} dB"))
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(tiles, axis=1), cv2.COLOR_RGB2BGR))
    return out


def _label(img: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((22, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], axis=0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m vidcodec.evaluate.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", required=True, help="installed model names; the first is the reference")
    p.add_argument("--clips", nargs="+", required=True, type=Path)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--gop", type=int, default=DEFAULT_GOP)
    p.add_argument("--qualities", nargs="+", type=int)
    p.add_argument("--crop", nargs=4, type=int, metavar=("X", "Y", "W", "H"), default=[0, 0, 256, 256],
                   help="crop of the first clip's frame --crop-frame shown side by side")
    p.add_argument("--crop-frame", type=int, default=0)
    p.add_argument("--crop-quality", type=int, default=3)
    p.add_argument("--out", type=Path, required=True, help="folder for points.json, bdrate.csv, crop.png")
    p.add_argument("--refine", type=int, default=0, metavar="N",
                   help="compare the one model of --models with and without --refine N")
    a = p.parse_args(argv)
    try:  # a clip or model that is not there: one line and exit 2, as vidcodec's commands say it
        check_clips(a.clips)
        for name in a.models:
            zoo.load(name)
    except VidcodecError as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    a.out.mkdir(parents=True, exist_ok=True)
    points, rows = compare(a.models, a.clips, a.frames, a.gop, a.qualities, a.refine)
    write_file(a.out / "points.json", json.dumps([p.as_dict() for p in points], indent=1) + "\n")
    write_csv(rows, a.out / "bdrate.csv")
    print(format_table([{k: v for k, v in p.as_dict().items() if k in ("clip", "codec", "setting", "bpp", "psnr",
                                                                       "ms_ssim")} for p in points]))
    print()
    print(format_table(rows))
    if not a.refine:
        side_by_side(a.models, a.clips[0], a.crop_frame, a.crop_quality, tuple(a.crop), a.out / "crop.png")


if __name__ == "__main__":
    main()
