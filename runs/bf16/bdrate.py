"""What bfloat16 transforms cost in rate-distortion (experiment).

    python runs/bf16/bdrate.py FRAMES CLIP...

Arm fp32: the shipped encoder and decoder (ONNX Runtime, float32). Arm bf16: the analysis run by
torch/oneDNN in bfloat16 (weights and activations; channels-last), everything else unchanged, so the
encoder's symbols differ only through the analysis's rounding. Every level, FRAMES frames, gop 250;
prints BD-rate (PSNR / MS-SSIM) of bf16 against fp32 and the latent's relative RMS error. Then the
synthesis in bfloat16 decoding the float32 arm's streams: mean PSNR / MS-SSIM over the levels.
CONTROL=1 in the environment runs the same torch modules in float32 instead: what float rounding
alone (torch's against ONNX Runtime's, both float32) does to the encoder's choices, the noise floor
of the comparison.

Measured (2026-12-04, 2-core AMD EPYC VM with AVX512-BF16, tcmalloc, shipped vaegan-g, 20 frames,
``python runs/bf16/bdrate.py 20 samples/bikes.mp4 samples/vtest.mp4 data/videos/diver.mov``):
bf16 analysis against float32, PSNR / MS-SSIM BD-rate: bikes +0.86 / +0.28 %, vtest +0.07 / +0.04 %,
diver -0.02 / +0.31 %; OpenCV's tree.avi (unseen) -0.13 / -0.27 %, carphone (a training clip)
+1.10 / +0.89 %; the latent's relative RMS error 0.6-0.9 %. bf16 synthesis of the float32
streams: bikes 33.660 -> 33.645 dB (MS-SSIM 0.94256 -> 0.94230), vtest 26.655 -> 26.651, diver
29.545 -> 29.540, tree 23.554 -> 23.553, carphone 23.812 -> 23.807 (means over the 8 levels). Control (CONTROL=1, bikes and vtest): 0.00 / 0.00 %,
latent error under 0.00005, the same pictures: the encoder's choices do not move with float32
rounding, so the bf16 numbers are bf16's. Which layers matter (analysis on 6 frames of bikes, one
layer in bfloat16 at a time): each adds 0.1-0.4 % of latent error and flips 0.004-0.025 % of
the symbols at quality 5 (0.044 % all together); none dominates.
"""
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from vidcodec.evaluate import rd
from vidcodec.models import zoo

torch.set_num_threads(1)
DTYPE = torch.float32 if os.environ.get("CONTROL") else torch.bfloat16  # CONTROL=1: torch in float32
model = zoo.load("vaegan-g")
an = model.analysis
sy = model.synthesis
an_b = type(an)(model.config.enc_channels, model.config.latent_channels)
an_b.load_state_dict(an.state_dict())
an_b = an_b.to(DTYPE).to(memory_format=torch.channels_last).eval()
c = model.config
sy_b = type(sy)(c.dec_channels, c.latent_channels, c.dec_last_channels)
sy_b.load_state_dict(sy.state_dict())
sy_b = sy_b.to(DTYPE).to(memory_format=torch.channels_last).eval()
errs = []
orig = zoo.CodecModel.analyze


def analyze_bf16(self, x):
    with torch.inference_mode():
        t = torch.from_numpy(x).to(DTYPE).contiguous(memory_format=torch.channels_last)
        y = an_b(t).float().contiguous().numpy()
    if len(errs) < 50:
        ref = orig(self, x)
        errs.append(float(np.sqrt(((ref - y) ** 2).mean() / (ref ** 2).mean())))
    return y


orig_syn = zoo.CodecModel.synthesize


def synthesize_bf16(self, y):
    with torch.inference_mode():
        t = torch.from_numpy(y).to(DTYPE).contiguous(memory_format=torch.channels_last)
        out = sy_b(t).float().contiguous().numpy()
    return np.clip(out, 0.0, 1.0, out=out)


n = int(sys.argv[1])
for clip in sys.argv[2:]:
    ref, rate = rd.read_frames(Path(clip), n)
    curves = {}
    for mode in ("fp32", "bf16", "bf16 synthesis"):
        zoo.CodecModel.analyze = analyze_bf16 if mode == "bf16" else orig
        zoo.CodecModel.synthesize = synthesize_bf16 if mode == "bf16 synthesis" else orig_syn
        with tempfile.TemporaryDirectory() as d:
            curves[mode] = list(rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9)))
    zoo.CodecModel.analyze, zoo.CodecModel.synthesize = orig, orig_syn
    psnr = rd.bd_rate([(p.bpp, p.psnr) for p in curves["fp32"]], [(p.bpp, p.psnr) for p in curves["bf16"]])
    ms = rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves["fp32"]],
                    [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves["bf16"]])
    print(Path(clip).name, f"bf16 analysis against fp32, PSNR / MS-SSIM BD-rate: {psnr:+.2f} / {ms:+.2f} %; "
          f"latent relative RMS error {np.median(errs):.4f}", flush=True)
    errs.clear()
    a, b = curves["fp32"], curves["bf16 synthesis"]
    print(f"  bf16 synthesis, same streams: PSNR {np.mean([p.psnr for p in a]):.4f} -> "
          f"{np.mean([p.psnr for p in b]):.4f} dB, MS-SSIM {np.mean([p.ms_ssim for p in a]):.6f} -> "
          f"{np.mean([p.ms_ssim for p in b]):.6f} (mean over levels)", flush=True)
