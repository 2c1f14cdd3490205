"""Checkpoints compared as image codecs on held-out photo crops (no video coding): per level the bits
of the rounded latent under the level's density, PSNR and MS-SSIM of its synthesis; then the BD-rate
(PSNR / MS-SSIM in dB) of each later checkpoint against the first.

    python runs/vaegan-m/photo_bd.py REF.safetensors CKPT.safetensors...

Crops: 16 of 384² from every 12th corpus photo (the training runs' held-out ones), seed 777. A
checkpoint's `.json` beside it is read (an empty `{}` will do). Measured 2026-12-03 against
vaegan-g's shipped weights (`git show 3f5a7fc:runs/vaegan-g/best.safetensors`): vaegan-g's CPU
continuation at step 32700 +0.25 / +0.43 %; vaegan-m at step 33300 (lr 5e-5) +10.9 / -5.9 %, 36000
+10.8 / -10.5 %, 44000 (lr 2e-5 from 40000; the shipped vaegan-m) +5.1 / -12.6 %.
"""
import sys
import tomllib
from pathlib import Path

import numpy as np
import torch

from vidcodec.evaluate.bdrate import bd_rate, ms_ssim_db
from vidcodec.evaluate.metrics import ms_ssim_rgb, psnr
from vidcodec.models.layers import stacked_likelihood
from vidcodec.models.vaegan import VAEGAN
from vidcodec.train import checkpoint
from vidcodec.train.config import TrainConfig
from vidcodec.train.data import CropSampler, load_pool
from vidcodec.train.vaegan import model_config

torch.set_num_threads(2)
cfg = TrainConfig(**tomllib.loads(Path("runs/vaegan-g/last.toml").read_text()))
photos, _, _ = load_pool([Path(p) for p in cfg.data], set(cfg.exclude), cfg.frames_per_video)
x = torch.from_numpy(CropSampler(photos[::12], [], 384, seed=777).batch(16))
src = (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
curves = {}
for ck in sys.argv[1:]:
    model = VAEGAN(model_config(cfg))
    checkpoint.load(Path(ck), model)
    model.eval()
    points = []
    with torch.no_grad():
        for level in range(model.config.levels):
            levels = torch.full((len(x),), level)
            k = model.config.channels(level)
            symbols = torch.round(model.analysis(x) * model.gain(levels))
            symbols[:, k:] = 0
            lik = stacked_likelihood(model.densities, symbols, levels)[:, :k]
            bpp = float(-torch.log2(lik).sum() / (len(x) * x.shape[2] * x.shape[3]))
            out = model.synthesis(symbols / model.gain(levels)).clamp(0, 1)
            dec = (out.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
            points.append((bpp, np.mean([psnr(a, b) for a, b in zip(src, dec)]),
                           np.mean([ms_ssim_rgb(a, b) for a, b in zip(src, dec)])))
    curves[ck] = points
    print(ck, " ".join(f"{b:.3f}/{p:.2f}/{s:.4f}" for b, p, s in points), flush=True)
ref = curves[sys.argv[1]]
for ck in sys.argv[2:]:
    t = curves[ck]
    bd_psnr = bd_rate([(b, p) for b, p, _ in ref], [(b, p) for b, p, _ in t])
    bd_ms = bd_rate([(b, ms_ssim_db(s)) for b, _, s in ref], [(b, ms_ssim_db(s)) for b, _, s in t])
    print(ck, "BD-rate against", sys.argv[1], f"PSNR {bd_psnr:+.2f} %, MS-SSIM {bd_ms:+.2f} %")
