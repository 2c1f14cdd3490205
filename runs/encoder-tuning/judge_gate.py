"""Can the fine-delta judge (FrameEncoder._fine_or_whole, two pictures a weighed delta) be skipped where its
answer is foreseeable? Dumps every decision of the default encoder with what is known before the pictures
(the rate term, the candidates' latent costs, how much of the state differs), then scores two gates.

    python runs/encoder-tuning/judge_gate.py dump FRAMES OUT.json CLIP...   # the decisions, as JSON rows
    python runs/encoder-tuning/judge_gate.py score TRAIN.json TEST.json     # the two gates' tables

"lost": the |m| of the fine decisions a gate skips over the summed -m of the fine ones taken (m as in
fine_proxy.py). Measured 2026-12-07 (session 60) on the AMD EPYC VM, vaegan-i at its default level, the
first 120 frames at 640x360: train carphone, motion.mov, wannaworktogether, movie-hello, Big Buck Bunny,
diver, bikes, vtest (484 decisions, 150 fine); test Megamind, cockatoo, balle-jbart, cityCC0, tree (424, 71).
    whole when the latent cost's relative gain lg > -t: t 0.005 / 0.01 / 0.02 / 0.03: skips 12 / 19 / 35 / 47 %
    (train) and 7 / 15 / 37 / 56 % (test), losing 1.7 / 2.2 / 8.3 / 10.8 % and 0.0 / 4.8 / 7.5 / 15.3 %
    back-off after `start` whole decisions in a row (skip min(cap, grow^(streak-start)) deltas): judged
    53-71 % (train) and 34-63 % (test), losing 8-25 % and 19-42 %
Neither saves the CPU a 2-core CPU without AMX needs for 20 fps without most of the gain: `--preset auto`
is fast there instead (vidcodec.codec.resolve_preset).
"""
import json
import os
import sys
import tempfile
import threading

import numpy as np


def dump(frames: int, out: str, clips: list[str]) -> None:
    from vidcodec import api
    from vidcodec.codec import vaegan

    rows: list[dict] = []
    clip = [""]
    costs: dict[int, tuple] = {}  # id(prediction) -> (latent cost, prediction, bits), this frame's candidates
    lock = threading.Lock()
    candidate_of = vaegan.FrameEncoder._candidate

    def candidate(self, ys, pred, block, vectors):
        out = candidate_of(self, ys, pred, block, vectors)
        with lock:
            costs[id(out[1])] = (out[0], out[1], out[3][0])
        return out

    def fine_or_whole(self, ys, x, fine, whole):
        def bits(c):
            return c[2][0] + 8 * len(c[4]) + 8

        against = vaegan.PictureErrors(x)
        synthesize = self._judging()

        def errors(c):
            return against(synthesize(vaegan.state_latent(c[0] + c[1] * self.unit, self.unit,
                                                          self.model.gains[self.level])))

        (mw, sw), (mf, sf) = errors(whole), errors(fine)
        rate = self.fine_kappa * (bits(fine) - bits(whole)) / max(self._gop_bits / self._since_key, bits(whole))
        take = (mf - mw) / mw + rate < -self.fine_margin and (sf - sw) / sw + rate < -self.fine_margin
        self.fine_choices[take] += 1
        k = self.channels
        stf, stw = ((c[0] + c[1] * self.unit)[:k] for c in (fine, whole))
        cf, cw = costs[id(fine[0])], costs[id(whole[0])]
        rows.append({"clip": clip[0], "since": self._since_key, "rate": float(rate), "mw": float(mw), "mf": float(mf),
                         "sw": float(sw), "sf": float(sf), "costf": float(cf[0]), "costw": float(cw[0]),
                         "diff": float((stf != stw).mean()), "take": bool(take)})
        costs.clear()
        self._judged, self._picture = None, None  # no picture kept: the colour fit makes its own
        return fine if take else whole

    vaegan.FrameEncoder._candidate = candidate
    vaegan.FrameEncoder._fine_or_whole = fine_or_whole
    for c in clips:
        clip[0] = os.path.basename(c)
        costs.clear()
        with tempfile.TemporaryDirectory() as tmp:
            api.encode(c, tmp + "/o.gvc", max_frames=frames, overwrite=True, preset="medium")
        print(c, len(rows), flush=True)
        with open(out, "w") as f:
            json.dump(rows, f)


def _m(r: dict) -> float:
    return max((r["mf"] - r["mw"]) / r["mw"], (r["sf"] - r["sw"]) / r["sw"]) + r["rate"]


def _backoff(rows: list[dict], start: int, cap: int, grow: float) -> tuple[int, int, float, float]:
    """(decisions, judged, lost, gain) of the back-off gate over rows, clip by clip."""
    n = judged = 0
    lost = gain = 0.0
    for c in dict.fromkeys(r["clip"] for r in rows):
        streak = skip = 0
        for r in (r for r in rows if r["clip"] == c):
            n += 1
            m = _m(r)
            gain += -m if r["take"] else 0.0
            if skip:
                skip -= 1
                lost += -m if r["take"] else 0.0
                continue
            judged += 1
            streak = 0 if r["take"] else streak + 1
            if streak >= start:
                skip = min(cap, int(grow ** (streak - start)))
    return n, judged, lost, gain


def score(*files: str) -> None:
    for path in files:
        with open(path) as f:
            rows = json.load(f)
        m = np.array([_m(r) for r in rows])
        take = np.array([r["take"] for r in rows])
        lg = np.array([(r["costf"] - r["costw"]) / r["costw"] for r in rows])
        gain = -m[take].sum()
        print(f"{path}: {len(rows)} decisions, {take.sum()} fine")
        for t in (0.005, 0.01, 0.015, 0.02, 0.03):
            skip = lg > -t
            print(f"  whole when lg > -{t}: skips {skip.mean():.0%}, lost {-m[skip & take].sum() / gain:.1%}")
        for start, cap, grow in ((2, 1, 1), (3, 1, 1), (2, 2, 1.5), (3, 4, 2), (4, 4, 2), (4, 8, 2), (6, 8, 2)):
            n, judged, lost, g = _backoff(rows, start, cap, grow)
            print(f"  back-off start {start} cap {cap} grow {grow}: judged {judged / n:.0%}, lost {lost / g:.1%}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["dump"]:
        dump(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    elif sys.argv[1:2] == ["score"]:
        score(*sys.argv[2:])
    else:
        sys.exit(__doc__)
