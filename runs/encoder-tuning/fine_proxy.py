"""Can the fine-delta decision (FrameEncoder._fine_or_whole: two syntheses a weighed delta) be made
without the two pictures? Dumps every decision of the default encoder, then scores cheaper stand-ins
against the pictures' own choice.

    python runs/encoder-tuning/fine_proxy.py dump FRAMES OUT CLIP...   # one .npz per decision
    python runs/encoder-tuning/fine_proxy.py score OUT                 # the table below
    python runs/encoder-tuning/fine_proxy.py repeats OUT               # reusing earlier decisions

For each decision m = max((E_fine - E_whole) / E_whole + rate) over E = squared error and 1 - SSIM
(FINE_KAPPA's rate term): the pictures keep fine where m < 0. A stand-in computes its own m; "agree"
is the share of decisions it takes the same way, "lost" the |m| of the ones it gets wrong over the
summed -m of the fine ones taken (what the pictures gain).

Measured 2026-12-05 (session 41), vaegan-i at its default level, the first 100 frames of bikes, diver,
Megamind, carphone, balle-jbart (unseen), tree, motion.mov: 395 decisions, 105 fine.
    features after synthesis layer 2 / 4 / 6 against the unquantized latent's: agree 51 / 77 / 77 %, lost 263 / 83 / 82 %
    latent squared error, plain / weighted by the synthesis's Jacobian Gram matrix: agree 45 / 51 %
    the full pictures against the unquantized latent's picture instead of the frame: agree 94 %, lost 6.5 % (no cheaper)
    every other / every third band of 16 rows of the pictures: agree 89 / 86 %, lost 18 / 25 %
None is both cheap and close: the choice depends on the synthesis's nonlinearity and on the frame.
Reusing earlier decisions instead (`repeats`, the same dump): the last decision while the last K
(2-4) agree, for the next 1 or 2 deltas, lost 0-105 % of a clip's gain, most on Megamind, carphone,
balle-jbart and tree, whose fine deltas are isolated; a whole decision reused for the next delta
when its margin exceeded 0.02 / 0.04 / 0.08 weighed 33 / 22 / 7 % fewer deltas and lost 18 / 9 / 0 %
of the gain (summed over the clips).
(The encoder's states differ between the two choices on 40-100 % of latent positions, so a
synthesis of the differing tiles alone saves little either.)
"""
import glob
import os
import sys
import tempfile

import numpy as np


def dump(frames: int, out: str, clips: list[str]) -> None:
    from vidcodec.codec import vaegan

    os.makedirs(out, exist_ok=True)
    count = [0]
    clip_name = [""]

    def fine_or_whole(self, ys, x, fine, whole):
        def bits(c):
            return c[2][0] + 8 * len(c[4]) + 8

        g = self.model.gains[self.level]
        lat = {k: vaegan.state_latent(c[0] + c[1] * self.unit, self.unit, g) for k, c in (("f", fine), ("w", whole))}
        (mw, sw), (mf, sf) = (vaegan.picture_errors(self.model.synthesize(lat[k]), x) for k in ("w", "f"))
        rate = self.fine_kappa * (bits(fine) - bits(whole)) / max(self._gop_bits / self._since_key, bits(whole))
        take = (mf - mw) / mw + rate < -self.fine_margin and (sf - sw) / sw + rate < -self.fine_margin
        np.savez(f"{out}/{count[0]:05d}.npz", lf=lat["f"].astype(np.float16), lw=lat["w"].astype(np.float16),
                 ly=(ys / g[:, None, None])[None].astype(np.float16), x=np.rint(x * 255).astype(np.uint8),
                 rate=rate, mw=mw, sw=sw, mf=mf, sf=sf, clip=clip_name[0])
        count[0] += 1
        return fine if take else whole

    vaegan.FrameEncoder._fine_or_whole = fine_or_whole
    encode_each(clips, frames, clip_name, count)


def encode_each(clips: list[str], frames: int, clip_name: list[str], count: list[int]) -> None:
    """Encode the first ``frames`` of each clip with the defaults (to a file thrown away), naming the
    clip in ``clip_name[0]`` meanwhile and printing the decisions dumped so far after each."""
    from vidcodec import api

    for clip in clips:
        clip_name[0] = os.path.basename(clip)
        with tempfile.TemporaryDirectory() as tmp:
            api.encode(clip, tmp + "/o.gvc", max_frames=frames, overwrite=True)
        print(clip, count[0], flush=True)


