"""Build the data pack for training on a lent GPU machine (run here, carry the result).

The GPU machine has no PyAV and a call carries at most 64 MiB (working tree and pack together), so
the training pool is written as still images: every photo as the loader sees it (at most 1600 px
on its long side), and the same 120 frames per training video that ``vidcodec train`` sampled until
2026-12-07 (below),
bigbuckbunny (720p, 132 frames) thinned to every second frame (``train_gpu.py`` uses each of those
twice). The held-out clips (bikes, vtest, diver) are left out as in every run.

    python runs/vaegan-g/gpu/make_pack.py data .gpu/data                       # vaegan-g's pack: JPEG 90, 43 MB
    python runs/vaegan-g/gpu/make_pack.py data .gpu/data --format webp         # WebP 90, 28 MB
    python runs/vaegan-g/gpu/make_pack.py data .gpu/data --format webp --quality 85   # 21 MB
    python runs/vaegan-g/gpu/make_pack.py data .gpu/data --format webp --quality 70   # 13 MB (session.sh, 2026-12-04)

The JPEG pack is the one vaegan-g was trained from, rebuilt byte for byte. The working tree grew
past what leaves room for it, so later sessions carry the WebP pack (same images, same quality
setting, about two thirds of the bytes).
"""

import argparse
from pathlib import Path

import cv2

from vidcodec.train.config import DEFAULT_EXCLUDE
from vidcodec.train.data import IMAGE_EXTS, VIDEO_EXTS, expand_sources, load_image, video_stream


def sample_video_frames(path: Path, count: int) -> list:
    """The frames vaegan-g's runs trained on (and vaegan-w goes on from): every ⌊total/count⌋-th frame
    up to ``count``, as ``vidcodec train`` sampled until 2026-12-07 (it now spreads them over the whole
    clip, docs/MODELS.md); kept here so that the pack stays the one those runs saw."""
    import av

    with av.open(str(path)) as container:
        stream = video_stream(container, path)
        total = stream.frames or 0
        if total <= 0:  # unknown: count by decoding once
            total = sum(1 for _ in container.decode(stream))
            container.seek(0)
        step = max(1, total // count)
        frames = []
        for i, frame in enumerate(container.decode(stream)):
            if i % step == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= count:
                break
    return frames


p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("src", type=Path, help="the fetched corpus (its photos/ and videos/)")
p.add_argument("out", type=Path)
p.add_argument("--format", choices=["jpg", "webp"], default="jpg")
p.add_argument("--quality", type=int, default=90)
a = p.parse_args()
flag = cv2.IMWRITE_JPEG_QUALITY if a.format == "jpg" else cv2.IMWRITE_WEBP_QUALITY
params = [flag, a.quality]
(a.out / "photos").mkdir(parents=True, exist_ok=True)
(a.out / "videos").mkdir(parents=True, exist_ok=True)
for f in expand_sources([a.src / "photos", a.src / "videos"]):
    if f.name in DEFAULT_EXCLUDE:
        continue
    if f.suffix.lower() in IMAGE_EXTS:
        cv2.imwrite(str(a.out / "photos" / f"{f.stem}.{a.format}"), cv2.cvtColor(load_image(f), cv2.COLOR_RGB2BGR),
                    params)
    elif f.suffix.lower() in VIDEO_EXTS:
        (a.out / "videos" / f.name).touch()  # a placeholder: train_gpu.py reads the frames below
        d = a.out / "frames" / f.name
        d.mkdir(parents=True, exist_ok=True)
        keep = 2 if f.name == "bigbuckbunny.mp4" else 1
        for i, frame in enumerate(sample_video_frames(f, 120)):
            if i % keep == 0:
                cv2.imwrite(str(d / f"{i:04d}.{a.format}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
