"""Collect (decoded latent crop, source pixel crop, colour correction) triples from real encodes.

    python runs/decoder-ft/collect.py OUT.npz FRAMES LEVELS CLIP[:START]...

Each clip segment (FRAMES frames from START) is written losslessly to a temporary y4m, encoded with
the shipped encoder (default settings, ``--quality L`` for each L of LEVELS, e.g. ``2,3,4,5,6,7``)
and decoded back to the latents the synthesis sees (``api.open_pending``): keyframes and deltas alike,
exactly what a decoder gets. From every frame CROPS random windows of W x W latent pixels are kept
(fully inside the picture) with their 16W x 16W source pixels, the frame's level and the colour
correction in force (3x3 matrix and offset, [0, 1] scale; identity when none).
"""
import contextlib
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from vidcodec import api

W = 8
CROPS = 4


def segment(path: str, start: int, n: int, out: Path) -> list[np.ndarray]:
    frames = []
    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i < start:
                continue
            if len(frames) == n:
                break
            frames.append(f.to_ndarray(format="rgb24"))
    h, w = frames[0].shape[:2]
    h, w = h - h % 2, w - w % 2
    frames = [f[:h, :w] for f in frames]
    with av.open(str(out), "w", format="yuv4mpegpipe") as o:
        s = o.add_stream("rawvideo", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv444p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv444p")):
                o.mux(p)
        for p in s.encode():
            o.mux(p)
    # the target: what the encoder itself reads from the y4m
    with av.open(str(out)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def main() -> None:
    out, n, levels, clips = sys.argv[1], int(sys.argv[2]), [int(v) for v in sys.argv[3].split(",")], sys.argv[4:]
    rng = np.random.default_rng(0)
    lat, pix, lev, mats, offs, key = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in clips:
            path, _, start = spec.partition(":")
            y4m = Path(tmp) / "seg.y4m"
            src = segment(path, int(start or 0), n, y4m)
            H, W_ = src[0].shape[:2]
            for q in levels:
                gvc = Path(tmp) / "seg.gvc"
                api.encode(str(y4m), gvc, quality=q, overwrite=True, audio=False)
                with contextlib.ExitStack() as stack:
                    _, _m, pending, _ = api.open_pending(stack, gvc)
                    i = 0
                    for p in pending:
                        if not isinstance(p, api._Pending):
                            continue
                        y = p.latent[0]
                        if p.colour is None:
                            mm, oo = np.eye(3, dtype=np.float32), np.zeros(3, np.float32)
                        else:
                            mm, oo = (a.astype(np.float32) for a in p.colour.affine(1.0))
                        hh, ww = H // 16, W_ // 16
                        for _ in range(CROPS):
                            r, c = rng.integers(0, hh - W + 1), rng.integers(0, ww - W + 1)
                            lat.append(y[:, r:r + W, c:c + W].astype(np.float32))
                            pix.append(src[i][16 * r:16 * (r + W), 16 * c:16 * (c + W)])
                            lev.append(q - 1)
                            mats.append(mm)
                            offs.append(oo)
                            key.append(p.key)
                        i += 1
                print(spec, q, i, "frames", flush=True)
    np.savez(out, latent=np.stack(lat).astype(np.float16), pixels=np.stack(pix), level=np.array(lev),
             matrix=np.stack(mats), offset=np.stack(offs), key=np.array(key))


if __name__ == "__main__":
    main()
