"""VAE-GAN mode: frames ↔ key/delta packet payloads.

::

    frame ──pad to ×16──► analysis ──× gain[level]──► ys ──round──► symbols (key)
                                                       │
                                  previous decoded ────┤ residual, with a dead zone; a channel whose
                                  symbols (closed loop)▼ change is worth too few bits stays unchanged
                                                  delta symbols

Key payload:   u8 level | u8 context (format 4.0 on) | symbol section: with context 0, channel c
               with key table (level, c), c = 0..K-1; with context 1, K selectors (uniform over the
               delta tables, the model's Laplace ladder) then each channel's symbols with tables
               moved per position by the contexts of :mod:`.context` (the channel before, anchors)
Delta payload: u8 level | u8 block | [n_mv | motion vectors] (format 2.0 on, when block > 0; n_mv
               a varint from 7.0, u32 before) | u8 context (format 3.0 on) | symbol section: K
               selectors (the selector table from 7.0, uniform over the residual tables before),
               then for each channel whose selector is not 0, its residuals with residual table
               [selector] (selector 0 means "channel unchanged": no symbols follow), or with
               context 1, tables moved per position by the contexts of :mod:`.context` (from 8.0
               also by the previous delta's residuals; from 9.0 a residual whose prediction is not
               zero is coded as −sign(prediction)·residual with the oriented row of its table)

Format 12.0 (ANS): key payload u8 (level | context << 7) | section; delta payload u8 (block side
               | context << 6 | bilinear << 7) | motion vectors (self-delimiting) | section; a
               delta's level is the previous frame's, and the section is the ANS bytes alone (its
               escaped values inside the ANS stream: :mod:`..coding.entropy`)

The prediction of a delta is the previous decoded symbols, moved block by block when the payload
carries motion vectors (:mod:`.motion`; from format 10.0, in streams whose header names the model's
predictor table, vectors in sixteenths with the learned sub-pixel predictor of :mod:`.subpel`).

K is the number of channels the model codes at that level (its channel ladder; all C channels
for models without one); channels K..C-1 of the latent are zero.

The decoder adds residuals to its own previous symbols, so encoder and decoder hold the same
integer latent at every frame: no drift, whatever the float arithmetic of the machine.

With ``coder="elias"`` (the seed method, "lossy compression + Elias coding") the scaled latent
(key) or its difference to the previous decoded latent (delta) is QSGD-quantized per channel
(``latent_bits`` bits, stochastic rounding seeded by the stream seed and frame index) and the
levels are Elias-gamma coded:

Elias payload: u8 level | u8 bits | K × f32 channel norms | symbol section: all K·h·w levels
"""

from __future__ import annotations

import collections
import os
import struct
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..coding import qsgd, varint
from ..coding.entropy import MAX_ESCAPE, SymbolReader, SymbolWriter
from ..coding.tables import PRECISION, IntTables, residual_tables, signed_residual_tables
from ..errors import CoderError, CorruptPacketError, UsageError
from ..models.zoo import CodecModel
from ..native import core as _native
from . import DEFAULT_GOP, context, motion, subpel
from . import colour as colour_mod
from .ratecontrol import RateController
from .subpel import Predictor

if TYPE_CHECKING:  # torch: only an encoder with --refine imports it
    from .refine import Refiner

KEY, DELTA = "key", "delta"
FORMAT_MAJOR = 15  # the payload layouts this module writes (container.FORMAT_VERSION[0])
LEAN_MAJOR = 12  # from this major on, mode 0 ANS payloads carry no delta level, no lengths (see decode_symbols)
SELECTOR_MAJOR = 13  # from this major on, a delta's selectors are coded by the channel's previous selector
CONTEXT_BIT, LEAN_BLOCK_MAX = 0x40, 0x3F  # 12.0 delta head: bit 7 bilinear, bit 6 context, block side 1..63
# 14.0, streams with a learned predictor: the decoder's state holds sixteenths of a symbol (UNIT), and
# bit 5 of a delta's head (FINE_BIT; block sides 1..31) keeps the learned prediction's fraction.
FINE_MAJOR, FINE_BIT, FINE_BLOCK_MAX, UNIT_BITS = 14, 0x20, 0x1F, 4
UNIT = 1 << UNIT_BITS
# The encoder keeps a fine prediction where its picture, synthesized, costs less than the whole one's,
# in squared error E and in structure E = 1 - SSIM alike (FrameEncoder._fine_or_whole):
# (E_fine - E_whole) / E_whole + FINE_KAPPA * (bits_fine - bits_whole) / R < 0, with R the mean bits a
# frame since the keyframe (the keyframe's included; at least bits_whole): the slope of a curve gaining
# ~1.5 dB PSNR per doubling of the rate, at the stream's operating point. Against R the frame's own
# bits, which made 13 bytes saved on a 16-byte delta worth a lasting 2 % MS-SSIM loss on a still scene
# (OpenCV's tree), OpenCV's vtest +0.93 -> +0.25 %, tree +1.95 -> -0.16 %, Megamind -6.1 -> -7.5 %
# MS-SSIM BD-rate (30 frames; runs/encoder-tuning/fine_ab.py).
FINE_KAPPA = 0.25
# ... and by more than this margin. A margin spares still scenes a marginal gain on the frame whose
# error lasts (a picture's error stays while the next deltas' residuals leave it) but costs camera
# motion more: 30 frames, MS-SSIM BD-rate, margin 0 -> 0.02 -> 0.05: OpenCV's vtest +0.28 -> -0.02 ->
# -0.02 %, bikes' pan -4.39 -> -4.03 -> -1.68 %, Megamind -7.51 -> -5.83 -> -3.62 %; 100 frames,
# PSNR / MS-SSIM, margin 0 -> 0.02: bikes -5.76 / -4.68 -> -4.15 / -3.33 %, vtest +1.46 / +1.30 ->
# +0.52 / +0.44 %, diver -0.52 / -0.37 -> -0.07 / -0.06 %, Megamind (50) -3.95 / -7.16 -> -2.84 / -5.81 %
# (docs/eval/fine). None: the mean gain is larger.
FINE_MARGIN = 0.0
# Per-delta factors of the encoder's rate-distortion lambdas, in a cycle from the keyframe (delta n
# uses factor n mod len): a cascade such as (0.5, 1.3, 1.1, 1.3, 0.8, 1.3, 1.1, 1.3) codes every
# eighth delta finest, the fourth between finer, the others coarser, as low-delay video coders do
# (what a delta sets stays until a later one changes it). Encoder only: the format does not know
# it. Off by default: that cascade won on training clips (40 frames, every level, PSNR / MS-SSIM
# BD-rate: carphone -3.6 / -4.0 %, motion.mov -1.3 / -0.4 %, wannaworktogether -1.5 / -6.3 %) but
# not on the held-out ones (50 frames, docs/eval/cascade: bikes -2.6 / -1.5 %, vtest +1.8 / +0.2 %,
# diver +3.7 / +3.1 %). runs/encoder-tuning/sweep.py has the sweeps.
DELTA_LAMBDAS = (1.0,)
# The pictures of a stream's weighed deltas come from the model's synthesis until its judge
# (CodecModel.judge: torch's import, about 1.2 s of a core, and 0.6 GB) is built from the JUDGE_START-th
# weighed delta on, and from the judge after the JUDGE_AFTER-th: a clip that weighs seldom (a still
# camera: vtest's 100 frames weigh 7) never pays for the import, 1.2 s of its 3.5 s encode.
JUDGE_START, JUDGE_AFTER = 8, 16
RECENT_FRAMES = 12  # frames over which the colour fitter's rate (bits per frame) is averaged
_WINDOW = 64  # residual range over which delta-table costs are tabulated


def key_level(header, version: tuple[int, int], payload: bytes | memoryview, flags: int) -> int | None:
    """The level a key packet's payload was coded at (``vidcodec info``; :func:`..container.probe`'s
    ``key_level``): its first byte, after a colour correction (11.0 on, flag bit 0), less the context
    flag (12.0 on, ANS). None for other modes and for a payload too short to hold it."""
    if int(header.mode) != 0:  # container.Mode.VAEGAN (this module does not import the container)
        return None
    start = colour_mod.SIZE if flags & colour_mod.FLAG and version[0] >= 11 else 0
    if len(payload) <= start:
        return None
    lean = version[0] >= LEAN_MAJOR and int(header.coder) == 0  # container.Coder.ANS
    return payload[start] & 0x7F if lean else payload[start]


