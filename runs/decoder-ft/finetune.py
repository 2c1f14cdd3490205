"""Fine-tune the synthesis transform on the latents the decoder really gets (keyframes and deltas).

    python runs/decoder-ft/finetune.py TRAIN.npz VAL.npz OUT_DIR [--steps N] [--lr LR] [--minutes M]

The model was trained on rounded analysis latents; a delta's latent is the motion-compensated
previous latent plus dead-zone residuals, with skipped channels left stale. Only the synthesis
changes (analysis, gains and tables are vaegan-g's, so the encoder's symbols and the bitstream stay
the same). Loss: the model's training distortion (SSIM + L1, saliency-weighted, floor 0.3) of the
colour-corrected picture, each sample weighted by sqrt(lambda[level]) (normalised). Adam, gradient
clipping at 1, the best validation checkpoint kept (OUT_DIR/synthesis.safetensors).
"""
import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from vidcodec.models.vaegan import Synthesis
from vidcodec.models.zoo import find
from vidcodec.train.losses import distortion, psnr
from vidcodec.train.saliency import weight_map

LAMBDAS = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0])


def load(path):
    d = np.load(path)
    return {k: torch.from_numpy(np.asarray(d[k])) for k in d.files}


def batch(d, idx):
    y = d["latent"][idx].float()
    x = d["pixels"][idx].permute(0, 3, 1, 2).float()[:, :, MARGIN:-MARGIN, MARGIN:-MARGIN] / 255.0
    return y, x, d["level"][idx], d["matrix"][idx], d["offset"][idx]


MARGIN = 32  # pixels (2 latent pixels) at each side of a crop left out of the loss: the synthesis of a
# latent cut out of a frame differs there from that of the whole frame (its zero padding)


def forward(syn, y, m, o):
    x_hat = syn(y)[:, :, MARGIN:-MARGIN, MARGIN:-MARGIN]
    return torch.einsum("bij,bjhw->bihw", m, x_hat) + o[:, :, None, None]


@torch.no_grad()
def evaluate(syn, d, bs=64):
    n = len(d["level"])
    dist, ps = torch.zeros(n), torch.zeros(n)
    for s in range(0, n, bs):
        idx = torch.arange(s, min(s + bs, n))
        y, x, _lev, m, o = batch(d, idx)
        xh = forward(syn, y, m, o)
        dist[idx] = distortion(x, xh, "ssim+l1", 0.4, weight_map(x, 0.3))
        ps[idx] = psnr(x, xh.clamp(0, 1))
    w = torch.from_numpy(np.sqrt(LAMBDAS))[d["level"]].float()
    out = {"loss": float((w * dist).sum() / w.sum())}
    for lv in range(8):
        sel = d["level"] == lv
        if sel.any():
            out[f"psnr{lv + 1}"] = round(float(ps[sel].mean()), 3)
    for name, sel in (("key", d["key"]), ("delta", ~d["key"])):
        out[f"psnr_{name}"] = round(float(ps[sel].mean()), 3)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("train")
    p.add_argument("val")
    p.add_argument("out", type=Path)
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--minutes", type=float, default=60)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--val-every", type=int, default=300)
    p.add_argument("--model", default="vaegan-g")
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    info = find(a.model)
    w = load_file(str(info.weights))
    c = info.meta["config"]
    syn = Synthesis(c["dec_channels"], c["latent_channels"], c["dec_last_channels"])
    syn.load_state_dict({k[10:]: torch.from_numpy(v) for k, v in w.items() if k.startswith("synthesis.")})
    tr, va = load(a.train), load(a.val)
    a.out.mkdir(parents=True, exist_ok=True)
    opt = torch.optim.Adam(syn.parameters(), lr=a.lr)
    wl = torch.from_numpy(np.sqrt(LAMBDAS)).float()
    best = evaluate(syn, va)
    print("step 0", json.dumps(best), flush=True)
    log = [{"step": 0, **best}]
    n, t0, step = len(tr["level"]), time.time(), 0
    while step < a.steps and time.time() - t0 < a.minutes * 60:
        step += 1
        idx = torch.randint(0, n, (a.batch,))
        y, x, lev, m, o = batch(tr, idx)
        xh = forward(syn, y, m, o)
        d = distortion(x, xh, "ssim+l1", 0.4, weight_map(x, 0.3))
        loss = (wl[lev] * d).sum() / wl[lev].sum()
        if not math.isfinite(loss.item()):
            print("non-finite loss, skipped", flush=True)
            opt.zero_grad()
            continue
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(syn.parameters(), 1.0)
        opt.step()
        if step % a.val_every == 0:
            r = evaluate(syn, va)
            r["step"], r["min"] = step, round((time.time() - t0) / 60, 1)
            log.append(r)
            if r["loss"] < best["loss"]:
                best = r
                save_file({f"synthesis.{k}": v.detach().numpy().copy() for k, v in syn.state_dict().items()},
                          str(a.out / "synthesis.safetensors"))
            print(json.dumps(r), "best" if r is best else "", flush=True)
            (a.out / "log.json").write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
