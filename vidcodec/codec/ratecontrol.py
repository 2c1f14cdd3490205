"""Average-bitrate control: a level per GOP and a rate-distortion lambda factor per delta frame.

A leaky-bucket model (like a VBV): every frame adds its real size in bits (container framing
included) and drains the per-frame target ``kbps·1000 / fps``; ``fullness`` is how many bits the
stream is ahead of its budget. Two controls hold it near zero:

* **the level**, which can only change at a keyframe: at each keyframe (a GOP start, a scene cut,
  or a cut below) the encoder measures the exact keyframe size ``K[l]`` at every level (it codes
  the keyframe at each level: cheap next to the transforms) and the controller picks the level
  whose predicted GOP fits the budget (below);
* **the lambda factor** ``lam`` of each delta (``FrameEncoder._lam``: it multiplies the lambdas of
  the encoder's candidate choice, RDOQ and unchanged channels): after every frame it is set so that
  the open GOP's deltas, at the bits they cost, pay the excess back over the rest of the GOP's
  expected length (at least ``_HORIZON`` s): ``lam = (d₁ / wanted) ** (1 / _ALPHA)`` within
  ``_LAM_RANGE``, ``d₁`` a running average of the GOP's delta bits brought back to ``lam = 1``, as a
  delta's bits scale like ``lam ** −_ALPHA``. Measured (vaegan-i, 100 frames, levels 3/5/7, gop 250):
  factor 2 → 0.57-0.76× the bits, 4 → 0.22-0.53×, 0.5 → 1.12-1.37×; against the fixed levels' curve
  at the same rate, PSNR within −0.8 … +0.4 dB for factors 0.5-2 (bikes, a pan, loses at 2, vtest, a
  still camera, gains at 2-4, diver within ±0.26 dB), so ``_LAM_RANGE`` = 0.4-2.5, a bit more than
  the 2× between levels.

Before the lambda factor (to format 14.0) the level was the only control and ``--bitrate`` used
1-s GOPs so that it could change often; on a still camera those keyframes cost most of the stream
(vtest, 100 frames: 1-s GOPs 183 % more bits for the same PSNR than gop 250 at fixed levels; diver
9 %, bikes 3 %). With the factor, ``--bitrate`` keeps the default GOP (docs/eval/ratecontrol-long-gop).

The controller predicts the bits of the coming GOP at each level as

    K[l] · (1 + delta_ratio · (run − 1))

where ``run`` (frames between keyframes; scene cuts make it shorter than ``--gop``) is a
running average, never more than the frames left when the input says how many it has, and
``delta_ratio(l)`` (bits of a delta frame at ``lam = 1`` per bit of its GOP's keyframe) grows with the level: finer steps code more of each change. Measured with vaegan-g (40 frames
of six corpus clips, every level) it grew by a median 1.17× per level (0.8–1.7×; diver: 0.054 at
quality 1 to 0.52 at quality 8), so the controller models it as ``base · 1.2^l`` and keeps
``base`` as a running average of every delta's ratio divided by ``1.2^level``, whichever level
it was coded at. It picks the highest level whose prediction fits the GOP's budget, the target for
``run`` frames minus half of the current excess, so errors are paid back over the next GOPs
instead of accumulating (or the next level up, when that leaves the stream nearer its budget
and within half the buffer), and it climbs at most one level per GOP (it may drop any number):
adjacent levels differ by about 2× in rate, and an optimistic guess two levels up overshot one
GOP by 3× before this rule. While the stream is more than one GOP's budget (or a buffer) behind
it, it may climb two: content that turns cheap (a static scene after motion, a screen recording)
otherwise took a GOP per level to use its budget (training clips, 150 frames at 100 kbit/s, video bits only:
movie-hello 70 → 97 kbit/s, wannaworktogether 64 → 68 kbit/s). It climbs further still to any
level whose GOP fits the budget even if the delta ratio grows by ``_STEEP`` = 1.7× a level above
the level it was measured at (the steepest growth measured): wannaworktogether at 100 kbit/s
(150 frames, with the container) then ran q3 → q5 → q8 instead of one level per GOP, 68 → 86
kbit/s and 29.5 → 30.5 dB; movie-hello 97 kbit/s at 29.3 instead of 28.9 dB.

The buffer is bounded: when the excess passes ``bufsize`` in the middle of a GOP (a sudden burst
of motion), the encoder starts a new GOP at once at a level the controller re-chooses, instead of
finishing the GOP at a rate the budget cannot carry. Not where the GOP's keyframe alone overflowed
the buffer (a scene cut far more detailed than the frames before it): a second keyframe at once only
added bits (with ``--bufsize 40`` at 80 kbit/s, runs of 7-12 keyframes at two scene cuts, 25.2 dB
where the deltas paying it back give 30.4, docs/RESULTS.md session 54); such a GOP's deltas run at
the largest lambda factor and the far-over rule below cuts it once they are measured. Not at the
lowest level: a new GOP could not go lower, and its keyframe would only add bits (a target under
what the lowest level needs made every frame a keyframe, 34x the target, before this rule); the
GOPs then run their course at the lowest level and a warning says the target is out of reach. At
the other end, a target above what the highest level spends on the video cannot be reached either
(vtest at 400 kbit/s: 378 with 80 of its 100 frames at the top level): when most frames ran at the
top level and the stream came out more than ``_SHORT_AT_TOP`` under its target, :meth:`finish`
warns, so that a user asking for a rate knows the file is smaller than asked for because the ladder
ends there.

The first GOP's level rests on a guessed delta ratio (``_FIRST_BASE``), pessimistic on purpose.
When, after a quarter of it, its deltas project it to under a third of its budget and a level
two up fits even with a steep growth, the encoder starts a new GOP there and then (one extra
keyframe): movie-hello at 100 kbit/s (150 frames) 97 → 104 kbit/s and 29.3 → 29.8 dB. When the
first GOP is cut for running under (by that rule or the one for long GOPs below), the next level is
whichever its measured deltas support, not held to the one-level climb: the guess, not a
measurement, had set the first level. A still camera then takes one cut instead of a cut a level
(vtest at 150 kbit/s, 100 frames: quality 5 → 7 at frame 5, where it had gone 5 → 6 → 7 with
keyframes at frames 5 and 10; +1.1 → −0.3 % of the target, 30.58 → 30.69 dB; movie-hello 2 → 8
instead of 2 → 6 → 7, +1.3 → +5.7 %, 31.66 → 32.10 dB). Later GOPs keep the one-level climb: free
climbs there overshot and were cut back down (diver at 400 kbit/s, Megamind at 100: one keyframe
more each; docs/eval/ratecontrol-known-length).

Long GOPs need the level to change between keyframes when the lambda factor cannot hold the rate:
a GOP is cut (a keyframe at a level chosen anew, from what this GOP's deltas cost rather than the
stream's average) when, at the largest factor, its deltas would leave the stream more than half a
buffer over budget by the GOP's expected end (after half a second of it), or when, at the smallest
factor, it would leave the stream more than half a buffer under by then (after half a second
of it) and the next level up fits the rest of the GOP even with a steep growth. Neither cut
shortens ``run``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from ..errors import UsageError
from ..timespec import steady_rate

log = logging.getLogger("vidcodec")

_SMOOTH = 0.1  # weight of a new observation in the running averages
# Before any delta has been measured, delta_ratio(l) is guessed as _FIRST_BASE · 1.2^l. Format 7.0
# on five training clips (30 frames, gop 30, every level, packets with their headers;
# runs/encoder-tuning/delta_ratio.py): ratio / 1.2^l had a median of 0.050-0.072 per level and an
# upper quartile of 0.068-0.087; the guess takes the upper quartile, since overshooting a GOP costs
# more than undershooting it. (A flat 0.3, the guess with format 6.0, made the first GOPs of cheap
# clips start two or three levels low, and the controller climbs one level per GOP.)
_FIRST_BASE = 0.08
_GROWTH = 1.2  # growth of that ratio per level (measured: median 1.17)
_EARLY_UP = 2  # the first GOP is cut short only when a level this much higher would fit
_STEEP = 1.7  # the steepest growth per level measured (the spread was 0.8-1.7x)
_ALPHA = 0.5  # a delta's bits scale as lam ** -_ALPHA (module docstring)
_LAM_RANGE = (0.4, 2.5)  # the lambda factors the controller uses inside a GOP (module docstring)
_TRACK = 0.1  # weight of a new delta in the open GOP's running delta bits
_HORIZON = 1.0  # seconds: the shortest span over which an excess is paid back inside a GOP
_SHORT_AT_TOP = 0.10  # finish() warns when a stream mostly at the top level ends this far under target
_PACE_WINDOW = 64  # frames whose intervals tell the pace of a stream whose frames do not keep the announced rate
_FEW_GOPS = 3  # finish() warns when a stream of fewer GOPs than this ends more than _OFF_TARGET off target
_OFF_TARGET = 0.10
_OVER_AT_BOTTOM = 0.10  # ... or mostly at the lowest level this far over it (no warning said so yet)


@dataclass
class RateController:
    """Chooses levels to hold an average bitrate; see the module docstring."""

    kbps: float
    fps: float
    gop: int
    levels: int
    bufsize_kbits: float | None = None  # default: 2 s of the target rate, 1.5 GOPs for GOPs of 1.33-2 s, 3 s past
    frames: int | None = None  # frames the stream is expected to have (None: unknown, e.g. a live pipe)
    fullness: float = field(default=0.0, init=False)  # bits above the budget so far
    lam: float = field(default=1.0, init=False)  # factor of the next delta's rate-distortion lambdas
    level: int = field(default=0, init=False)  # the level chosen last (0-based)
    delta_base: float | None = field(default=None, init=False)  # delta_ratio(l) / _GROWTH**l; None: unmeasured
    history: list[tuple[int, int, float]] = field(default_factory=list, init=False)  # (level, frames, bits)

    def __post_init__(self) -> None:
        if not self.kbps > 0:
            raise UsageError(f"--bitrate must be positive (got {self.kbps})")
        if not self.fps > 0:
            raise UsageError("--bitrate needs the input's frame rate; this input has none")
        self.target = self.kbps * 1000.0 / self.fps  # bits per frame
        default = max(2.0 * self.kbps, 1.5 * min(self.gop, 2.0 * self.fps) * self.target / 1000.0)
        self.bufsize = 1000.0 * (self.bufsize_kbits or default)
        self.run = float(self.gop)  # expected frames per GOP
        self._run_now = self.run  # expected frames of the open GOP
        self._delta_now: float | None = None  # the open GOP's delta bits at lam 1, a running average
        self._keys: list[float] = []  # the last keyframe's bits at every level
        self._restart = False  # the open GOP was cut short because its level was far off the budget
        self._cut_under = False  # ... because it ran far under (after the first GOP: the next level is free)
        self._unreachable = False  # warned that even the lowest level overflows the buffer
        self._key_overflowed = False  # the open GOP's keyframe alone took the buffer past bufsize
        self._gop_bits = 0.0
        self._gop_frames = 0
        self.nominal_fps = self.fps
        self._last_seconds: float | None = None  # the last frame's time (update's seconds)
        self._intervals: deque[float] = deque(maxlen=_PACE_WINDOW)  # between the last frames' times
        self._spent = 0.0  # bits outside the frames (spend)

    def choose(self, key_bits: list[int]) -> int:
        """The level for a new GOP, given the exact keyframe size in bits at every level."""
        self._close_gop()
        run = self._run_now = self._expected_run()
        budget = max(0.25 * run * self.target, run * self.target - 0.5 * self.fullness)
        predicted = [k * (1.0 + self.ratio(lvl) * (run - 1.0)) for lvl, k in enumerate(key_bits)]
        fitting = [lvl for lvl, bits in enumerate(predicted) if bits <= budget]
        best = max(fitting) if fitting else 0
        # Levels are about 2x apart in rate, so the highest level under the budget can stay well
        # under the target GOP after GOP: take the next level up when it leaves the stream closer
        # to its budget and within half the buffer (the stream then alternates around the target).
        excess = [self.fullness + bits - run * self.target for bits in predicted]
        up = best + 1
        if up < self.levels and abs(excess[up]) < abs(excess[best]) and excess[up] < 0.5 * self.bufsize:
            best = up
        if self.history and not (self._cut_under and len(self.history) == 1):
            # Climb one level per GOP (two while the stream is more than a full GOP's budget behind
            # it; the nominal GOP, since scene cuts shorten ``run``), or further while even a steep
            # growth of the delta ratio above the level it was measured at keeps the GOP in budget.
            # Not after the first GOP was cut for running under (module docstring).
            climb = 2 if self.fullness < -min(self.gop * self.target, self.bufsize) else 1
            cap = self.level + climb
            for lvl in range(cap + 1, self.levels):
                if self._fits_steeply(key_bits[lvl], lvl, run, budget):
                    cap = lvl
            best = min(best, cap)
        self.level = best
        self._cut_under = False
        self._keys = [float(k) for k in key_bits]
        self.lam = 1.0
        self._delta_now = None
        return self.level

    @property
    def _coded(self) -> int:
        """Frames coded so far: the closed GOPs' and the open one's."""
        return sum(n for _, n, _ in self.history) + self._gop_frames

    def _expected_run(self) -> float:
        """Frames the next GOP is expected to last: the running average of GOP lengths, or fewer when
        the stream is known to end sooner."""
        run = max(1.0, self.run)
        if self.frames is not None and self.frames > self._coded:
            run = min(run, float(self.frames - self._coded))
        return run

    @property
    def _key_bits(self) -> float:
        """Bits of the open GOP's keyframe (0 before the first)."""
        return self._keys[self.level] if self._keys else 0.0

    def _fits_steeply(self, key_bits: float, level: int, run: float, budget: float) -> bool:
        """Whether a GOP of ``run`` frames at ``level`` (keyframe ``key_bits``) fits ``budget`` even if the
        delta ratio grows ``_STEEP``× a level above the current level's."""
        return key_bits * (1.0 + self.ratio(self.level) * _STEEP ** (level - self.level) * (run - 1.0)) <= budget

    def ratio(self, level: int) -> float:
        """Expected delta bits per keyframe bit at ``level`` (see the module docstring)."""
        return (_FIRST_BASE if self.delta_base is None else self.delta_base) * _GROWTH**level

    def spend(self, bits: float) -> None:
        """Account for ``bits`` the stream carries outside its frames (the file's header, index and footer)."""
        self.fullness += bits
        self._spent += bits

    def _clock(self, seconds: float) -> None:
        """Follow the frames' times: when their pace over the last frames (at least five and a second of
        them; :func:`timespec.steady_rate`, pauses left out) is more than 1 % off the rate the input
        announced (a variable-rate Matroska or WebM file announces its DefaultDuration's, say 25 where
        frames come at 12.5: the stream came out at half its target), the bits a frame and everything
        counted in frames go by that pace, until it comes back to the announced rate. A pause (a stall,
        the gap of a joined file) is no pace: counted as one, it had given every later frame a larger
        budget, bursts at 2-4 times the target after an 8 s gap."""
        if self._last_seconds is not None:
            self._intervals.append(seconds - self._last_seconds)
        self._last_seconds = seconds
        if len(self._intervals) < 5 or sum(self._intervals) < 1.0:
            return
        pace = steady_rate(self._intervals)
        fps = self.nominal_fps if pace is None or abs(pace / self.nominal_fps - 1.0) <= 0.01 else float(pace)
        if fps != self.fps:
            if self.fps == self.nominal_fps:
                log.info("--bitrate: the frames come at %.3g fps, not the %.3g the input announces: counting "
                         "with their own rate", fps, self.nominal_fps)
            self.fps = fps
            self.target = self.kbps * 1000.0 / fps

    def update(self, bits: int, seconds: float | None = None) -> None:
        """Account for one coded frame of ``bits`` bits (the first after :meth:`choose` is its keyframe),
        presented at ``seconds`` when known (:meth:`_clock`)."""
        if seconds is not None:
            self._clock(seconds)
        if self._gop_frames > 0 and self._key_bits > 0:
            at_one = bits * self.lam**_ALPHA  # what the delta would have cost at lam 1
            base = self._as_base(at_one)
            old = self.delta_base
            self.delta_base = base if old is None else old + _SMOOTH * (base - old)
            now = self._delta_now
            self._delta_now = at_one if now is None else now + _TRACK * (at_one - now)
        self.fullness += bits - self.target
        if self._gop_frames == 0:
            self._key_overflowed = self.fullness > self.bufsize
        self._gop_bits += bits
        self._gop_frames += 1
        self.lam = self._next_lam()

    def _next_lam(self) -> float:
        """The lambda factor for the next delta: the one whose predicted bits pay the excess back
        over the rest of the GOP (at least ``_HORIZON`` seconds), within ``_LAM_RANGE``."""
        lo, hi = _LAM_RANGE
        expected = self._delta_now if self._delta_now is not None else self._key_bits * self.ratio(self.level)
        remaining = max(_HORIZON * self.fps, self._run_now - self._gop_frames, 1.0)
        wanted = self.target - self.fullness / remaining
        if wanted <= 0:
            return hi
        if expected <= 0:
            return lo
        return min(hi, max(lo, (expected / wanted) ** (1.0 / _ALPHA)))

    def wants_new_gop(self) -> bool:
        """True when a new GOP should start now: the buffer has overflowed mid-GOP, the first GOP,
        whose level was a guess, runs far under its budget (:meth:`_first_gop_far_under`), or the
        lambda factor cannot hold the rate at this level (:meth:`_far_under`, :meth:`_far_over`)."""
        if self._gop_frames == 0:
            return False
        if self.fullness > self.bufsize:
            if self.level > 0:
                if not self._key_overflowed:  # a keyframe alone over it: its deltas pay it back (docstring)
                    return True
            elif not self._unreachable:
                self._unreachable = True
                log.warning("--bitrate %g kbit/s is below what the lowest quality needs here: quality 1 "
                            "overruns the buffer (--bufsize), so the stream runs above the target until "
                            "easier frames let it drain", self.kbps)
        under = self._first_gop_far_under() or self._far_under()
        if not (under or self._far_over()):
            return False
        self._restart = True
        self._cut_under = under
        # The next level is chosen from what this GOP's deltas cost, not the average over the stream.
        if self._delta_now is not None and self._key_bits > 0:
            self.delta_base = self._as_base(self._delta_now)
        return True

    def _as_base(self, at_one: float) -> float:
        """A delta's bits at lam 1 as ``delta_base``: per bit of the open GOP's keyframe, per ``_GROWTH**level``."""
        return at_one / self._key_bits / _GROWTH**self.level

    def _end_fullness(self, lam: float) -> float | None:
        """Where ``fullness`` would stand at the open GOP's expected end with its deltas at factor
        ``lam``; None until half a second of the GOP (at least four frames) has measured them."""
        if self._delta_now is None or self._gop_frames < max(4.0, 0.5 * self.fps):
            return None
        left = max(0.0, self._run_now - self._gop_frames)
        return self.fullness + (self._delta_now * lam**-_ALPHA - self.target) * left

    def _far_over(self) -> bool:
        """A GOP whose deltas, even at the largest lambda factor, would leave the stream more than
        half a buffer over its budget by the GOP's expected end is cut short (after half a second of
        it, so that the deltas are measured), and the next GOP takes a lower level."""
        hi = _LAM_RANGE[1]
        if self.level == 0 or self.lam < hi:
            return False
        end = self._end_fullness(hi)
        return end is not None and end > 0.5 * self.bufsize

    def _far_under(self) -> bool:
        """A GOP whose deltas, even at the smallest lambda factor, would leave the stream more than
        half a buffer under its budget by the GOP's expected end is cut short (after half a second of
        it) when the next level up fits the rest of that length even with a steep delta growth."""
        up = self.level + 1
        lo = _LAM_RANGE[0]
        if up >= self.levels or self.lam > lo:
            return False
        end = self._end_fullness(lo)
        if end is None or end > -0.5 * self.bufsize:
            return False
        run = max(1.0, self._run_now - self._gop_frames)
        return self._fits_steeply(self._keys[up], up, run, run * self.target - 0.5 * self.fullness)

    def _first_gop_far_under(self) -> bool:
        """The first GOP's level rests on a guessed delta ratio. After a quarter of it (at least four
        frames), when its deltas so far project it to under a third of its budget and a level two
        up would fit that budget even with a steep growth of the measured ratio, it is cut short so
        the next GOP starts at the level the measurement supports."""
        if self.history or self._gop_frames < max(4, self._run_now // 4) or self.level + _EARLY_UP >= self.levels:
            return False
        run = self._run_now
        deltas = (self._gop_bits - self._key_bits) / (self._gop_frames - 1)
        budget = run * self.target
        if self._key_bits + deltas * (run - 1.0) >= budget / 3.0:
            return False
        up = self.level + _EARLY_UP
        return self._fits_steeply(self._keys[up], up, run, budget)

    def finish(self) -> None:
        """Close the last GOP (its size goes into ``history``); warn when the stream stayed well under
        its target with most frames at the top level, or well over it with most at the lowest level
        and no warning yet (the target is out of the ladder's reach: with ``--gop 1`` every GOP is
        one keyframe, which no buffer overflow cuts short, so only the end can tell)."""
        self._close_gop()
        frames = sum(n for _, n, _ in self.history)
        top = sum(n for lvl, n, _ in self.history if lvl == self.levels - 1)
        bottom = sum(n for lvl, n, _ in self.history if lvl == 0)
        # the file's own bytes too (spend), as the command's summary counts them
        achieved = (sum(b for _, _, b in self.history) + self._spent) / frames * self.fps / 1000.0 if frames else 0.0
        if frames and 2 * bottom >= frames and achieved > (1.0 + _OVER_AT_BOTTOM) * self.kbps and not self._unreachable:
            self._unreachable = True
            log.warning("--bitrate %g kbit/s is below what the lowest quality needs for this video: it came out "
                        "at %.0f kbit/s, coded at quality 1", self.kbps, achieved)
        if frames and 2 * top >= frames and achieved < (1.0 - _SHORT_AT_TOP) * self.kbps:
            log.warning("--bitrate %g kbit/s is above what the highest quality spends on this video: "
                        "%d of its %d frames are at quality %d, the top, and the stream came out more "
                        "than %d %% under the target", self.kbps, top, frames, self.levels,
                        round(100 * _SHORT_AT_TOP))
        elif (frames and len(self.history) < _FEW_GOPS and not self._unreachable
              and abs(achieved / self.kbps - 1.0) > _OFF_TARGET):
            # neither end of the ladder: too few GOPs for the controller to correct its first guess
            gops = len(self.history)
            log.warning("--bitrate %g kbit/s: the stream came out more than %d %% %s the target; the quality "
                        "is re-chosen at each keyframe, and these %d frames made %d GOP%s (over several GOPs "
                        "the rate is held within %d %%: a shorter --gop gives it more)",
                        self.kbps, round(100 * _OFF_TARGET), "under" if achieved < self.kbps else "over", frames,
                        gops, "" if gops == 1 else "s", round(100 * _OFF_TARGET))

    def _close_gop(self) -> None:
        if self._gop_frames:
            self.history.append((self.level, self._gop_frames, self._gop_bits))
            if not self._restart:  # a GOP cut for its level says nothing about the GOPs' length
                self.run += _SMOOTH * 3 * (min(self._gop_frames, self.gop) - self.run)
            self._restart = False
        self._gop_bits = 0.0
        self._gop_frames = 0
