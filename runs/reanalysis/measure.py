"""Pixel-domain prediction, re-analysed: what a delta would cost if its prediction were the analysis
transform of the previous *decoded picture* moved by the frame's global (sub-pixel) motion, instead
of the previous latent moved in the latent domain.

Why: the analysis is not shift-stable below its stride of 16, so a pan of a quarter pixel a frame
changes most latent values, and no latent-domain predictor (whole, sixteenth-pel learned, bilinear)
follows it (runs/subpel/README.md: a pixel a frame costs a delta 10-20 times what 16 pixels cost;
cityCC0, a 0.25 px pan, is +430 % PSNR BD-rate against x264 medium). Moving the *picture* by a
fraction of a pixel is easy (x264 does it), and the analysis of the moved picture is what the
analysis of the new frame would be, where the scene only moved.

Candidates (the encoder keeps whichever weighs least, per delta; simulated, no format):
- ``re``: prediction = analysis(warp(decoded previous picture)), in sixteenths of a symbol;
- ``rediff``: prediction = previous state + analysis(warp(P)) - analysis(P) (only the change the
  move makes to the analysis; P's own analysis error is not added);
the shipped encoder's candidates (no motion, bilinear, learned, fine) stay. The global motion is
found by phase correlation of the two *source* frames (the encoder has them) and sent in eighths of a
pixel: 4 bytes counted for it when a re-analysed candidate wins.

The decoder would run an analysis (two for ``rediff``) for such deltas and must get the same
prediction as the encoder: a float network's output on two machines is not bit-identical, so a
format would need either an integer (fixed-point) analysis for this path or accept drift until the
next keyframe. This script measures whether the idea is worth that.

    python runs/reanalysis/measure.py FRAMES MODE CLIP[:SKIP]...     (MODE: re, rediff or both)

Per clip: PSNR / MS-SSIM BD-rate against the shipped encoder (both given the source frames, so the
fine choice is live), every level, one keyframe, and how often the re-analysed candidate won.
"""
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vidcodec.codec import vaegan
from vidcodec.codec.vaegan import FrameEncoder, state_latent, to_rgb, to_tensor
from vidcodec.evaluate import bdrate, metrics, rd
from vidcodec.models import zoo

m = zoo.load(zoo.DEFAULT_MODEL)
VECTOR_BYTES = 4


def luma(x: np.ndarray) -> np.ndarray:
    """(1,3,H,W) float32 -> (H,W) float32 luma."""
    return (0.299 * x[0, 0] + 0.587 * x[0, 1] + 0.114 * x[0, 2]).astype(np.float32)


def global_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(dx, dy) with b(x, y) ~ a(x - dx, y - dy), in eighths of a pixel."""
    win = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, win)
    return round(dx * 8) / 8, round(dy * 8) / 8


def warp(x: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Picture (1,3,H,W) moved by (dx, dy), edges replicated, bicubic."""
    hwc = np.ascontiguousarray(x[0].transpose(1, 2, 0))
    mat = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    out = cv2.warpAffine(hwc, mat, (hwc.shape[1], hwc.shape[0]), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out, 0, 1).transpose(2, 0, 1)[None].astype(np.float32)


