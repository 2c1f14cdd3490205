"""How the encoder pads a frame whose size is not a multiple of 16 before the analysis (2026-12-04;
encoder only: the decoder crops whatever the padding synthesizes). Measured, edge padding kept.

    python runs/encoder-tuning/padding.py FRAMES DWxDH MODE,MODE... CLIP[:SKIP]...

Each clip is cut DW columns narrower and DH rows shorter (so that it needs padding), coded at every
level with each padding of `vaegan.to_tensor` (edge: the shipped one; reflect; grey: constant 128;
blur: edge padding with the padded band replaced by a Gaussian blur, sigma 4, of the edge-padded
frame), and the BD-rate of each against the first printed. 30 frames, cut by 8x8 (2026-12-04):

    bikes 632x264     reflect +0.33 / +0.01 %   grey +12.55 / +4.08 %   blur -0.24 / -1.50 %
    diver 632x472     reflect -0.04 / +0.67 %   grey  +9.96 / +1.68 %   blur -0.46 / -0.11 %
    Megamind 712x520  reflect +0.26 / +0.64 %   grey +15.09 / +2.57 %   blur +0.42 / +0.20 %

(PSNR / MS-SSIM.) A flat band costs 10-15 % (the synthesis must make an edge the picture does not
have); reflect and blur are within a percent of edge either way: edge stays.
"""

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from vidcodec.codec import vaegan
from vidcodec.evaluate import rd


def make_to_tensor(mode):
    def to_tensor(rgb, multiple=16):
        h, w = rgb.shape[:2]
        pw, ph = vaegan.padded_size(w, h, multiple)
        if (ph, pw) != (h, w):
            if mode == "grey":
                rgb = np.pad(rgb, ((0, ph - h), (0, pw - w), (0, 0)), mode="constant", constant_values=128)
            elif mode == "blur":
                e = np.pad(rgb, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
                b = cv2.GaussianBlur(e, (0, 0), 4)
                e[h:] = b[h:]; e[:, w:] = b[:, w:]
                rgb = e
            else:
                rgb = np.pad(rgb, ((0, ph - h), (0, pw - w), (0, 0)), mode=mode)
        return (rgb.transpose(2, 0, 1)[None].astype(np.float32)) * np.float32(1.0 / 255.0)
    return to_tensor

ORIGINAL = vaegan.to_tensor
modes = sys.argv[3].split(",")
frames_n = int(sys.argv[1]); dw, dh = (int(v) for v in sys.argv[2].split("x"))
for spec in sys.argv[4:]:
    clip, _, skip = spec.partition(":")
    ref, rate = rd.read_frames(Path(clip), frames_n, int(skip or 0))
    ref = [np.ascontiguousarray(f[:f.shape[0] - dh, :f.shape[1] - dw]) for f in ref]
    curves = {}
    for mode in modes:
        # every vidcodec module that took vaegan.to_tensor by name (api, bench, vaegan itself)
        users = [mod for name, mod in list(sys.modules.items())
                 if name.startswith("vidcodec") and getattr(mod, "to_tensor", None) is ORIGINAL]
        for mod in users:
            mod.to_tensor = make_to_tensor(mode)
        with tempfile.TemporaryDirectory() as d:
            curves[mode] = list(rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9)))
        for mod in users:
            mod.to_tensor = ORIGINAL
    base = curves[modes[0]]
    for mode in modes[1:]:
        c = curves[mode]
        ps = rd.bd_rate([(p.bpp, p.psnr) for p in base], [(p.bpp, p.psnr) for p in c])
        ms = rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in base], [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in c])
        print(f"{Path(clip).name} {ref[0].shape[1]}x{ref[0].shape[0]} {mode} vs {modes[0]}: PSNR / MS-SSIM BD-rate {ps:+.2f} / {ms:+.2f} %", flush=True)