def score(out: str) -> None:
    import torch
    from torch.func import jvp

    from vidcodec.codec.vaegan import picture_errors
    from vidcodec.models import zoo

    net = zoo.load(zoo.DEFAULT_MODEL, backend="torch").synthesis.float().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    files = sorted(glob.glob(f"{out}/*.npz"))
    # The synthesis's Jacobian Gram matrix (C x C) at one latent position, averaged over positions.
    rng = np.random.default_rng(0)
    gram, n = None, 0
    for f in files[::8]:
        ly = torch.from_numpy(np.load(f)["lw"].astype(np.float32))
        c, h, w = ly.shape[1:]
        tangent = torch.zeros(c, c, 9, 9)
        tangent[torch.arange(c), torch.arange(c), 4, 4] = 1
        for _ in range(2):
            i, j = rng.integers(4, h - 4), rng.integers(4, w - 4)
            patch = ly[:, :, i - 4:i + 5, j - 4:j + 5].expand(c, -1, -1, -1).contiguous()
            jac = jvp(net, (patch,), (tangent,))[1].reshape(c, -1).double()
            gram = jac @ jac.T if gram is None else gram + jac @ jac.T
            n += 1
    gram = (gram / n).float().numpy()
    rows: dict[str, list[float]] = {k: [] for k in ("m", "f2", "f4", "f6", "lat", "gram", "py", "b2", "b3")}
    for f in files:
        d = np.load(f)
        rate = float(d["rate"])
        rows["m"].append(max(float(d["mf"] - d["mw"]) / float(d["mw"]), float(d["sf"] - d["sw"]) / float(d["sw"])) + rate)
        lat = {k: torch.from_numpy(d[k].astype(np.float32)) for k in ("lf", "lw", "ly")}
        feats = {}
        with torch.inference_mode():
            for k, v in lat.items():
                feats[k] = []
                for i, layer in enumerate(net.net):
                    v = layer(v)
                    if i in (1, 3, 5):
                        feats[k].append(v)
                feats[k].append(v + 0.5)
        for j, key in enumerate(("f2", "f4", "f6")):
            ef, ew = (float(((feats[k][j] - feats["ly"][j]) ** 2).mean()) for k in ("lf", "lw"))
            rows[key].append((ef - ew) / ew + rate)
        dl = {k: (lat[k] - lat["ly"])[0].reshape(lat["ly"].shape[1], -1).numpy() for k in ("lf", "lw")}
        ef, ew = (float((v * v).sum()) for v in dl.values())
        rows["lat"].append((ef - ew) / ew + rate)
        ef, ew = (float(np.einsum("cp,cd,dp->", v, gram, v)) for v in dl.values())
        rows["gram"].append((ef - ew) / ew + rate)
        pf, pw, py = (feats[k][3].numpy() for k in ("lf", "lw", "ly"))
        x = d["x"].astype(np.float32) / 255
        (a, b), (c2, e) = picture_errors(pf, py), picture_errors(pw, py)
        rows["py"].append(max((a - c2) / c2, (b - e) / e) + rate)
        height, lh = x.shape[2], lat["lf"].shape[2]
        for key, step in (("b2", 2), ("b3", 3)):
            sel = np.concatenate([np.arange(i * 16, min(i * 16 + 16, height)) for i in range(0, lh, step)])
            (a, b), (c2, e) = picture_errors(pf[:, :, sel], x[:, :, sel]), picture_errors(pw[:, :, sel], x[:, :, sel])
            rows[key].append(max((a - c2) / c2, (b - e) / e) + rate)
    m = np.array(rows.pop("m"))
    take = m < 0
    gain = -m[take].sum()
    print(f"{len(m)} decisions, {take.sum()} fine")
    for key, values in rows.items():
        wrong = (np.array(values) < 0) != take
        print(f"{key:5s} agree {1 - wrong.mean():.1%} lost {np.abs(m[wrong]).sum() / gain:.1%}")


def repeats(out: str) -> None:
    import itertools

    decisions = []
    for f in sorted(glob.glob(f"{out}/*.npz")):
        d = np.load(f)
        m = max(float(d["mf"] - d["mw"]) / float(d["mw"]), float(d["sf"] - d["sw"]) / float(d["sw"])) + float(d["rate"])
        decisions.append((str(d["clip"]), m))
    for clip, group in itertools.groupby(decisions, key=lambda d: d[0]):
        m = np.array([g[1] for g in group])
        gain = -m[m < 0].sum() or 1.0
        rows = []
        for k, skip in ((2, 1), (2, 2), (3, 1), (3, 2), (4, 1), (4, 2)):
            weighed, lost, history, left = 0, 0.0, [], 0
            for value in m:
                if left > 0 and len(history) >= k and len(set(history[-k:])) == 1:
                    left -= 1
                    lost += abs(value) if history[-1] != (value < 0) else 0.0
                else:
                    weighed += 1
                    history.append(value < 0)
                    left = skip
            rows.append(f"K={k} next {skip}: {weighed}/{len(m)} weighed, lost {lost / gain:.0%}")
        for limit in (0.02, 0.04, 0.08):
            weighed, lost, last, reused = 0, 0.0, None, False
            for value in m:
                if last is not None and last > limit and not reused:
                    lost += -value if value < 0 else 0.0
                    reused = True
                else:
                    weighed, last, reused = weighed + 1, value, False
            rows.append(f"margin>{limit}: {weighed}/{len(m)} weighed, lost {lost / gain:.0%}")
        print(clip, "; ".join(rows))


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == "repeats":
        repeats(sys.argv[2])
    else:
        score(sys.argv[2])
