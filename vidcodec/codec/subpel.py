"""Learned sub-pixel prediction of integer latents (VAE-GAN delta frames, format 10.0).

The analysis transform has a stride of 16 and is not shift-equivariant below it: a frame moved by
4 pixels does not have the latent moved by a quarter of a latent pixel, and bilinear interpolation
of the symbols (:mod:`.motion`, formats 2.0–9.x) predicts it badly. A model's *predictor table*
holds, for each of the 15 non-zero quarter phases (fx, fy) in 0..3, a linear map from the 2×2
neighbourhood of all C channels of the previous latent to each channel of the moved one, fitted by
least squares on real photos (:mod:`vidcodec.train.subpel`); on held-out photos it has 6–14× less
error than bilinear interpolation.

Prediction (exact integer arithmetic, the same on every machine):

* Vectors (dx, dy) are in sixteenths of a latent pixel (one frame pixel), |component| ≤ 256.
* At a delta's level with gains g and K coded channels, the integer weights of phase p are
  ``W_p[i, t·K + j] = clip(rint(g[i] · A_p[i, t·C + j] / g[j] · 2^16), ±2^24)`` for outputs
  i < K, taps t = 0..3 (the samples at (y, x), (y, x+1), (y+1, x), (y+1, x+1)) and inputs j < K;
  A_p is the table's float32 map, and g[i]·A (a float32 × float32 product) is exact in float64, the
  division and ``rint`` (half to even) are IEEE float64 operations, so W_p is the same everywhere
  once g is. From format 15.0 g is :func:`format_gains`: exp(log_gain) rounded to binary64, then
  to binary32, computed exactly. Streams of 10.0-14.x used numpy's float32 ``exp``, which is not
  correctly rounded and differs between its SIMD paths (x86-64's AVX2/AVX-512 path and its
  baseline disagree in 296 of vaegan-i's 768 gains, by an ulp), so a machine whose numpy takes
  another path derived other weights in rare places; :meth:`Predictor.for_major` keeps those
  streams' weights as they were made (on x86-64 with AVX2 or AVX-512).
* Samples are the previous symbols clipped to ±2^15, with edge samples past the borders.
* A quarter position (qx, qy) = (ix·4 + fx, iy·4 + fy) predicts ``Q = W_(fx,fy) · taps(y+iy, x+ix)``,
  and for fx = fy = 0 ``Q = 2^16 · sample(y+iy, x+ix)``.
* A vector (dx, dy) = (4·qx + rx, 4·qy + ry) blends the four quarter positions around it:
  ``S = (4−rx)(4−ry)·Q(qx, qy) + rx(4−ry)·Q(qx+1, qy) + (4−rx)ry·Q(qx, qy+1) + rx·ry·Q(qx+1, qy+1)``
  and the prediction is ``floor((S + 2^19) / 2^20)``. |S| < 2^52, so float64 sums of these integer
  products are exact in any order (the implementation uses BLAS in float64).

Channels K..C-1 of the prediction are zero. A delta whose block byte has bit 7 set
(:data:`BILINEAR`; block side = the low 7 bits) uses quarter vectors and bilinear prediction
instead, as without a table: the encoder weighs both (where the motion is not a translation, the
smoother bilinear prediction can be the better one). The encoder's search (``refine``) is free to
change: it refines the quarter vectors of :func:`motion.search` over the 9×9 sixteenths around each.
"""

from __future__ import annotations

import decimal
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import runtime
from ..coding import elias
from ..errors import ModelNotFoundError, UsageError