def padded_size(width: int, height: int, multiple: int = 16) -> tuple[int, int]:
    """Width and height rounded up to the network's stride."""
    return -(-width // multiple) * multiple, -(-height // multiple) * multiple


def to_tensor(rgb: np.ndarray, multiple: int = 16) -> np.ndarray:
    """H×W×3 uint8 → (1,3,H',W') float32 in [0,1], edge-padded to multiples of ``multiple``."""
    h, w = rgb.shape[:2]
    pw, ph = padded_size(w, h, multiple)
    if (ph, pw) != (h, w):
        rgb = np.pad(rgb, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    return (rgb.transpose(2, 0, 1)[None].astype(np.float32)) * np.float32(1.0 / 255.0)


def to_rgb(x: np.ndarray, width: int, height: int, colour: colour_mod.Correction | None = None) -> np.ndarray:
    """(1,3,H',W') float32 in [0,1] → H×W×3 uint8, cropped to the frame size; ``colour``: a colour
    correction to apply first (format 11.0)."""
    if colour is None:
        t = x[0, :, :height, :width] * np.float32(255.0)
    else:
        t = colour.apply(x[0, :, :height, :width], 255.0)
    np.rint(t, out=t)  # half to even, in place
    planes = t.astype(np.uint8)
    # Interleave plane by plane: 3x faster than a transposed copy (1080p: 35 -> 12 ms on 2 cores).
    img = np.empty((height, width, 3), np.uint8)
    for c in range(3):
        img[:, :, c] = planes[c]
    return img


def _delta_cost_matrix(tables: IntTables) -> np.ndarray:
    """(rows, 2*_WINDOW+1) bits to code residual v in [-W, W] with each delta table."""
    v = np.arange(-_WINDOW, _WINDOW + 1)
    cost = np.empty((len(tables), v.size))
    for row in range(len(tables)):
        idx = v - int(tables.offsets[row])
        esc = int(tables.sizes[row]) - 1
        inside = (idx >= 0) & (idx < esc)
        f = tables.freqs[row, np.where(inside, idx, esc)].astype(np.float64)
        # An escaped value also costs its Elias-gamma code in the escape section.
        extra = np.where(inside, 0.0, 2 * np.floor(np.log2(2 * np.abs(v) + 1)) + 1)
        cost[row] = PRECISION - np.log2(f) + extra
    return cost


def _context_bits(values: np.ndarray, ctx: np.ndarray, cost: np.ndarray, rows: np.ndarray | None = None,
                  prediction: np.ndarray | None = None) -> np.ndarray:
    """(m, S) bits of the m channels ``rows`` (default: all) of integer values (n, P), whose contexts are
    ``ctx`` (n, P), with each of the S selectors of ``cost`` (S, contexts, 2·_WINDOW+1), values past
    ±_WINDOW priced as ±_WINDOW; with ``prediction`` (n, P), the values oriented by it first
    (:func:`.context.orient`, format 9.0). The C++ core counts each channel's distinct (context,
    value) pairs and prices only those (a dense histogram of every channel, context and value was
    most of a high-rate delta's time)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    rows = np.arange(len(values)) if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
    return _native.context_bits(values, np.ascontiguousarray(ctx, dtype=np.int32), cost, rows,
                                None if prediction is None else np.ascontiguousarray(prediction, dtype=np.int64))


_WORKER: ThreadPoolExecutor | None = None
_WORKER_LOCK = threading.Lock()


def _forget_worker() -> None:
    """In a forked child: the parent's pool thread did not come along, so make a new pool on demand."""
    global _WORKER, _WORKER_LOCK
    _WORKER, _WORKER_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_worker)


def _submit(fn, *args) -> futures.Future | None:
    """Run ``fn(*args)`` on the thread that weighs a delta's candidate without motion beside the motion
    search (one for the process; encoders in several threads share it, which only queues their
    candidates). None when no thread can start (the interpreter is shutting down): the caller then
    runs it itself."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidcodec-delta")
        try:
            return _WORKER.submit(fn, *args)
        except RuntimeError:  # "cannot schedule new futures after (interpreter) shutdown"
            return None


def _symbols(values: np.ndarray) -> np.ndarray:
    """Round to integer symbols (half to even), clamped to what a symbol section can carry (a residual
    between two clamped latents can reach twice the cap)."""
    return np.rint(np.clip(values, -MAX_ESCAPE, MAX_ESCAPE)).astype(np.int64)


def whole_symbols(state: np.ndarray, unit: int) -> np.ndarray:
    """Whole symbols of a state or prediction counted in 1/``unit`` (1 or UNIT): ⌊(v + 8) / 16⌋,
    halves rounded up (format 14.0; an arithmetic shift, the floor division for negative values too)."""
    return state if unit == 1 else (state + (UNIT >> 1)) >> UNIT_BITS


def state_latent(state: np.ndarray, unit: int, gains: np.ndarray) -> np.ndarray:
    """The synthesis transform's input (1,C,h,w) float32 for a decoded state counted in 1/``unit``
    and the level's gains (C,): the state in float32 divided by unit · gains (format 14.0)."""
    return (state.astype(np.float32) / (unit * gains[:, None, None]))[None]


def picture_errors_numpy(out: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Mean squared error and 1 − SSIM (luma, 8×8 box windows) of a synthesized picture ``out``
    against the frame ``x`` (both (1,3,H,W) float32 in [0,1]; compared over their common size):
    what the encoder weighs fine deltas by (format 14.0). The definition; the encoder uses
    :class:`PictureErrors` (the C++ core's, the same arithmetic in float32 to within rounding)."""
    import cv2

    h, w = min(out.shape[2], x.shape[2]), min(out.shape[3], x.shape[3])
    a, b = out[0, :, :h, :w], x[0, :, :h, :w]
    mse = float(np.mean(np.square(a - b, dtype=np.float32)))
    weights = np.array([0.299, 0.587, 0.114], np.float32)[:, None, None]
    ya, yb = (a * weights).sum(axis=0), (b * weights).sum(axis=0)
    box = (8, 8)
    ma, mb = cv2.blur(ya, box), cv2.blur(yb, box)
    va, vb = cv2.blur(ya * ya, box) - ma * ma, cv2.blur(yb * yb, box) - mb * mb
    cov = cv2.blur(ya * yb, box) - ma * mb
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return mse + 1e-12, float(1.0 - ssim.mean()) + 1e-12


class PictureErrors:
    """:func:`picture_errors_numpy` of pictures against one frame ``x`` (1,3,H,W) float32, the
    frame's own planes (luma, box mean and variance) worked out once: the C++ core's, in one pass
    over a picture without the GIL (at 640x368 the frame's planes 0.87 ms once and 1.3 ms a picture,
    against 5.2 ms a picture for the numpy definition, 2026-12-05). Safe to call from two threads
    at once."""

    def __init__(self, x: np.ndarray) -> None:
        # The planes contiguous: the analysis's input is often a channels-last view.
        self.x = np.ascontiguousarray(x[0], dtype=np.float32)
        self.reference = _native.ssim_reference(self.x, self.x.shape[1], self.x.shape[2])

    def __call__(self, out: np.ndarray) -> tuple[float, float]:
        picture = out[0]
        if picture.dtype != np.float32 or picture.strides[-1] != picture.itemsize:
            picture = np.ascontiguousarray(picture, dtype=np.float32)
        reference = self.reference
        h, w = min(picture.shape[1], self.x.shape[1]), min(picture.shape[2], self.x.shape[2])
        if (h, w) != reference.shape[1:]:  # a picture smaller than the frame: over their common size
            reference = _native.ssim_reference(self.x, h, w)
        mse, structure = _native.picture_errors(picture, self.x, reference)
        return mse + 1e-12, structure + 1e-12


def picture_errors(out: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """:func:`picture_errors_numpy` by the C++ core (:class:`PictureErrors` for one picture)."""
    return PictureErrors(x)(out)


def residuals_numpy(ys: np.ndarray, pred: np.ndarray, threshold: float,
                    cap: int = MAX_ESCAPE) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What ``_native.delta_residuals`` computes, in numpy (the definition the tests hold it to): the
    residuals ``d`` of float32 ``ys`` against integer ``pred`` (rounded half to even, clamped to ±cap,
    0 where |ys − pred| < threshold), and per channel Σ r², Σ (r − d)² and the count of non-zero d."""
    r = ys.astype(np.float64) - pred
    d = np.rint(np.clip(r, -cap, cap)).astype(np.int64)
    d[~(np.abs(r) >= threshold)] = 0
    k = r.shape[0]
    flat, e = r.reshape(k, -1), (r - d).reshape(k, -1)
    return d, (flat * flat).sum(axis=1), (e * e).sum(axis=1), np.count_nonzero(d.reshape(k, -1), axis=1)


@dataclass
class EncodedFrame:
    """One coded frame: packet kind, payload, the quantization level used, and the packet flags
    (:data:`colour.FLAG`: the payload starts with a colour correction, format 11.0)."""

    kind: str
    payload: bytes
    level: int
    flags: int = 0


class FrameEncoder:
    """Stateful per-stream encoder: decides key/delta and keeps the decoder's latent in step."""

    def __init__(
        self,
        model: CodecModel,
        level: int,
        coder: str = "ans",
        gop: int = DEFAULT_GOP,
        scene_cut: float = 0.7,
        dead_zone: float = 0.4,
        channel_lambda: float = 0.2,
        motion_block: int = 8,
        motion_lambda: float = 1.0,
        context_coding: bool = True,
        latent_bits: int = 4,
        stream_seed: int = 0,
        rate: RateController | None = None,
        refiner: Refiner | None = None,
        residuals: IntTables | None = None,
        rdoq: bool = True,
        rdoq_lambda: float | None = None,
        key_rdoq_lambda: float = 0.03,
        major: int = FORMAT_MAJOR,
        predictor: Predictor | None = None,
        colour: colour_mod.Fitter | None = None,
        delta_lambdas: tuple[float, ...] = DELTA_LAMBDAS,
        fine: bool = True,
    ) -> None:
        if not 0 <= level < model.levels:
            raise UsageError(f"level {level} out of range 0..{model.levels - 1}")
        if gop < 1:
            raise UsageError("--gop must be at least 1 (1 = every frame is a keyframe)")
        self.model = model
        self.level = level
        self.coder = coder
        self.gop = gop
        self.scene_cut = scene_cut
        self.dead_zone = dead_zone
        self.channel_lambda = channel_lambda
        if not 0 <= motion_block <= 255:
            raise UsageError(f"motion block must be 0 (no motion compensation) to 255 latent pixels, got {motion_block}")
        self.motion_block = motion_block  # block side in latent pixels; 0: deltas predict from the same place
        self.motion_lambda = motion_lambda
        self.context_coding = context_coding  # False: never context-code keys or delta residuals (ablations)
        self.latent_bits = latent_bits
        self.stream_seed = stream_seed
        self.rate = rate  # average-bitrate control: picks the level at each GOP start
        self.refiner = refiner  # --refine: gradient steps on each frame's latent before quantizing
        self.rdoq = rdoq  # rate-distortion choice of each delta residual's magnitude (see _rdoq)
        self.rdoq_lambda = channel_lambda if rdoq_lambda is None else rdoq_lambda  # squared error per bit
        self.key_rdoq_lambda = key_rdoq_lambda  # the same choice for keyframe symbols (0: plain rounding)
        # The payload layouts of format ``major`` (older ones for tests of older readers): 7.0 varint
        # section and motion lengths and delta selectors coded with context.SELECTOR_FREQS, 8.0 the
        # temporal residual context, 9.0 oriented residuals. Before 5.0 deltas had no residual tables,
        # before 4.0 keys and before 3.0 deltas no context flag: this encoder does not write those layouts.
        if not 5 <= major <= FORMAT_MAJOR:
            raise UsageError(f"format major version {major} is not one this encoder writes (5 to {FORMAT_MAJOR}; "
                             f"mode 0 payloads of 5.x and 6.x are the same)")
        self.compact = compact = major >= 7
        self.temporal = major >= 8
        self.oriented = major >= 9  # context-coded residuals oriented by their prediction's sign
        # 12.0: a key's level and context flag share a byte, a delta's context flag rides in its block
        # byte and its level is the previous frame's; the vectors and the escapes delimit themselves and
        # the ANS bytes run to the end of the payload (no lengths).
        self.lean = major >= LEAN_MAJOR and coder == "ans"
        # 13.0: a delta's selectors are coded with the table row the previous delta's selector of the
        # channel picks (context.SELECTOR_FREQS_AFTER); None after a keyframe.
        self.selector_context = major >= SELECTOR_MAJOR and coder == "ans"
        self._prev_selectors: np.ndarray | None = None
        block_max = FINE_BLOCK_MAX if major >= FINE_MAJOR else LEAN_BLOCK_MAX
        if self.lean and motion_block > block_max:
            raise UsageError(f"format {major}.0 codes motion blocks of 0 to {block_max} latent pixels, "
                             f"got {motion_block}")
        if self.lean and model.levels > 128:
            raise UsageError(f"format {major}.0 codes at most 128 quality levels; model {model.name} has "
                             f"{model.levels}")
        if predictor is not None and (major < 10 or coder != "ans" or not 0 < motion_block < subpel.BILINEAR):
            raise UsageError(f"a learned sub-pixel predictor needs format 10.0, the ans coder and motion blocks of "
                             f"1 to {subpel.BILINEAR - 1} latent pixels")
        # Format 10.0: vectors in sixteenths with the model's learned predictor (the stream header names
        # its table; its integer weights from the gains of format ``major``); None: quarter vectors
        # with bilinear prediction.
        self.predictor = predictor.for_major(major) if predictor is not None else None
        # Format 14.0 with a learned predictor: the state (_prev) in sixteenths of a symbol, and deltas
        # may keep the learned prediction's fraction (FINE_BIT), chosen by their pictures when
        # encode_latent is given the frame (else never: the shipped whole-symbol prediction).
        self.unit = UNIT if self.lean and major >= FINE_MAJOR and predictor is not None else 1
        self.fine_kappa = FINE_KAPPA
        self.fine_margin = FINE_MARGIN
        self._gop_bits = 0  # payload bits since the last keyframe, the keyframe's included
        self._whole_of: tuple[np.ndarray, np.ndarray] | None = None  # (_prev, its whole symbols)
        self.fine_choices = [0, 0]  # deltas where the pictures chose: [whole, fine]
        if colour is not None and major < 11:
            raise UsageError("colour corrections need format 11.0")
        # Format 11.0: colour corrections of keyframes and the fitter's refits, fitted on the frame the
        # decoder will synthesize (needs the source frame: encode_latent's ``x``); None: no corrections.
        self.colour = colour
        if not delta_lambdas or not all(np.isfinite(f) and f >= 0 for f in delta_lambdas):
            raise UsageError(f"delta lambda factors must be a non-empty list of numbers >= 0, got {delta_lambdas}")
        # The n-th delta after a keyframe weighs bits with channel_lambda and rdoq_lambda times
        # delta_lambdas[n % len(delta_lambdas)] (DELTA_LAMBDAS says why).
        self.delta_lambdas = tuple(float(f) for f in delta_lambdas)
        # Format 14.0: weigh keeping the learned prediction's fraction (two syntheses a weighed delta,
        # _fine_or_whole); False never keeps it (the `fast` preset: no pictures made while coding deltas).
        self.fine = fine
        self._weighed = 0  # deltas whose pictures were weighed (_fine_or_whole)
        # The candidate the last weighed delta chose, with its picture (_fine_or_whole), and the
        # picture of the frame just coded when it is that candidate's (encode_latent's colour fit)
        self._judged: tuple[tuple, np.ndarray] | None = None
        self._picture: np.ndarray | None = None
        # Format 8.0: the next delta's temporal context offsets (context.temporal_offsets of the last
        # delta's residuals; t = 0 everywhere after a keyframe); None without a temporal context.
        self._temporal: np.ndarray | None = None
        self.set_level(level)
        self._prev: np.ndarray | None = None  # decoded (scaled) latent of the previous frame, times unit
        self._since_key = 0
        self._bits: collections.deque[int] = collections.deque(maxlen=RECENT_FRAMES)  # payload bits, last frames
        self._frame = 0
        # Delta residuals use the format's residual tables (5.0 on; ``residuals``: others, e.g. the
        # model's delta tables for the 2.x-4.x symbols in tests); context-coded keys the model's ladder.
        if self.oriented and residuals is not None:
            raise UsageError("format 9.0 codes residuals with the format's own tables: pass major=8 for others")
        self.residuals = residuals if residuals is not None else residual_tables()
        self._delta_cost = _delta_cost_matrix(self.residuals)
        # What context-coded residuals are popped with: from 9.0 the oriented tables follow the others.
        self._coded_tables = signed_residual_tables() if self.oriented else self.residuals
        self._coded_cost = _delta_cost_matrix(self._coded_tables)
        self._context_cost = np.ascontiguousarray(context.cost_tables(self._coded_cost, self.oriented), np.float64)
        self._key_value_cost = _delta_cost_matrix(model.delta_tables)
        self._key_context_cost = np.ascontiguousarray(context.key_cost_tables(self._key_value_cost), np.float64)
        if compact and len(self.residuals) != len(context.SELECTOR_FREQS):
            raise UsageError(f"format 7.0 codes selectors of {len(context.SELECTOR_FREQS)} residual tables, "
                             f"not {len(self.residuals)}: pass major=6 for other tables")
        freqs = context.SELECTOR_FREQS if compact else np.ones(len(self.residuals))
        self._selector_bits = np.log2(freqs.sum() / freqs)  # bits of each delta selector value
        self._selector_row_bits = np.log2((1 << 16) / context.SELECTOR_FREQS_AFTER)  # 13.0: by previous selector

    def set_level(self, level: int) -> None:
        """Code from the next keyframe on at ``level`` (a level only changes at keyframes)."""
        self.level = level
        self.channels = self.model.level_channels[level]

    def _scaled(self, y: np.ndarray, level: int) -> np.ndarray:
        """The latent scaled by the level's gains, channels past its ladder step zeroed (not coded), NaN
        set to 0 and values clamped to what a symbol section carries (a broken frame, not a broken
        stream). ``y`` may hold only the level's channels (what GOP-parallel workers are sent)."""
        k, gains = self.model.level_channels[level], self.model.gains[level]
        ys = np.zeros((len(gains), *y.shape[1:]), np.result_type(y, gains))
        coded = ys[:k]
        np.multiply(y[:k], gains[:k, None, None], out=coded)
        np.nan_to_num(coded, copy=False, nan=0.0)
        np.clip(coded, -MAX_ESCAPE, MAX_ESCAPE, out=coded)
        return ys

    def key_payloads(self, y: np.ndarray) -> list[tuple[bytes, np.ndarray]]:
        """Keyframe payload and symbols of one latent at every level (what a rate controller weighs)."""
        out = []
        for level in range(self.model.levels):
            ys = self._scaled(y, level)
            symbols = self._key_rdoq(ys, _symbols(ys), level)
            out.append((self._key_payload(symbols, level), symbols))
        return out

    def encode_latent(self, y: np.ndarray, x: np.ndarray | None = None) -> EncodedFrame:
        """Code one frame's latent (C,h,w) float32 from the analysis transform (``x``: the frame as
        given to the analysis, needed only with a refiner or a colour fitter: without it no frame gets
        a colour correction)."""
        self._picture, self._judged = None, None
        coded = self._encode_latent(y, x)
        if self.colour is not None and x is not None:
            coded = self.corrected(coded, lambda: self._prev, x, self._picture)
        self._gop_bits = (0 if coded.kind == KEY else self._gop_bits) + 8 * len(coded.payload)
        return coded

    def corrected(self, coded: EncodedFrame, decoded: Callable[[], np.ndarray], source: np.ndarray,
                  picture: np.ndarray | None = None) -> EncodedFrame:
        """``coded`` with the colour fitter's correction ahead of its payload when it sends one: the
        fitter (``colour``) sees the frames in stream order, ``decoded()`` gives the frame's decoded
        scaled latent (asked for only when a fit is due) and ``source`` is the frame as given to the
        analysis, or the fitter's sample of it; ``picture``, when given, is the decoded latent's
        picture as the encoder already synthesized it to weigh the delta (the fit then makes none).
        :meth:`encode_latent` calls it; so does the main process of a worker-process encode
        (:mod:`vidcodec.gopencode`) with the workers' latents."""

        def latent() -> np.ndarray:
            return state_latent(decoded(), self.unit, self.model.gains[coded.level])

        # What a correction must save depends on the rate: the mean bits of the last frames.
        self._bits.append(8 * len(coded.payload))
        bits = sum(self._bits) / len(self._bits)
        correction = (self.colour.key(latent(), source, bits) if coded.kind == KEY
                      else self.colour.delta(latent, source, bits, picture))
        if correction is None:
            return coded
        return EncodedFrame(coded.kind, correction.to_bytes() + coded.payload, coded.level, coded.flags | colour_mod.FLAG)

    def _encode_latent(self, y: np.ndarray, x: np.ndarray | None) -> EncodedFrame:
        self._frame += 1
        if self.rate is not None and (self._prev is None or self._since_key >= self.gop
                                      or self.rate.wants_new_gop()):
            return self._rate_key(y)
        ys = self._scaled(y, self.level)
        if self.refiner is not None and x is not None:
            starts_gop = self._prev is None or self._since_key >= self.gop
            if starts_gop:
                ys = self.refiner.refine(x, ys, self.level)
            else:
                pred = self._prediction(ys)
                ys = self.refiner.refine(x, ys, self.level, (pred / self.unit).astype(np.float32), self.dead_zone,
                                         self._refine_costs(ys, pred))
        if self.coder == "elias":
            return self._encode_qsgd(ys)
        symbols = _symbols(ys)
        if self._prev is None or self._since_key >= self.gop:
            symbols = self._key_rdoq(ys, symbols, self.level)
            return self._commit(EncodedFrame(KEY, self._key_payload(symbols, self.level), self.level), symbols)
        # With and without motion: the lower squared error of the scaled latent + lambda·bits wins
        # (bits as the tables count them: within 0.1 % of the coded size, and only the winner is coded).
        # The candidate without motion is weighed on a worker thread while this one searches for
        # vectors and weighs the moved prediction (numpy and the C++ core release the GIL; the same
        # choice as one after the other: a 1080p delta 45 -> 31 ms on two cores).
        # With a learned predictor (format 10.0) the quarter vectors' bilinear prediction is a third
        # candidate, weighed on the worker too (bit 7 of its block byte tells the decoder).
        def weigh(*args) -> futures.Future | tuple:
            job = _submit(self._candidate, *args) if self.motion_block else None
            return job if job is not None else self._candidate(*args)

        weighed = [weigh(ys, self._prev, 0, b"")]  # in the order of preference among equal costs
        fine = None
        try:
            quarters = self._search(ys)
            if quarters is not None and self.predictor is not None:
                bilinear = motion.predict(self._prev_whole(), quarters, self.motion_block, channels=self.channels)
                weighed.append(weigh(ys, bilinear * self.unit, self.motion_block | subpel.BILINEAR,
                                     motion.encode_vectors(quarters)))
            moved = self._moved(ys, quarters)
            if moved is not None:
                vectors = motion.encode_vectors(moved[1])
                weighed.append(self._candidate(ys, moved[0], self.motion_block, vectors))
                if self.unit > 1 and x is not None and self.fine:
                    fine = self._candidate(ys, self.predictor.predict(self._prev, moved[1], self.motion_block,
                                                                      self.level), self.motion_block | FINE_BIT,
                                           vectors)
        except BaseException:
            # the worker is done with this frame's arrays; this error comes first
            futures.wait([w for w in weighed if isinstance(w, futures.Future)])
            raise
        results = [w.result() if isinstance(w, futures.Future) else w for w in weighed]
        best = min(results, key=lambda result: result[0])  # the first of equal costs, as a strict < keeps
        winner = self._rdoq_winner(ys, *best[1:])
        if fine is not None and fine[0] < min(r[0] for r in results[:-1]):
            winner = self._fine_or_whole(ys, x, self._rdoq_winner(ys, *fine[1:]), winner)
        pred, d, plan, block, vectors = winner
        delta = EncodedFrame(DELTA, self._delta_payload(d, plan, block, vectors, self._split(ys, pred)[0]),
                             self.level)
        # Scene cut or heavy motion: a keyframe is cheaper (and with rate control, a new GOP). The
        # keyframe is coded only when the delta comes near the threshold: a bound from the key
        # tables' bits decides the usual case (coding every frame's keyframe was a quarter of a
        # delta frame's time). Context coding (6-16 %) and the key's RDOQ save far less than the
        # factor 2 of the bound, so the choice is the one the exact sizes make (tested).
        if self._near_key_bound(len(delta.payload), symbols):
            symbols = self._key_rdoq(ys, symbols, self.level)
            key = EncodedFrame(KEY, self._key_payload(symbols, self.level), self.level)
            if len(delta.payload) > self.scene_cut * len(key.payload):
                return self._rate_key(y) if self.rate is not None else self._commit(key, symbols)
        self._since_key += 1
        if self._judged is not None and self._judged[0] is winner:
            self._picture = self._judged[1]
        self._prev = pred + d * self.unit
        self._prev_selectors = plan[2].copy()
        if self.temporal:
            self._temporal = context.temporal_offsets(d[: self.channels])
        return delta

    def _candidate(self, ys: np.ndarray, pred: np.ndarray, block: int, vectors: bytes) -> tuple:
        """A delta from prediction ``pred`` before RDOQ: (cost, pred, residuals, plan, block, vectors),
        the cost being the squared error of the scaled latent + channel_lambda · bits.

        The candidates are ranked by this cost and only the winner gets RDOQ (:meth:`_rdoq_winner`):
        RDOQ and the plan after it were half of a delta's time with three candidates, and the
        ranking after RDOQ was the same in 175 of 177 deltas of diver, bikes and vtest (60 frames
        each, default level), the two others costing under 0.01 % of the frames' summed cost."""
        whole, ys = self._split(ys, pred)
        r, error, nonzero, plain = self._residuals(ys, whole)
        plan = self._delta_plan(r, whole, nonzero, plain)
        cost = error + self._lam() * self.channel_lambda * (plan[0] + 8 * len(vectors))
        return cost, pred, r, plan, block, vectors

    def _prev_whole(self) -> np.ndarray:
        """The state's whole symbols (:func:`whole_symbols`), computed once per state: the motion
        search, the bilinear and the learned prediction all start from them."""
        if self.unit == 1:
            return self._prev
        if self._whole_of is None or self._whole_of[0] is not self._prev:
            self._whole_of = (self._prev, whole_symbols(self._prev, self.unit))
        return self._whole_of[1]

    def _split(self, ys: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A prediction in units of 1/unit as whole symbols (what residual contexts see) and ``ys``
        less the prediction's fraction (what whole residuals are rounded against)."""
        if self.unit == 1:
            return pred, ys
        # Worked out on the level's channels only: past them both are zero (not coded; 40 of the 96
        # channels at the default level)
        k = self.channels
        head = pred[:k]
        every = k == len(pred)
        if not (head & (self.unit - 1)).any():  # whole symbols times unit: an exact shift
            if every:
                return pred >> UNIT_BITS, ys
            whole = np.zeros_like(pred)
            np.right_shift(head, UNIT_BITS, out=whole[:k])
            return whole, ys
        whole_head = whole_symbols(head, self.unit)
        rest_head = ys[:k] - (head - (whole_head << UNIT_BITS)).astype(np.float32) / np.float32(self.unit)
        if every:
            return whole_head, rest_head.astype(np.float32, copy=False)
        whole, rest = np.zeros_like(pred), np.zeros(ys.shape, np.float32)
        whole[:k], rest[:k] = whole_head, rest_head
        return whole, rest

    def _fine_or_whole(self, ys: np.ndarray, x: np.ndarray, fine: tuple, whole: tuple) -> tuple:
        """Of two RDOQ'd deltas (:meth:`_rdoq_winner`), the fine prediction's or the best whole one's,
        by their synthesized pictures against the frame ``x`` (see FINE_KAPPA): the latent's squared
        error cannot choose (runs/encoder-tuning/frac_state.py: it prefers the fraction's smooth
        errors where its pictures lose)."""
        def bits(c: tuple) -> float:
            return c[2][0] + 8 * len(c[4]) + 8

        against = PictureErrors(x)
        synthesize = self._judging()

        def errors(c: tuple) -> tuple[float, float, np.ndarray]:
            state = c[0] + c[1] * self.unit
            picture = synthesize(state_latent(state, self.unit, self.model.gains[self.level]))
            return *against(picture), picture

        # The two pictures side by side, the fine one on the delta worker (ONNX Runtime's lanes run two
        # calls at once, torch's too, and both release the GIL): the frames' coding is the pipeline's
        # one serial stage, and one synthesis after the other kept it waiting twice (351 frames of diver
        # at 640x360 through api.encode, two alternating rounds: 22.7 / 23.1 -> 20.5 / 21.0 s, the same
        # bytes). One call of both (a batch of 2) was no faster with the judge (bikes, 2026-12-05).
        job = _submit(errors, fine)
        try:
            mw, sw, pw = errors(whole)
        except BaseException:
            if job is not None:  # the worker is done with this frame's arrays; this error comes first
                futures.wait([job])
            raise
        mf, sf, pf = job.result() if job is not None else errors(fine)
        rate = self.fine_kappa * (bits(fine) - bits(whole)) / max(self._gop_bits / self._since_key, bits(whole))
        # Both the squared error and the structure (1 - SSIM) must gain: on foliage the fraction's
        # smoother pictures had less squared error and lost MS-SSIM (OpenCV's tree, 30 frames: +3.8 %).
        take = (mf - mw) / mw + rate < -self.fine_margin and (sf - sw) / sw + rate < -self.fine_margin
        self.fine_choices[take] += 1
        # The chosen one with its picture, for the frame's colour fit if one is due (encode_latent): the
        # judge's, in bfloat16 after the first JUDGE_AFTER weighed deltas, about 60 dB from the
        # synthesis's own. Fits on it (the first 150 frames of bikes and Megamind, 30 fits) saved the
        # same share of the frame's squared error to within 0.0006; two of the 30 sent no correction
        # where the exact picture's fit would have sent one saving 0.5 %, the least that is sent.
        self._judged = (fine, pf) if take else (whole, pw)
        return self._judged[0]

    def _judging(self) -> Callable[[np.ndarray], np.ndarray]:
        """What synthesizes the pictures of the delta being weighed: after the first JUDGE_AFTER weighed
        deltas, the model's judging synthesis (CodecModel.judge: in bfloat16 where the CPU runs it
        natively, half the time of the float32 one; built on a thread from the JUDGE_START-th weighed
        delta on, and waited for if not yet there), before it the model's synthesis. Not built at the
        encoder's start: GOP workers, forked after it, never weigh, and a fork must not catch a
        thread in torch's import. The switch depends on the frames alone, never on timing, so an
        encoder writes the same bytes on every run."""
        self._weighed += 1
        if self._weighed == JUDGE_START:
            self.model.prepare_judge()
        return self.model.judge if self._weighed > JUDGE_AFTER else self.model.synthesize

    def _lam(self) -> float:
        """The delta_lambdas factor of the delta being coded (the _since_key-th after its keyframe;
        _since_key moves only once the frame is coded), times the rate controller's factor."""
        factor = self.delta_lambdas[self._since_key % len(self.delta_lambdas)]
        return factor * self.rate.lam if self.rate is not None else factor

    def _rdoq_winner(self, ys: np.ndarray, pred: np.ndarray, r: np.ndarray, plan: tuple, block: int,
                     vectors: bytes) -> tuple:
        """The chosen candidate with RDOQ applied to its residuals (in place) and its plan redone if
        anything changed: (pred, residuals, plan, block, vectors)."""
        whole, ys = self._split(ys, pred)
        if self.rdoq and self.coder == "ans" and self._rdoq(ys - whole, r, plan):
            plan = self._delta_plan(r, whole)
        return pred, r, plan, block, vectors

    def _near_key_bound(self, delta_bytes: int, symbols: np.ndarray) -> bool:
        """Whether a delta of ``delta_bytes`` passes half the scene-cut share of the bytes ``symbols``
        take as a keyframe with the key tables. A lower bound of those bytes from the count of
        non-zero symbols alone (:meth:`IntTables.floor_bits`: within 2-22 % of them on bikes, vtest
        and diver, 20 frames, levels 2, 5, 8) settles nearly every delta, so the exact count (a
        1080p delta's 2.3 ms) is made only near the threshold: the same answer either way."""
        floor = self.model.key_tables[self.level].floor_bits(symbols[: self.channels]) / 8
        if delta_bytes <= 0.5 * self.scene_cut * floor:
            return False
        return delta_bytes > 0.5 * self.scene_cut * self._key_table_bytes(symbols)

    def _key_table_bytes(self, symbols: np.ndarray) -> float:
        """Bytes of ``symbols`` as a keyframe at the current level with the model's key tables."""
        return self._key_table_bits(symbols[: self.channels], self.level) / 8

    def _key_table_bits(self, symbols: np.ndarray, level: int) -> float:
        """Bits of a keyframe's symbols (K,h,w) with the level's per-channel key tables (escapes as their
        marker only)."""
        # all channels at once (IntTables.bits, one channel at a time, was 1.7 ms of a 640x360 delta)
        return self.model.key_tables[level].row_bits(symbols)

    def _prediction(self, ys: np.ndarray) -> np.ndarray:
        """The prediction of ``ys`` with motion (integer symbols; the previous ones when none move)."""
        moved = self._motion(ys)
        return self._prev if moved is None else moved[0]

    def _motion(self, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The previous symbols moved block by block toward ``ys`` and the vectors, or None when motion
        is off or no block moves (all-zero vectors: the plain prediction, with no vector section)."""
        return self._moved(ys, self._search(ys))

    def _search(self, ys: np.ndarray) -> np.ndarray | None:
        """The quarter vectors of the C++ search (bilinear prediction), None with motion off."""
        if not self.motion_block:
            return None
        k = self._search_channels
        return motion.search(ys[:k], self._prev_whole()[:k], self.motion_block, self.motion_lambda)

    @property
    def _search_channels(self) -> int:
        """The searches compare the first channels only (the ladder orders them by importance): on
        diver (20 frames, default level, 56 channels) 24 or 12 of them cost 0.7 or 1.3 % more delta
        bits than all 56, and half the time."""
        return min(self.channels, motion.SEARCH_CHANNELS)

    def _moved(self, ys: np.ndarray, v: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The prediction from quarter vectors ``v`` (with a learned predictor: refined to sixteenths
        and predicted with it), or None when no block moves."""
        if v is None:
            return None
        if self.predictor is None:
            return (motion.predict(self._prev, v, self.motion_block, channels=self.channels), v) if v.any() else None
        k = self._search_channels
        prev = self._prev_whole()
        v = self.predictor.refine(ys[:k], prev, v, self.motion_block, self.motion_lambda, self.level)
        return (self.predictor.predict(prev, v, self.motion_block, self.level) * self.unit, v) if v.any() else None

    def _refine_costs(self, ys: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Per channel, the bits of residual values −W..W under the residual table the delta plan
        picks for ``ys`` (C, 2W+1); channels the plan leaves unchanged get the table row 0."""
        whole, ys = self._split(ys, pred)
        d, _, nonzero, plain = self._residuals(ys, whole)
        plan = self._delta_plan(d, whole, nonzero, plain)
        rows = np.maximum(plan[2].astype(np.int64) - 1, 0)
        costs = np.zeros((ys.shape[0], self._delta_cost.shape[1]), np.float32)
        costs[: len(rows)] = self._delta_cost[rows]
        return costs

    def _residuals(self, ys: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray | None]:
        """Integer residuals to send for prediction ``pred`` of the scaled latent ``ys`` (float32; dead
        zone, channel choice), the squared error of ``ys`` they leave, each channel's count of non-zero
        residuals and the channel choice's (C, rows) bits of each channel with each table (None
        without a channel choice; a dropped channel's row is what it cost before it was dropped).
        The C++ core rounds and sums in one pass (:func:`residuals_numpy` is the definition)."""
        # A residual is sent only past 0.5 + dead_zone: small changes (noise, flicker) stay unsent.
        # Measured on training clips (40 frames, all levels): 0.4 saves 4-7 % BD-rate against 0.2,
        # 0.0 costs 30-46 %, 0.6 and more lose quality faster than they save bits. Re-checked with
        # format 8.0's temporal context (20 frames of four training clips, runs/encoder-tuning/
        # sweep.py): 0.3 and 0.5 within -0.6 ... +0.8 % of 0.4 on PSNR and MS-SSIM BD-rate.
        # on the level's channels (past them ys and pred are zero, so are the residuals and their sums)
        k = self.channels
        head = _native.delta_residuals(np.ascontiguousarray(ys[:k], dtype=np.float32),
                                       np.ascontiguousarray(pred[:k], dtype=np.int64), 0.5 + self.dead_zone, MAX_ESCAPE)
        if k == len(ys):
            return self._choose_channels(*head)
        d, sq_r, sq_kept, nonzero = (np.zeros((len(ys), *a.shape[1:]), a.dtype) for a in head)
        for full, part in zip((d, sq_r, sq_kept, nonzero), head):
            full[:k] = part
        return self._choose_channels(d, sq_r, sq_kept, nonzero)

    def _choose_channels(self, d: np.ndarray, sq_r: np.ndarray, sq_kept: np.ndarray,
                         nonzero: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray | None]:
        """:meth:`_residuals` after the rounding: the channel choice on residuals ``d`` whose channels
        leave the squared errors ``sq_kept`` (``sq_r`` unchanged) and have ``nonzero`` non-zero values."""
        plain = None
        if self.channel_lambda > 0:
            dropped, plain = self._drop_channels(d, sq_r - sq_kept, nonzero)
            sq_kept[dropped] = sq_r[dropped]
            nonzero[dropped] = 0
        return d, float(sq_kept.sum()), nonzero, plain

    def _rdoq(self, residual: np.ndarray, d: np.ndarray, plan: tuple[float, np.ndarray | None, np.ndarray]) -> bool:
        """Rate-distortion choice of each sent residual (in place): one step toward zero when the squared
        error it adds is under ``rdoq_lambda`` times the bits it saves with the table the plan gives
        the position (the contexts of its neighbours taken as planned). True if anything changed.
        Against none, on training clips (30 frames, all levels): −1.2 … −2.8 % PSNR BD-rate, λ 0.2
        better than 0.1 or 0.4; held-out clips: −4.1 … +0.2 % PSNR, −4.2 … +2.7 % MS-SSIM."""
        _, ctx, selectors = plan
        # The residual tables' costs even where format 9.0 codes oriented values: a choice that also
        # saw the sign's cost dropped more of the residuals that move a latent away from zero (new
        # content, whose error the following deltas inherit) and did worse on three of four clips
        # (30 frames, every level, against this rule: bikes +0.5 / +0.7 %, carphone +0.2 / +0.4 %,
        # vtest 0.0 / 0.0 %, diver -0.1 / -0.3 % PSNR / MS-SSIM BD-rate).
        n_rows, cost = len(self.residuals), self._delta_cost
        changed = False
        for ch in np.flatnonzero(selectors):
            q = d[ch]
            at = np.flatnonzero(q)
            if not at.size:
                continue
            sel = int(selectors[ch])
            rows = context.rows(sel, ctx[ch].ravel()[at], n_rows) if ctx is not None else np.full(at.size, sel)
            old = q.ravel()[at]
            new = old - np.sign(old)
            res = residual[ch].ravel()[at]
            bits_old = cost[rows, np.clip(old, -_WINDOW, _WINDOW) + _WINDOW]
            bits_new = cost[rows, np.clip(new, -_WINDOW, _WINDOW) + _WINDOW]
            added = self._error_weights(ch, at) * ((res - new) ** 2 - (res - old) ** 2)
            gain = added + self._lam() * self.rdoq_lambda * (bits_new - bits_old)
            take = gain < 0
            if take.any():
                flat = q.reshape(-1)
                flat[at[take]] = new[take]
                changed = True
        return changed

    def _error_weights(self, channel: int | None, at: np.ndarray | int) -> float | np.ndarray:
        """What the RDOQ choices weigh a squared error of the scaled latent by: 1 (a hook for encoder
        experiments, e.g. runs/encoder-tuning/persistence.py). ``channel`` and the flat positions
        ``at`` of a delta's residuals, or None and the channel count of a keyframe's symbols."""
        return 1.0

    def _drop_channels(self, d: np.ndarray, gain: np.ndarray, nonzero: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rate-distortion choice per channel (in place; returns which channels it dropped, and the
        (channels, rows) bits of each channel's residuals with each delta table): a channel
        whose residuals ``d`` lower the squared error of the scaled latent by less (``gain``, per
        channel) than ``channel_lambda`` per bit they cost is left unchanged.
        Measured on training clips (30 frames, all levels) against no choice: lambda 0.2 saves
        0-12 % PSNR and 3-19 % MS-SSIM BD-rate; 0.1 saves less, 0.4 loses on some clips. Re-checked with
        the format 5.0 residual tables (30 frames of motion.mov, wannaworktogether, carphone; PSNR
        BD-rate against 0.2): 0.1 +2.2 … +6.4 %, 0.3 −2.6 … +2.2 %; dead zone 0.3 / 0.5 within
        −1.3 … +1.3 % of 0.4. Both kept. Re-checked with format 8.0 (20 frames of four training clips):
        0.15 −0.6 … +1.5 %, 0.3 −0.8 … +2.4 % against 0.2 (runs/encoder-tuning/sweep.py)."""
        c = self.channels
        flat = d[:c].reshape(c, -1)
        costs = self._channel_costs(flat)[:, 1:]
        # A coded channel also pays for its selector: with format 7.0's selector table a zero costs a
        # fraction of a bit and a coded one 4-8 bits; from 13.0 each channel's row of the table its last
        # selector picks (a channel that changed in the last delta pays less to change again).
        sel = self._selector_costs()
        bits = costs.min(axis=1) + sel[np.arange(c), 1 + costs.argmin(axis=1)] - sel[:, 0]
        dropped = np.zeros(d.shape[0], dtype=bool)
        dropped[:c] = (gain[:c] < self._lam() * self.channel_lambda * bits) & (nonzero[:c] > 0)
        flat[dropped[:c]] = 0
        return dropped, costs

    def _selector_costs(self) -> np.ndarray:
        """(C, rows) bits of each channel's selector values in the delta being coded."""
        if not self.selector_context:
            return np.broadcast_to(self._selector_bits, (self.channels, len(self._selector_bits)))
        return self._selector_row_bits[context.selector_rows(self._prev_selectors, self.channels)]

    def _channel_costs(self, flat: np.ndarray) -> np.ndarray:
        """(C, rows) bits of each channel's residuals with each delta table."""
        hist = _native.histograms(np.ascontiguousarray(flat, dtype=np.int64), None, 1, _WINDOW)
        hist = hist.reshape(flat.shape[0], -1).astype(np.float64)
        return hist @ self._delta_cost.T

    def _rate_key(self, y: np.ndarray) -> EncodedFrame:
        """A keyframe at the level the rate controller picks from the exact key sizes at every level."""
        keys = self.key_payloads(y)
        self.set_level(self.rate.choose([8 * len(payload) for payload, _ in keys]))
        payload, symbols = keys[self.level]
        return self._commit(EncodedFrame(KEY, payload, self.level), symbols)

    def _encode_qsgd(self, ys: np.ndarray) -> EncodedFrame:
        c = self.channels
        flat = ys[:c].reshape(c, -1)
        # Key and delta candidates of one frame draw from distinct dither streams.
        norms, q = qsgd.quantize_rows(flat, self.latent_bits, self.stream_seed, 2 * self._frame)
        key = EncodedFrame(KEY, self._qsgd_payload(norms, q), self.level)
        state = np.zeros_like(ys)
        state[:c] = qsgd.dequantize_rows(norms, q, self.latent_bits).reshape(c, *ys.shape[1:])
        if self._prev is None or self._since_key >= self.gop:
            return self._commit(key, state)
        norms, q = qsgd.quantize_rows(flat - self._prev[:c].reshape(c, -1), self.latent_bits, self.stream_seed,
                                      2 * self._frame + 1)
        delta = EncodedFrame(DELTA, self._qsgd_payload(norms, q), self.level)
        if len(delta.payload) > self.scene_cut * len(key.payload):
            return self._commit(key, state)
        self._since_key += 1
        self._prev = self._prev.copy()
        self._prev[:c] += qsgd.dequantize_rows(norms, q, self.latent_bits).reshape(c, *ys.shape[1:])
        return delta

    def _qsgd_payload(self, norms: np.ndarray, q: np.ndarray) -> bytes:
        w = SymbolWriter("elias")
        w.put(None, 0, q)
        return bytes([self.level, self.latent_bits]) + norms.astype("<f4").tobytes() + w.finish()

    def _commit(self, key: EncodedFrame, symbols: np.ndarray) -> EncodedFrame:
        self._prev = symbols * self.unit
        self._prev_selectors = None
        if self.temporal:
            self._temporal = np.int32(context.N_CONTEXTS)  # t = 0: no delta before this one
        self._since_key = 1
        return key

    def _key_payload(self, symbols: np.ndarray, level: int) -> bytes:
        k = self.model.level_channels[level]
        plan = self._key_plan(symbols[:k], level) if self.context_coding and self.coder == "ans" else None
        w = SymbolWriter(self.coder, compact=self.compact, lean=self.lean)
        if plan is None:
            tables = self.model.key_tables[level]
            for c in range(k):
                w.put(tables, c, symbols[c])
        else:
            ctx, selectors = plan
            ladder = self.model.delta_tables
            w.put_uniform(len(ladder), selectors)
            for c in range(k):
                context.code_key_channel(lambda row, values: w.put(ladder, row, values), int(selectors[c]),
                                         symbols[c], ctx[c], len(ladder))
        if self.lean:
            return bytes([level | (plan is not None) << 7]) + w.finish()
        return bytes([level, plan is not None]) + w.finish()

    def _key_rdoq(self, ys: np.ndarray, symbols: np.ndarray, level: int) -> np.ndarray:
        """Rate-distortion choice of a keyframe's symbols (in place, and returned): each non-zero one
        steps toward zero when the squared error it adds is under ``key_rdoq_lambda`` times the bits
        it saves with the table its context gives it (contexts as the rounded symbols give them).
        Only for context-coded keys; the decoder sees ordinary symbols. Chosen on training clips
        against plain rounding (PSNR / MS-SSIM BD-rate, all levels): intra (6 frames of five clips)
        λ 0.03 −7.1 … +4.3 % (mean −1.5 %) / −1.7 … −4.7 % (mean −2.9 %), 0.05 mean −1.5 / −3.5 % but
        +7.0 % PSNR on movie-hello, 0.1 and 0.2 worse; video (20 frames, gop 250, four clips) 0.03
        −6.0 … +0.1 % / −0.7 … −2.9 % (runs/encoder-tuning/sweep.py)."""
        k = self.model.level_channels[level]
        if not self.key_rdoq_lambda > 0 or not self.context_coding or self.coder != "ans":
            return symbols
        plan = self._key_plan(symbols[:k], level)
        if plan is None:
            return symbols
        ctx, selectors = plan
        rows = context.key_rows(selectors[:, None, None], ctx, len(self.model.delta_tables))
        v, x, cost = symbols[:k], ys[:k], self._key_value_cost
        new = v - np.sign(v)
        bits_old = cost[rows, np.clip(v, -_WINDOW, _WINDOW) + _WINDOW]
        bits_new = cost[rows, np.clip(new, -_WINDOW, _WINDOW) + _WINDOW]
        added = self._error_weights(None, k) * ((x - new) ** 2 - (x - v) ** 2)
        take = (v != 0) & (added + self.key_rdoq_lambda * (bits_new - bits_old) < 0)
        v[take] = new[take]
        return symbols

    def _key_plan(self, symbols: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Contexts and per-channel selectors when context-adaptive coding of a keyframe's symbols (K,h,w)
        is estimated to cost fewer bits than the model's key tables, else None."""
        k = symbols.shape[0]
        plain = self._key_table_bits(symbols, level)
        ctx = context.key_contexts(symbols).reshape(k, -1)
        bits = _context_bits(symbols.reshape(k, -1), ctx, self._key_context_cost)
        selectors = np.argmin(bits, axis=1)
        if bits.min(axis=1).sum() + k * np.log2(len(self.model.delta_tables)) >= plain:
            return None
        return ctx.reshape(symbols.shape), selectors

    def _delta_plan(self, d: np.ndarray, pred: np.ndarray, nonzero: np.ndarray | None = None,
                    plain: np.ndarray | None = None) -> tuple[float, np.ndarray | None, np.ndarray]:
        """How a delta's residuals are best coded: estimated bits of its residuals, their contexts if
        they are context-coded (else None), and each channel's selector (0: unchanged); ``nonzero``:
        each channel's count of non-zero residuals, and ``plain``: the (channels, rows) bits of each
        channel with each delta table (of channels not all zero), if known."""
        c = self.channels
        flat = d[:c].reshape(c, -1)
        coded = flat.any(axis=1) if nonzero is None else nonzero[:c] > 0
        if plain is None:
            plain = self._channel_costs(flat)[:, 1:]
        plain_bits = float(plain.min(axis=1)[coded].sum())
        if self.context_coding and coded.any():
            ctx = context.contexts(d[:c], pred[:c], self._temporal)
            ctx_bits, ctx_sel = self._context_costs(d[:c], ctx, coded, pred[:c] if self.oriented else None)
            if ctx_bits < plain_bits:
                ctx_sel[~coded] = 0
                return ctx_bits, ctx, ctx_sel
        selectors = 1 + np.argmin(plain, axis=1)
        selectors[~coded] = 0
        return plain_bits, None, selectors

    def _delta_payload(self, d: np.ndarray, plan: tuple[float, np.ndarray | None, np.ndarray],
                       block: int = 0, vectors: bytes = b"", pred: np.ndarray | None = None) -> bytes:
        """A delta's payload; ``pred``: its prediction (needed from 9.0 when the plan context-codes)."""
        _, ctx, selectors = plan
        flat = d[: self.channels].reshape(self.channels, -1)
        tables = self.residuals
        n_rows = len(tables)
        w = SymbolWriter(self.coder, compact=self.compact, lean=self.lean)
        if self.selector_context:
            for row, channels in context.selector_groups(self._prev_selectors, self.channels):
                w.put_freqs(context.SELECTOR_FREQS_AFTER[row], selectors[channels])
        elif self.compact:
            w.put_freqs(context.SELECTOR_FREQS, selectors)
        else:
            w.put_uniform(n_rows, selectors)
        if ctx is not None:
            coded = self._coded_tables
            for ch in np.flatnonzero(selectors):
                context.code_channel(lambda row, values: w.put(coded, row, values), int(selectors[ch]), d[ch],
                                     ctx[ch], n_rows, pred[ch] if self.oriented else None)
        else:
            for ch in np.flatnonzero(selectors):
                w.put(tables, int(selectors[ch]), flat[ch])
        if self.lean:
            return bytes([block | (ctx is not None) * CONTEXT_BIT]) + vectors + w.finish()
        head = bytes([self.level, block])
        if block:
            head += (varint.encode(len(vectors)) if self.compact else len(vectors).to_bytes(4, "little")) + vectors
        return head + bytes([ctx is not None]) + w.finish()

    def _context_costs(self, d: np.ndarray, contexts: np.ndarray, coded: np.ndarray,
                       pred: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Bits of the coded channels' residuals ``d`` (K,h,w) with context-adaptive tables (oriented by
        their prediction ``pred`` if given, format 9.0), and each channel's best selector."""
        selectors = np.zeros(d.shape[0], dtype=np.int64)
        k = d.shape[0]
        bits = _context_bits(d.reshape(k, -1), contexts.reshape(k, -1), self._context_cost, np.flatnonzero(coded),
                             None if pred is None else pred.reshape(k, -1))
        selectors[coded] = 1 + np.argmin(bits, axis=1)
        return float(bits.min(axis=1).sum()), selectors


class FrameDecoder:
    """Stateful per-stream decoder: payloads → integer latents → frames."""

    def __init__(self, model: CodecModel, latent_shape: tuple[int, int, int], coder: str = "ans",
                 major: int = FORMAT_MAJOR, predictor: Predictor | None = None) -> None:
        if latent_shape[0] != model.latent_channels:
            raise CorruptPacketError(
                f"stream has {latent_shape[0]} latent channels but model {model.name} has "
                f"{model.latent_channels}"
            )
        self.model = model
        self.shape = latent_shape
        self.coder = coder
        # The stream's major format version fixes the delta layout: 2.0 added the motion section,
        # 3.0 the delta context flag, 4.0 the key context flag, 5.0 the format's residual tables, 7.0
        # varint lengths and coded delta selectors, 8.0 the temporal residual context, 9.0 oriented
        # residuals; older streams read without them. 6.0 changed only GAN-mode streams (feature space).
        if not 1 <= major <= FORMAT_MAJOR:
            raise UsageError(f"format major version {major} is not one this decoder reads (1 to {FORMAT_MAJOR})")
        self.motion = major >= 2
        self.context = major >= 3
        self.key_context = major >= 4
        self.residuals = residual_tables() if major >= 5 else model.delta_tables
        self.compact = major >= 7  # varint lengths, delta selectors with context.SELECTOR_FREQS
        self.temporal = major >= 8  # residual contexts also from the previous delta's residuals
        self.oriented = major >= 9  # context-coded residuals oriented by their prediction's sign
        self.lean = major >= LEAN_MAJOR and coder == "ans"  # 12.0 payloads (see decode_symbols)
        self.selector_context = major >= SELECTOR_MAJOR and coder == "ans"  # 13.0: context.SELECTOR_FREQS_AFTER
        self._prev_selectors: np.ndarray | None = None  # the previous delta's selectors (None after a key)
        self._coded_tables = signed_residual_tables() if self.oriented else self.residuals
        if predictor is not None and major < 10:
            raise UsageError("a learned sub-pixel predictor needs a format 10.0 stream")
        # format 10.0 streams naming a predictor table: sixteenth vectors (weights from the stream's gains)
        self.predictor = predictor.for_major(major) if predictor is not None else None
        # 14.0: a delta head's block side is bits 0-4, bit 5 the fine flag; with a predictor the state
        # (what decode_symbols returns) is in sixteenths of a symbol.
        self.fine = self.lean and major >= FINE_MAJOR
        self.unit = UNIT if self.fine and predictor is not None else 1
        self._prev: np.ndarray | None = None  # the decoded state (scaled latent times unit)
        self._prev_residual: np.ndarray | None = None  # the previous delta's residuals (None after a key)
        self._prev_level: int | None = None

    def decode_symbols(self, kind: str, payload: bytes) -> tuple[np.ndarray, int]:
        """Scaled latent (C,h,w) times ``unit`` and level of a packet (integers with ANS); deltas need
        a previous frame. From format 12.0 (ANS) a key's first byte holds its level (bits 0-6) and
        context flag (bit 7), and a delta's level is the previous frame's (see :meth:`_delta_head`);
        from 14.0 with a predictor the integers count sixteenths of a symbol (``unit`` 16)."""
        if len(payload) < 1:
            raise CoderError("empty payload")
        data = memoryview(payload)
        if self.lean and kind == DELTA:
            if self._prev is None:
                raise CoderError("delta packet without its reference frame (join at a keyframe)")
            level = self._prev_level
        else:
            level = payload[0] & 0x7F if self.lean else payload[0]
            if level >= self.model.levels:
                raise CoderError(f"level {level} is not one of this model's {self.model.levels} levels")
        if kind not in (KEY, DELTA):
            raise CoderError(f"unknown packet kind {kind!r}")
        if kind == DELTA and (self._prev is None or self._prev_level != level):
            raise CoderError("delta packet without its reference frame (join at a keyframe)")
        if self.coder == "elias":
            state = self._decode_qsgd(payload)
            if kind == DELTA:
                state = self._prev + state
        elif kind == KEY:
            state = self._decode_key(level, data[1:], bool(payload[0] >> 7) if self.lean else None)
            if self.unit > 1:
                state = state * self.unit
            self._prev_residual = None
            self._prev_selectors = None
        else:
            pred, rest, use_context = self._delta_head(level, data)
            residual = self._decode_ans(kind, level, rest, whole_symbols(pred, self.unit) if use_context else None)
            state = pred + residual if self.unit == 1 else pred + residual * self.unit
            self._prev_residual = residual
        self._prev = state
        self._prev_level = level
        return state, level

    def _delta_head(self, level: int, data: memoryview) -> tuple[np.ndarray, memoryview, bool]:
        """A delta's prediction, the payload after its motion section and context flag, and the flag.
        Before 12.0: level byte, block byte, motion section (with its length), context byte; from 12.0
        the first byte is the block byte with the context flag in bit 6, and no length follows."""
        if self.lean:
            block = data[0] & ~CONTEXT_BIT
            if self.predictor is None and block & subpel.BILINEAR:
                raise CoderError("delta head with the bilinear flag in a stream without a predictor table: "
                                 "the packet is damaged")
            fine = False
            if self.fine:  # 14.0: bit 5 keeps the learned prediction's fraction
                fine = bool(block & FINE_BIT)
                block &= ~FINE_BIT
                if fine and (self.predictor is None or block & subpel.BILINEAR or not block):
                    raise CoderError("delta head with the fine flag but no learned prediction: the packet is damaged")
            pred, rest = self._motion_prediction(level, block, data[1:], fine)
            return pred, rest, bool(data[0] & CONTEXT_BIT)
        pred, rest = self._prediction(level, data[1:])
        use_context = False
        if self.context:
            if len(rest) < 1 or rest[0] > 1:
                raise CoderError("delta payload without a valid context flag: the packet is damaged")
            use_context, rest = bool(rest[0]), rest[1:]
        return pred, rest, use_context

    def _decode_qsgd(self, payload: bytes) -> np.ndarray:
        full, h, w = self.shape
        c = self.model.level_channels[payload[0]]
        if len(payload) < 2 + 4 * c:
            raise CoderError("Elias payload too short for its channel norms: the packet is damaged")
        bits = payload[1]
        if not qsgd.MIN_BITS <= bits <= qsgd.MAX_BITS:
            raise CoderError(f"invalid QSGD bit depth {bits}: the packet is damaged")
        norms = np.frombuffer(payload, dtype="<f4", count=c, offset=2)
        section = memoryview(payload)[2 + 4 * c :]
        # n_values must be K.h.w (checked before anything is decoded: a forged count up to 8 x the
        # section's bytes would have made the decoder unpack that many values), and the levels end the
        # payload, as the writer leaves them
        if len(section) >= 4 and struct.unpack_from("<I", section)[0] != c * h * w:
            raise CoderError(f"Elias payload counts {struct.unpack_from('<I', section)[0]} values where its level "
                             f"codes K.h.w = {c * h * w}: the packet is damaged")
        reader = SymbolReader(section, "elias")
        q = reader.get(None, 0, c * h * w)
        if reader.consumed != len(section):
            raise CoderError("bytes after an Elias payload's levels: the packet is damaged")
        out = np.zeros((full, h * w), dtype=np.float32)
        out[:c] = qsgd.dequantize_rows(norms, q.reshape(c, h * w), bits)
        return out.reshape(full, h, w)

    def _prediction(self, level: int, data: memoryview) -> tuple[np.ndarray, memoryview]:
        """A delta's prediction of the symbols (the previous ones, moved by its motion vectors if it has
        them) and the rest of the payload after the motion section (formats before 12.0: the block
        byte, then the section's length)."""
        if not self.motion:
            return self._prev, data
        if len(data) < 1:
            raise CoderError("delta payload too short for its motion block size: the packet is damaged")
        return self._motion_prediction(level, data[0], data[1:])

    def _motion_prediction(self, level: int, block: int, data: memoryview,
                           fine: bool = False) -> tuple[np.ndarray, memoryview]:
        """The prediction (times ``unit``) of a delta whose block byte is ``block`` and whose motion
        section (if any) starts ``data``, and the rest of ``data``; ``fine``: the learned prediction
        from the state in sixteenths, its fraction kept (14.0)."""
        if block == 0:
            return self._prev, data
        if self.lean:  # 12.0: the codes delimit themselves
            size, start = None, 0
        elif self.compact:
            size, start = varint.decode(data, 0, "motion section length")
        elif len(data) < 4:
            raise CoderError("delta payload too short for its motion section: the packet is damaged")
        else:
            size, start = int.from_bytes(data[0:4], "little"), 4
        if size is not None and size > len(data) - start:
            raise CoderError(f"motion section of {size} bytes overruns the delta payload: the packet is damaged")
        _, h, w = self.shape
        bilinear = self.predictor is None or bool(block & subpel.BILINEAR)
        if self.predictor is not None:
            block &= subpel.BILINEAR - 1  # bit 7: this delta's vectors are quarters, bilinear (format 10.0)
            if not block:
                raise CoderError("delta motion block size 0 with the bilinear flag: the packet is damaged")
        rows, cols = motion.grid(h, w, block)
        limit = motion.MAX_VECTOR if bilinear else subpel.MAX_VECTOR
        if size is None:
            vectors, size = motion.decode_vectors_prefix(data, rows, cols, limit)
        else:
            vectors = motion.decode_vectors(data[start : start + size], rows, cols, limit)
        prev = self._prev if fine else whole_symbols(self._prev, self.unit)
        if bilinear:
            pred = motion.predict(prev, vectors, block, channels=self.model.level_channels[level])
        else:
            pred = self.predictor.predict(prev, vectors, block, level)
        if self.unit > 1 and not fine:
            pred = pred * self.unit
        return pred, data[start + size :]

    def _decode_key(self, level: int, data: memoryview, use_context: bool | None = None) -> np.ndarray:
        """A key's symbols: with the model's key tables, or (format 4.0, context flag 1) context-adaptive;
        ``use_context``: the flag when the caller has read it (12.0), else it is ``data``'s first byte."""
        if not self.key_context:
            return self._decode_ans(KEY, level, data)
        if use_context is None:
            if len(data) < 1 or data[0] > 1:
                raise CoderError("key payload without a valid context flag: the packet is damaged")
            use_context, data = bool(data[0]), data[1:]
        if not use_context:
            return self._decode_ans(KEY, level, data)
        full, h, w = self.shape
        r = SymbolReader(data, self.coder, self.compact, self.lean, self._most_symbols(level))
        ladder = self.model.delta_tables
        n_rows = len(ladder)
        selectors = r.get_uniform(n_rows, self.model.level_channels[level])
        out = np.zeros((full, h, w), dtype=np.int64)
        for ch, selector in enumerate(selectors):
            before = np.abs(out[max(ch - 2, 0) : ch]).sum(axis=0)  # the two channels before (zeros at 0)
            out[ch] = context.decode_key_channel(lambda row, count: r.get(ladder, row, count), int(selector),
                                                 before, n_rows)
        return out

    def _decode_ans(self, kind: str, level: int, section: memoryview, pred: np.ndarray | None = None) -> np.ndarray:
        """A key's symbols or a delta's residuals; ``pred``: the delta's prediction when its residuals are
        context-coded."""
        full, h, w = self.shape
        c = self.model.level_channels[level]
        r = SymbolReader(section, self.coder, self.compact, self.lean, self._most_symbols(level))
        out = np.zeros((full, h * w), dtype=np.int64)
        if kind == KEY:
            tables = self.model.key_tables[level]
            for ch in range(c):
                out[ch] = r.get(tables, ch, h * w)
            return out.reshape(full, h, w)
        tables = self.residuals
        if self.selector_context:
            selectors = np.zeros(c, dtype=np.int64)
            for row, channels in context.selector_groups(self._prev_selectors, c):
                selectors[channels] = r.get_freqs(context.SELECTOR_FREQS_AFTER[row], len(channels))
            self._prev_selectors = selectors
        elif self.compact:
            selectors = r.get_freqs(context.SELECTOR_FREQS, c)
        else:
            selectors = r.get_uniform(len(tables), c)
        if pred is None:
            for ch in np.flatnonzero(selectors):
                out[ch] = r.get(tables, int(selectors[ch]), h * w)
            return out.reshape(full, h, w)
        out = out.reshape(full, h, w)
        coded = self._coded_tables
        activity = np.zeros((h, w), dtype=np.int64)
        prev = self._prev_residual

        def get(row: int, count: int) -> np.ndarray:
            return r.get(coded, row, count)

        for ch in np.flatnonzero(selectors):
            temporal = None
            if self.temporal:  # after a keyframe t = 0 everywhere
                temporal = np.int32(context.N_CONTEXTS) if prev is None else context.temporal_offsets(prev[ch])
            context.decode_channel_into(out[ch], get, int(selectors[ch]), activity, pred[ch], len(tables), temporal,
                                        self.oriented)
        return out

    def _most_symbols(self, level: int) -> int:
        """The most symbols a key or delta section holds at ``level``: its K selectors and K·h·w values
        (a 12.0 section's escape count must not exceed it)."""
        _, h, w = self.shape
        k = self.model.level_channels[level]
        return k + k * h * w

    def latent(self, symbols: np.ndarray, level: int) -> np.ndarray:
        """Latent (1,C,h,w) float32 for the synthesis transform: the state (:meth:`decode_symbols`)
        divided by ``unit`` and the gains."""
        return state_latent(symbols, self.unit, self.model.gains[level])
