"""Quality of the same stream's latents through vaegan-g's synthesis and a fine-tuned one.

    python runs/decoder-ft/same_symbols.py SYNTHESIS.safetensors SOURCE STREAM.gvc...

Same symbols, so the same bytes: the difference in PSNR / MS-SSIM is all the synthesis's.
"""
import contextlib
import sys

import av
import numpy as np
import torch
from safetensors.numpy import load_file

from vidcodec import api
from vidcodec.evaluate import metrics
from vidcodec.models.vaegan import Synthesis

torch.set_num_threads(2)
new = load_file(sys.argv[1])
src = sys.argv[2]
with av.open(src) as c:
    orig = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
for gvc in sys.argv[3:]:
    rows = []
    with contextlib.ExitStack() as stack:
        _, m, pending, _ = api.open_pending(stack, gvc)
        base = m.synthesis
        c = m.config
        tuned = Synthesis(c.dec_channels, c.latent_channels, c.dec_last_channels).eval()
        tuned.load_state_dict({k[10:]: torch.from_numpy(v) for k, v in new.items()})
        i = 0
        for p in pending:
            if not isinstance(p, api._Pending):
                continue
            h, w = orig[i].shape[:2]
            out = []
            for syn in (base, tuned):
                with torch.inference_mode():
                    x = syn(torch.from_numpy(p.latent).float())[0, :, :h, :w].clamp(0, 1).numpy()
                if p.colour is not None:
                    x = p.colour.apply(x)
                out.append(np.rint(x.transpose(1, 2, 0) * 255).clip(0, 255).astype(np.uint8))
            rows.append([metrics.psnr(orig[i], o) for o in out] + [metrics.ms_ssim_rgb(orig[i], o) for o in out]
                        + [p.key])
            i += 1
    r = np.array(rows, dtype=float)
    k = r[:, 4] > 0
    print(gvc, "frames", len(r), f"PSNR {r[:, 0].mean():.3f} -> {r[:, 1].mean():.3f} (keys {(r[k, 1] - r[k, 0]).mean():+.3f}, deltas {(r[~k, 1] - r[~k, 0]).mean():+.3f})  MS-SSIM {r[:, 2].mean():.5f} -> {r[:, 3].mean():.5f}", flush=True)