UNITS = 16  # vector units per latent pixel
MAX_VECTOR = 256  # |component| cap in vector units (16 latent pixels, as motion.MAX_VECTOR in quarters)
FRACTION_BITS = 16  # the integer weights' scale
WEIGHT_CAP = 1 << 24
SAMPLE_CAP = 1 << 15
MARGIN = MAX_VECTOR // UNITS + 2  # edge padding that every in-range vector's taps stay inside
BITS_WEIGHT = 1.0  # the refinement's price of a vector bit, times the search's lambda (an encoder choice)
# The refinement's predictions use the first 16 channels of the samples (an encoder choice: the
# ladder orders channels by importance). Against all of a level's channels, 20 frames at every
# level (PSNR / MS-SSIM BD-rate): bikes +0.11 / +0.21 %, diver -0.02 / -0.04 %, bigbuckbunny
# -0.09 / +0.06 %; 32 channels within 0.03 %.
REFINE_INPUTS = 16
BILINEAR = 0x80  # bit 7 of a delta's block byte: its vectors are quarters with bilinear prediction
SUFFIX = ".subpel.safetensors"  # a model's table lies beside its weights: NAME.subpel.safetensors
TENSOR = "phases"  # (4, 4, C, 4C) float32, [fy, fx]; [0, 0] unused (zeros)


EXACT_GAINS_MAJOR = 15  # from this major on, W is derived from format_gains (numpy's float32 exp before)


def format_gains(log_gain: np.ndarray) -> np.ndarray:
    """The gains the integer weights are derived from (format 15.0): each exp(log_gain), log_gain a
    float32, rounded to the nearest binary64 and then to the nearest binary32 (ties to even), with
    the exponential from Python's decimal module to 40 digits, so that every machine gets the same
    float32 values (numpy's float32 exp is neither correctly rounded nor the same on every CPU)."""
    context = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
    flat = [np.float32(float(context.exp(decimal.Decimal(float(v))))) for v in np.asarray(log_gain, np.float32).ravel()]
    return np.array(flat, np.float32).reshape(np.shape(log_gain))


def legacy_gains(log_gain: np.ndarray, pinned: np.ndarray | None = None) -> np.ndarray:
    """The gains streams of 10.0-14.x derived their weights from: numpy's float32 exp as the encoder
    computed it, on x86-64 with AVX2 or AVX-512. ``pinned``: those values as the model ships them
    (``NAME.gains14.npy``, :data:`LEGACY_SUFFIX`), so that another CPU (whose numpy takes another SIMD
    path: 295 of vaegan-i's 768 gains differ on x86-64's baseline) reads those streams as they were
    made; without it, this machine's numpy exp."""
    if pinned is not None:
        if pinned.shape != np.shape(log_gain) or pinned.dtype != np.float32:
            raise ModelNotFoundError(f"the pinned 14.x gains have shape {pinned.shape} {pinned.dtype}, expected "
                                     f"{np.shape(log_gain)} float32: the file is damaged")
        # numpy's SIMD paths differ from the exact value by an ulp or two: more is another model's file
        if np.any(np.abs(pinned.view(np.int32).astype(np.int64) - format_gains(log_gain).view(np.int32)) > 4):
            raise ModelNotFoundError("the pinned 14.x gains (NAME.gains14.npy) are not this model's: the file "
                                     "beside its weights belongs to other weights")
        return pinned
    return np.exp(np.asarray(log_gain, np.float32)).astype(np.float32)


LEGACY_SUFFIX = ".gains14.npy"  # beside the weights: the 10.0-14.x gains of a model whose streams used them


def legacy_path(weights: Path) -> Path:
    """Where the pinned 10.0-14.x gains of the weights file ``weights`` lie."""
    return weights.with_name(weights.name.removesuffix(".safetensors") + LEGACY_SUFFIX)


def table_path(weights: Path) -> Path:
    """Where the predictor table of the weights file ``weights`` lies."""
    return weights.with_name(weights.name.removesuffix(".safetensors") + SUFFIX)