class Reanalyse(FrameEncoder):
    modes: tuple[str, ...] = ("re",)

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self._src = None
        self._cands: dict[int, str] = {}
        self.wins = {"re": 0, "rediff": 0, "other": 0}
        self.shifts = []

    def encode_latent(self, y, x=None):
        self._cands = {}
        self._first_winner = None
        if self._prev is not None and self._since_key < self.gop and x is not None and self._src is not None:
            dx, dy = global_shift(luma(self._src), luma(x))
            self.shifts.append((dx, dy))
            gains = self.model.gains[self.level]
            picture = self.model.synthesize(state_latent(self._prev, self.unit, gains))[:, :, :x.shape[2], :x.shape[3]]
            moved = warp(picture, dx, dy)
            k = self.channels
            for mode in self.modes:
                if mode == "re":
                    ys = self._scaled(self.model.analyze(moved)[0], self.level)
                    pred = np.rint(ys * self.unit).astype(np.int64)
                else:
                    a1 = self._scaled(self.model.analyze(moved)[0], self.level)
                    a0 = self._scaled(self.model.analyze(picture)[0], self.level)
                    pred = self._prev + np.rint((a1 - a0) * self.unit).astype(np.int64)
                pred[k:] = 0
                self._cands[id(pred)] = (mode, pred)
        self._src = x
        coded = super().encode_latent(y, x)
        if coded.kind == vaegan.DELTA:
            mode = self._cands.get(id(self._first_winner), ("other",))[0] if self._first_winner is not None else "other"
            if self._fine_taken:
                mode = "other"
            self.wins[mode] += 1
            if mode != "other":
                coded = vaegan.EncodedFrame(coded.kind, coded.payload + b"\0" * VECTOR_BYTES, coded.level, coded.flags)
        return coded

    def _encode_latent(self, y, x):
        self._first_winner, self._fine_taken = None, False
        return super()._encode_latent(y, x)

    def _candidate(self, ys, pred, block, vectors):
        got = super()._candidate(ys, pred, block, vectors)
        if block == 0 and vectors == b"" and self._cands:
            for _mode, p in self._cands.values():
                alt = super()._candidate(ys, p, 0, b"\0" * VECTOR_BYTES)
                alt = (alt[0], alt[1], alt[2], alt[3], 0, b"")  # the vector counted in encode_latent
                if alt[0] < got[0]:
                    got = alt
        return got

    def _rdoq_winner(self, ys, pred, *rest):
        if self._first_winner is None:
            self._first_winner = pred
        return super()._rdoq_winner(ys, pred, *rest)

    def _fine_or_whole(self, ys, x, fine, whole):
        got = super()._fine_or_whole(ys, x, fine, whole)
        self._fine_taken = got is fine
        return got


def curve(make, ref, xs, ys):
    points, encs = [], []
    for level in range(m.levels):
        enc = make(level)
        size, psnr, msssim = 0, [], []
        for frame, x, y in zip(ref, xs, ys):
            size += len(enc.encode_latent(y, x).payload)
            out = to_rgb(m.synthesize(state_latent(enc._prev, enc.unit, m.gains[enc.level])), frame.shape[1],
                         frame.shape[0])
            psnr.append(metrics.psnr(frame, out))
            msssim.append(metrics.ms_ssim_rgb(frame, out))
        bpp = 8 * size / (len(ref) * ref[0].shape[0] * ref[0].shape[1])
        points.append((bpp, float(np.mean(psnr)), float(np.mean(msssim))))
        encs.append(enc)
    return points, encs


if __name__ == "__main__":
    frames, mode = int(sys.argv[1]), sys.argv[2]
    Reanalyse.modes = ("re", "rediff") if mode == "both" else (mode,)
    for spec in sys.argv[3:]:
        t = time.time()
        clip, _, skip = spec.partition(":")
        ref, _ = rd.read_frames(Path(clip), frames, int(skip or 0))
        xs = [to_tensor(f, m.downscale) for f in ref]
        ys = [m.analyze(x)[0] for x in xs]
        name = f"{Path(clip).name}:{skip or 0}"

        def shipped(level):
            return FrameEncoder(m, level, gop=10**6, predictor=m.subpel)

        def test(level):
            return Reanalyse(m, level, gop=10**6, predictor=m.subpel)

        base, _ = curve(shipped, ref, xs, ys)
        got, encs = curve(test, ref, xs, ys)
        p = bdrate.bd_rate([(b, q) for b, q, _ in base], [(b, q) for b, q, _ in got])
        s = bdrate.bd_rate([(b, bdrate.ms_ssim_db(q)) for b, _, q in base],
                           [(b, bdrate.ms_ssim_db(q)) for b, _, q in got])
        print(f"{name} {frames} frames, {mode}: PSNR / MS-SSIM BD-rate {p:+.2f} / {s:+.2f} % "
              f"({time.time() - t:.0f} s); shifts {encs[0].shifts[:6]}...", flush=True)
        for (b0, p0, s0), (b1, p1, s1), e in zip(base, got, encs):
            print(f"   {b0:.4f} bpp {p0:.2f} dB {s0:.4f} -> {b1:.4f} bpp {p1:.2f} dB {s1:.4f}  wins {e.wins}",
                  flush=True)
