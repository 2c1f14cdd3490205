"""Instance adaptation of the synthesis: how much would a per-stream update of the decoder buy?
(experiment; nothing in the codec uses it)

    python runs/instance/fit.py CLIP START FRAMES QUALITY FIT SUBSET [--steps N] [--lr LR]

SUBSET may also be net.I[,J...]: the parameters of those layers of ``Synthesis.net`` (net.0 is the
first transposed convolution). ``--qsteps S...``: the update quantized with step S (absolute), its
order-0 entropy in bytes (32 bits of header per tensor) and the scores with it.
FRAMES frames of CLIP from START are coded by the shipped encoder at QUALITY and decoded back to the
latents a decoder gets. The first FIT of them fit SUBSET of the synthesis's parameters (bias: the
convolutions' biases; gdn: the GDN beta/gamma; last: the last layer; all) to the source by MSE;
PSNR / MS-SSIM are printed for the fitted frames and for the frames after them, before and after, and
after the update is quantized to 8 bits per parameter (one float scale per tensor).
"""
import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from pytorch_msssim import ms_ssim
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "decoder-ft"))
from collect import segment

from vidcodec import api
from vidcodec.models.vaegan import Synthesis
from vidcodec.models.zoo import find


def frames_of(clip, start, n, q):
    with tempfile.TemporaryDirectory() as tmp:
        y4m = Path(tmp) / "seg.y4m"
        src = segment(clip, start, n, y4m)
        gvc = Path(tmp) / "seg.gvc"
        api.encode(str(y4m), gvc, quality=q, overwrite=True, audio=False)
        size = gvc.stat().st_size
        out = []
        with contextlib.ExitStack() as stack:
            _, _m, pending, _ = api.open_pending(stack, gvc)
            for p in pending:
                if not isinstance(p, api._Pending):
                    continue
                if p.colour is None:
                    mm, oo = np.eye(3, dtype=np.float32), np.zeros(3, np.float32)
                else:
                    mm, oo = (a.astype(np.float32) for a in p.colour.affine(1.0))
                out.append((p.latent[0].astype(np.float32), mm, oo, p.key))
    x = torch.from_numpy(np.stack(src)).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.stack([o[0] for o in out]))
    m = torch.from_numpy(np.stack([o[1] for o in out]))
    o = torch.from_numpy(np.stack([o[2] for o in out]))
    return x, y, m, o, size


def render(syn, y, m, o, h, w):
    xh = syn(y)[:, :, :h, :w]
    return torch.einsum("bij,bjhw->bihw", m, xh) + o[:, :, None, None]


@torch.no_grad()
def score(syn, x, y, m, o):
    ps, ms = [], []
    for i in range(0, len(x), 4):
        xh = render(syn, y[i:i + 4], m[i:i + 4], o[i:i + 4], x.shape[2], x.shape[3]).clamp(0, 1)
        xh = torch.round(xh * 255) / 255
        mse = ((xh - x[i:i + 4]) ** 2).mean(dim=(1, 2, 3))
        ps += (10 * torch.log10(1 / mse)).tolist()
        ms += [float(ms_ssim(xh[j:j + 1], x[i + j:i + j + 1], data_range=1.0)) for j in range(len(xh))]
    return np.array(ps), np.array(ms)


def subset(syn, name):
    out = []
    for k, p in syn.named_parameters():
        last = k.startswith(f"net.{len(syn.net) - 1}.")
        if name.startswith("net.") and any(k.startswith(f"net.{i}.") for i in name[4:].split(",")):
            out.append((k, p))
            continue
        if name == "all" or (name == "bias" and k.endswith("bias") and "net" in k and p.dim() == 1
                             and not ("beta" in k or "gamma" in k)) \
                or (name == "gdn" and ("beta" in k or "gamma" in k)) or (name == "last" and last):
            out.append((k, p))
    return out


def main():
    a = argparse.ArgumentParser()
    for n in ("clip", "start", "frames", "quality", "fit", "subset"):
        a.add_argument(n)
    a.add_argument("--steps", type=int, default=150)
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--qsteps", type=float, nargs="*", default=[])
    a = a.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    info = find("vaegan-g")
    w = load_file(str(info.weights))
    c = info.meta["config"]
    syn = Synthesis(c["dec_channels"], c["latent_channels"], c["dec_last_channels"])
    syn.load_state_dict({k[10:]: torch.from_numpy(v) for k, v in w.items() if k.startswith("synthesis.")})
    x, y, m, o, size = frames_of(a.clip, int(a.start), int(a.frames), int(a.quality))
    K = int(a.fit)
    base = score(syn, x, y, m, o)
    params = subset(syn, a.subset)
    for p in syn.parameters():
        p.requires_grad_(False)
    for _, p in params:
        p.requires_grad_(True)
    init = {k: p.detach().clone() for k, p in params}
    npar = sum(p.numel() for _, p in params)
    opt = torch.optim.Adam([p for _, p in params], lr=a.lr)
    t0 = time.time()
    H, W = x.shape[2], x.shape[3]
    for step in range(a.steps):
        idx = torch.randint(0, K, (2,))
        xh = render(syn, y[idx], m[idx], o[idx], H, W)
        loss = ((xh - x[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    fitted = score(syn, x, y, m, o)
    with torch.no_grad():
        for k, p in params:
            d = p - init[k]
            s = d.abs().max() / 127 if d.abs().max() > 0 else 1.0
            p.copy_(init[k] + torch.round(d / s) * s)
    quant = score(syn, x, y, m, o)
    fit_d = {k: (p.detach() - init[k]) for k, p in params}
    for step_size in a.qsteps:
        bits, nz = 0.0, 0
        with torch.no_grad():
            for k, p in params:
                q = torch.round(fit_d[k] / step_size)
                p.copy_(init[k] + q * step_size)
                _, cnt = torch.unique(q, return_counts=True)
                pr = cnt.double() / cnt.sum()
                bits += float(-(cnt * torch.log2(pr)).sum()) + 32
                nz += int((q != 0).sum())
        r = score(syn, x, y, m, o)
        later = (f"; later PSNR {r[0][K:].mean():.3f} MS-SSIM {r[1][K:].mean():.5f}" if K < len(x) else "")
        print(f"  step {step_size:g}: {bits / 8:.0f} bytes (order-0), {nz} non-zero; fitted PSNR "
              f"{r[0][:K].mean():.3f} MS-SSIM {r[1][:K].mean():.5f}{later}")
    print(f"{Path(a.clip).name} q{a.quality} {a.subset}: {npar} parameters ({npar} bytes at 8 bits; stream "
          f"{size} bytes), {a.steps} steps in {time.time() - t0:.0f} s")
    for name, sel in (("fitted frames", slice(0, K)), ("later frames", slice(K, None))):
        if len(x[sel]) == 0:
            continue
        print(f"  {name:13s} PSNR {base[0][sel].mean():.3f} -> {fitted[0][sel].mean():.3f} "
              f"(8-bit {quant[0][sel].mean():.3f}) dB; MS-SSIM {base[1][sel].mean():.5f} -> "
              f"{fitted[1][sel].mean():.5f} ({quant[1][sel].mean():.5f})")


if __name__ == "__main__":
    main()