class Predictor:
    """A model's predictor table with the integer weights of each level (derived on first use) from
    the model's ``log_gain`` (levels, C): with :func:`format_gains` (``exact``, format 15.0 on) or
    :func:`legacy_gains` (10.0-14.x streams; :meth:`for_major` gives the one a stream needs)."""

    def __init__(self, phases: np.ndarray, log_gain: np.ndarray, level_channels: list[int], sha256: str,
                 exact: bool = True, pinned: np.ndarray | None = None) -> None:
        c = log_gain.shape[1]
        if phases.shape != (4, 4, c, 4 * c) or phases.dtype != np.float32:
            raise ModelNotFoundError(f"predictor table has shape {phases.shape} {phases.dtype}, expected "
                                     f"(4, 4, {c}, {4 * c}) float32 for a model of {c} latent channels")
        if not np.isfinite(phases).all():
            raise ModelNotFoundError("predictor table holds non-finite values: the file is damaged")
        self.phases = phases
        self.log_gain = np.asarray(log_gain, np.float32)
        self.exact = exact
        self.pinned = pinned  # the model's pinned 10.0-14.x gains, if it ships them
        self.gains = format_gains(self.log_gain) if exact else legacy_gains(self.log_gain, pinned)
        self._other: Predictor | None = None  # the same table with the other gains (for_major)
        self.level_channels = list(level_channels)
        self.sha256 = sha256
        self._levels: dict[int, np.ndarray] = {}
        self._search: dict[tuple[int, int, int], np.ndarray] = {}
        self._combos: dict[tuple[int, int, int], tuple] = {}
        self._plans: dict[tuple[int, int, int, int, int], tuple] = {}
        self._lock = threading.Lock()

    def for_major(self, major: int) -> Predictor:
        """This table with the gains a stream of format ``major`` derives its weights from."""
        if self.exact == (major >= EXACT_GAINS_MAJOR):
            return self
        with self._lock:
            if self._other is None:
                self._other = Predictor(self.phases, self.log_gain, self.level_channels, self.sha256, not self.exact,
                                        self.pinned)
                self._other._other = self
            return self._other

    @classmethod
    def load(cls, path: Path, log_gain: np.ndarray, level_channels: list[int], pinned: Path | None = None
             ) -> Predictor:
        """The table at ``path``; ``pinned``: the model's pinned 10.0-14.x gains file, read if it exists."""
        from safetensors.numpy import load as load_bytes

        data = path.read_bytes()
        try:
            phases = load_bytes(data)[TENSOR]
        except Exception as e:  # a damaged or foreign file
            raise ModelNotFoundError(f"{path} is not a predictor table ({e})") from e
        gains14 = np.load(pinned, allow_pickle=False) if pinned is not None and pinned.exists() else None
        return cls(phases, log_gain, level_channels, hashlib.sha256(data).hexdigest(), pinned=gains14)

    @property
    def tag(self) -> bytes:
        """What a stream's header carries to name this table (format 10.0 tag 3): its SHA-256's first 8 bytes."""
        return bytes.fromhex(self.sha256)[:8]

    def weights(self, level: int) -> np.ndarray:
        """The level's integer weights as float64: (4, 4, K, 4K), [fy, fx]."""
        with self._lock:
            w = self._levels.get(level)
            if w is None:
                k, c = self.level_channels[level], self.gains.shape[1]
                g = self.gains[level].astype(np.float64)
                a = self.phases[:, :, :k][..., _tap_columns(k, c)].astype(np.float64)
                w = np.rint(g[:k, None] * a / np.tile(g[:k], 4)[None, :] * 2.0**FRACTION_BITS)
                w = np.clip(w, -WEIGHT_CAP, WEIGHT_CAP)
                w[0, 0] = 0.0
                self._levels[level] = w
            return w

    def _search_weights(self, level: int, outputs: int, inputs: int) -> np.ndarray:
        """The refinement's float32 maps: the level's weights over 2^16 for the first ``outputs``
        channels from the first ``inputs`` channels of each tap, (4, 4, outputs, 4·inputs), cached."""
        key = (level, outputs, inputs)
        with self._lock:
            w = self._search.get(key)
        if w is None:
            full = self.weights(level)
            w = (np.ascontiguousarray(full[:, :, :outputs][..., _tap_columns(inputs, full.shape[2])])
                 / 2.0**FRACTION_BITS).astype(np.float32)
            with self._lock:
                self._search[key] = w
        return w

    def predict(self, prev: np.ndarray, vectors: np.ndarray, block: int, level: int,
                threads: int | None = None) -> np.ndarray:
        """The (C,h,w) int64 prediction of a delta at ``level`` from ``prev`` and (rows, cols, 2)
        vectors in sixteenths (checked in range by the caller). Blocks moving by a fraction of a
        latent pixel are predicted on up to ``threads`` threads (default: :func:`predict_threads`);
        the result is the same exact integers whatever the count."""
        c, h, w = prev.shape
        k = min(self.level_channels[level], c)
        padded = _pad(prev[:k])
        out = np.zeros((c, h, w), dtype=np.int64)
        moving = []  # (y, x, bh, bw, dx, dy) of the blocks that need products
        for r in range(vectors.shape[0]):
            for col in range(vectors.shape[1]):
                y, x = r * block, col * block
                bh, bw = min(block, h - y), min(block, w - x)
                dx, dy = int(vectors[r, col, 0]), int(vectors[r, col, 1])
                if dx % UNITS == 0 and dy % UNITS == 0:  # whole latent pixels: the samples themselves
                    y0, x0 = y + dy // UNITS + MARGIN, x + dx // UNITS + MARGIN
                    out[:k, y:y + bh, x:x + bw] = padded[:, y0:y0 + bh, x0:x0 + bw]
                else:
                    moving.append((y, x, bh, bw, dx, dy))
        if not moving:
            return out

        def one(job: tuple[int, int, int, int, int, int]) -> None:
            y, x, bh, bw, dx, dy = job
            # T of the format as one product: the up-to-four quarter positions' weights, scaled by
            # their blend weights and summed over the union of their supports (at most 3×3 samples,
            # 2×2 for most vectors), so the work is one K × (up to 9K) product instead of four
            # K × 4K ones. The sum of integer products is the same exact integer.
            (ox, oy, nx, ny), combined = self._combined(level, dx % UNITS, dy % UNITS)
            y0, x0 = y + dy // UNITS + oy + MARGIN, x + dx // UNITS + ox + MARGIN
            taps = np.concatenate([padded[:, y0 + b:y0 + b + bh, x0 + a:x0 + a + bw]
                                   for b in range(ny) for a in range(nx)]).reshape(nx * ny * k, -1)
            s = combined @ taps
            half = 1 << (FRACTION_BITS + 3)
            out[:k, y:y + bh, x:x + bw] = ((s.astype(np.int64) + half) >> (FRACTION_BITS + 4)).reshape(k, bh, bw)

        n = predict_threads() if threads is None else max(1, threads)
        if n == 1 or len(moving) < 2 * n:
            for job in moving:
                one(job)
        else:  # blocks write disjoint regions; numpy's products release the GIL
            try:
                jobs = _pool(n).map(one, moving)
            except RuntimeError:  # no new pool threads: the interpreter is shutting down (a caller's thread)
                jobs = map(one, moving)
            list(jobs)
        return out

    def _combined(self, level: int, mx: int, my: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """For vectors ≡ (mx, my) mod 16: the support (x offset, y offset, columns, rows) relative to
        the vector's whole latent pixels and the K × (rows·columns·K) integer weights (float64) that
        give T from the samples there (cached per level)."""
        key = (level, mx, my)
        with self._lock:
            hit = self._combos.get(key)
        if hit is not None:
            return hit
        w = self.weights(level)
        k = w.shape[2]
        qx, rx = divmod(mx, 4)
        qy, ry = divmod(my, 4)
        parts = []  # (x offset, y offset, tap weights (K, taps·K), taps' columns, taps' rows)
        for a, b, wt in _corners(rx, ry):
            ix, fx = divmod(qx + a, 4)
            iy, fy = divmod(qy + b, 4)
            if fx == 0 and fy == 0:
                parts.append((ix, iy, wt * 2.0**FRACTION_BITS * np.eye(k), 1, 1))
            else:
                parts.append((ix, iy, wt * w[fy, fx], 2, 2))
        ox, oy = min(p[0] for p in parts), min(p[1] for p in parts)
        nx = max(p[0] + p[3] for p in parts) - ox
        ny = max(p[1] + p[4] for p in parts) - oy
        combined = np.zeros((k, nx * ny * k))
        for ix, iy, wts, cols, rows in parts:
            for t in range(cols * rows):
                u, v = ix - ox + t % cols, iy - oy + t // cols
                at = (v * nx + u) * k
                combined[:, at:at + k] += wts[:, t * k:(t + 1) * k]
        hit = ((ox, oy, nx, ny), combined)
        with self._lock:
            if len(self._combos) >= 512:
                self._combos.clear()
            self._combos[key] = hit
        return hit

    def refine(self, target: np.ndarray, prev: np.ndarray, quarters: np.ndarray, block: int, lam: float,
               level: int) -> np.ndarray:
        """Encoder's sixteenth vectors: each block's quarter vector (from :func:`motion.search`) refined
        over the 9×9 sixteenths around it, minimising the squared error of ``target`` (its k leading
        channels, scaled latent) against the unrounded prediction + ``lam``·BITS_WEIGHT · the Elias-gamma
        bits of the vector's difference to its median predictor; the first best in raster order of
        the offsets wins. The predictions it compares draw on the first :data:`REFINE_INPUTS`
        channels of the samples only."""
        k, h, w = target.shape
        kk = min(self.level_channels[level], prev.shape[0], REFINE_INPUTS)
        # float32: a search, not the format's arithmetic (that is predict's exact integers); against
        # float64, the same vector for 99.8-99.9 % of bikes' blocks (640x360, 1080p), the same bytes on
        # bikes, vtest and diver at every level, 1.04-1.44x faster (runs/encoder-tuning/refine32.py)
        padded = _pad(prev[:kk], np.float32)
        # every position's 2x2 neighbourhood (4·kk rows): a block's taps are one slice of it
        taps_at = np.concatenate([padded[:, b:b + padded.shape[1] - 1, a:a + padded.shape[2] - 1]
                                  for b in (0, 1) for a in (0, 1)])
        rows, cols = quarters.shape[:2]
        chosen: list[list[tuple[int, int]]] = [[] for _ in range(rows)]  # the vectors so far, as ints
        for r in range(rows):
            for col in range(cols):
                y, x = r * block, col * block
                bh, bw = min(block, h - y), min(block, w - x)
                qx0, qy0 = int(quarters[r, col, 0]), int(quarters[r, col, 1])
                # The 3×3 quarter positions around the choice, each k × (bh·bw); those sharing whole
                # latent pixels share their taps and one product
                q = np.empty((9, k, bh * bw), np.float32)
                whole, groups = self._refine_plan(level, k, kk, qx0 & 3, qy0 & 3)
                y0, x0 = y + (qy0 >> 2) + MARGIN, x + (qx0 >> 2) + MARGIN
                for i, ix, iy in whole:
                    q[i] = padded[:k, y0 + iy:y0 + iy + bh, x0 + ix:x0 + ix + bw].reshape(k, -1)
                for ix, iy, members, stacked_weights in groups:
                    taps = taps_at[:, y0 + iy:y0 + iy + bh, x0 + ix:x0 + ix + bw].reshape(4 * kk, -1)
                    q[members] = (stacked_weights @ taps).reshape(len(members), k, -1)
                # Each candidate is B·q (its blend of the nine): |t − B·q|² from the 9×9 Gram matrix
                tb = target[:, y:y + bh, x:x + bw].reshape(-1).astype(np.float32)
                flat = q.reshape(9, -1)
                gram = flat @ flat.T
                err = tb @ tb - 2.0 * (_OFFSET_BLEND @ (flat @ tb)) + ((_OFFSET_BLEND @ gram) * _OFFSET_BLEND).sum(axis=1)
                dx = 4 * qx0 + _OFFSETS[:, 0]
                dy = 4 * qy0 + _OFFSETS[:, 1]
                # the bits the codes will take: differences to the median predictor of the blocks
                # already chosen (left, above, above-right: all earlier in raster order)
                px, py = _median_predictor(chosen, r, col, cols)
                bits = _GAMMA_BITS[dx - px + _GAMMA_SPAN] + _GAMMA_BITS[dy - py + _GAMMA_SPAN]
                cost = err + lam * BITS_WEIGHT * bits
                if not (abs(4 * qx0) + 4 <= MAX_VECTOR and abs(4 * qy0) + 4 <= MAX_VECTOR):
                    cost[~((np.abs(dx) <= MAX_VECTOR) & (np.abs(dy) <= MAX_VECTOR))] = np.inf
                best = int(np.argmin(cost))
                chosen[r].append((int(dx[best]), int(dy[best])))
        return np.array(chosen, dtype=quarters.dtype).reshape(quarters.shape)

    def _refine_plan(self, level: int, k: int, kk: int, mx: int, my: int) -> tuple[list, list]:
        """How :meth:`refine` forms the nine quarter predictions around a quarter vector ≡ (mx, my)
        mod 4, relative to its whole latent pixels (cached): the positions that are whole pixels (index,
        x, y) and, per 2x2 neighbourhood (x, y) the others share, their indices and their maps stacked
        ((members·k) × 4·kk float32)."""
        key = (level, k, kk, mx, my)
        with self._lock:
            hit = self._plans.get(key)
        if hit is not None:
            return hit
        weights = self._search_weights(level, k, kk)
        whole, groups = [], {}
        for i, (a, b) in enumerate((a, b) for b in (-1, 0, 1) for a in (-1, 0, 1)):
            ix, fx = divmod(mx + a, 4)
            iy, fy = divmod(my + b, 4)
            if fx == 0 and fy == 0:
                whole.append((i, ix, iy))
            else:
                groups.setdefault((ix, iy), []).append((i, fx, fy))
        plan = (whole, [(ix, iy, [i for i, _, _ in members],
                         np.concatenate([weights[fy, fx] for _, fx, fy in members]))
                        for (ix, iy), members in groups.items()])
        with self._lock:
            self._plans[key] = plan
        return plan


_sharing = 1  # processes coding GOPs side by side (see share_cores), this one among them


def predict_threads() -> int:
    """Threads for the learned prediction's products: ``VIDCODEC_SUBPEL_THREADS`` (what each GOP worker
    takes; at most 4 a usable core, :func:`runtime.capped_count`), else 1 on machines of up to 4 cores
    (the codec's own stages fill them) and half the cores, at most 8, beyond, shared among the
    processes that :func:`share_cores` names."""
    env = os.environ.get("VIDCODEC_SUBPEL_THREADS")
    if env:
        try:
            wanted = max(1, int(env))
        except ValueError:
            raise UsageError(f"VIDCODEC_SUBPEL_THREADS={env!r} is not a number of threads") from None
        return runtime.capped_count("VIDCODEC_SUBPEL_THREADS", wanted)  # as the other thread counts are
    cores = runtime.usable_cpus()  # its affinity and cgroup quota, not the machine's count
    return max(1, (1 if cores <= 4 else min(8, cores // 2)) // _sharing)


def share_cores(processes: int) -> None:
    """In one of ``processes`` GOP-parallel worker processes: the prediction's threads are shared
    among them (15 workers of 8 threads each would crowd 16 cores; on the 2-core VM, 2 workers
    decoded 1080p 15 % slower with 8 threads each than with 1)."""
    global _sharing
    _sharing = max(1, processes)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools() -> None:
    """In a forked child (GOP-parallel coding's workers): the parent's pool threads did not come
    along, so its pools would never run a job; make new ones on demand."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(n: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        if n not in _POOLS:
            _POOLS[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="vidcodec-subpel")
        return _POOLS[n]


def _pad(prev: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """The samples: ``prev`` clipped to ±SAMPLE_CAP, as float64 (exact: integers under 2^15; or
    ``dtype``), with MARGIN edge samples on each side (``np.pad``'s edge mode, written out: a tenth
    of its time at these sizes)."""
    k, h, w = prev.shape
    m = MARGIN
    out = np.empty((k, h + 2 * m, w + 2 * m), dtype)
    np.clip(prev, -SAMPLE_CAP, SAMPLE_CAP, out=out[:, m:m + h, m:m + w], casting="unsafe")
    out[:, :m, m:m + w] = out[:, m:m + 1, m:m + w]
    out[:, m + h:, m:m + w] = out[:, m + h - 1:m + h, m:m + w]
    out[:, :, :m] = out[:, :, m:m + 1]
    out[:, :, m + w:] = out[:, :, m + w - 1:m + w]
    return out


def _median_predictor(chosen: list[list[tuple[int, int]]], r: int, c: int, cols: int) -> tuple[int, int]:
    """:func:`motion._predictor` on the vectors chosen so far as Python ints (a block's own is not
    yet there), without numpy's cost per call (that function was a twelfth of the refinement's time)."""
    if r == 0:
        return chosen[0][c - 1] if c > 0 else (0, 0)
    if c == 0:
        return chosen[r - 1][0]
    left, top = chosen[r][c - 1], chosen[r - 1][c]
    corner = chosen[r - 1][c + 1] if c + 1 < cols else chosen[r - 1][c - 1]
    return (max(min(left[0], top[0]), min(max(left[0], top[0]), corner[0])),
            max(min(left[1], top[1]), min(max(left[1], top[1]), corner[1])))


def _tap_columns(n: int, stride: int) -> np.ndarray:
    """Columns of a map over the 2×2 taps of ``stride`` channels each that hold the first ``n``
    channels of every tap (tap-major, as the weights are laid out)."""
    return np.concatenate([np.arange(n) + t * stride for t in range(4)])


def _corners(rx: int, ry: int) -> list[tuple[int, int, int]]:
    """The quarter positions (a, b) ∈ {0, 1}² around a vector with remainders (rx, ry) and their
    bilinear weights (summing to 16), those of weight 0 left out."""
    return [(a, b, wt) for a, b, wt in ((0, 0, (4 - rx) * (4 - ry)), (1, 0, rx * (4 - ry)),
                                        (0, 1, (4 - rx) * ry), (1, 1, rx * ry)) if wt]


def _offset_blend() -> tuple[np.ndarray, np.ndarray]:
    """The 81 refinement offsets (ddx, ddy) in -4..4 (ddy major) and their (81, 9) blend weights
    over the 3×3 quarter positions around the centre (index (b+1)·3 + (a+1) for offsets a, b)."""
    offsets, blend = [], []
    for ddy in range(-4, 5):
        for ddx in range(-4, 5):
            row = np.zeros(9)
            qx, rx = divmod(ddx, 4)
            qy, ry = divmod(ddy, 4)
            for a, b, wt in _corners(rx, ry):
                row[(qy + b + 1) * 3 + (qx + a + 1)] += wt
            offsets.append((ddx, ddy))
            blend.append(row)
    return np.array(offsets, dtype=np.int64), np.array(blend) / UNITS


_OFFSETS, _OFFSET_BLEND = _offset_blend()
_GAMMA_SPAN = 4 * MAX_VECTOR + 8  # a refined component and a median predictor differ by no more
_GAMMA_BITS = elias.gamma_bits(np.arange(-_GAMMA_SPAN, _GAMMA_SPAN + 1))  # by difference + _GAMMA_SPAN
