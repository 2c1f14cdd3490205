"""docs/FORMAT.md's delta payloads against the streams, through a decoder written from the spec alone.

The decoder below (mode 0, ANS, 14.x and 15.0 deltas: the head byte, Elias-gamma vectors and their
median predictor, bilinear prediction in quarters, the learned sub-pixel prediction in sixteenths with
its integer weights, the fine state, the 13.0 selector tables, residual and oriented tables with the
SHIFT and TSHIFT contexts) was written from FORMAT.md without reading the implementation
(2026-12-06), on test_spec_keyframe's keys and sections. It decoded every packet of eight streams
exactly, and its writing found what the spec left out or left open (FORMAT.md now says them): that
residuals are oriented from 9.0 on, that bit 7 with B = 0 is damage whatever bits 5-6 hold, that
vector padding must be zero, that vectors use Elias-gamma's signed mapping (not 12.0's zigzag), the
one-column predictor, that the fine flag's prediction samples F itself, how the 13.0 selectors sit in
the 12.0 section, that a bilinear delta's state stays in sixteenths, and that the predictor's gains
were numpy's float32 exp, which is not correctly rounded and differs between CPUs: format 15.0
defines them exactly, and this decoder takes the gains of the stream's major. Every packet's state
must equal ``FrameDecoder.decode_symbols``'s; a spec-side encoder pushes what real streams seldom
reach (every selector, escapes up to 2^24, block sides 1 to 31, vectors at their bounds, fine
prediction of clamped states) through both; and the other gain definition on a large state, or one
wrong TSHIFT entry, must make the two disagree.
"""

from __future__ import annotations

import decimal
import hashlib
import os
from pathlib import Path

import constriction
import numpy as np
import pytest
from safetensors.numpy import load_file
from test_spec_keyframe import (
    DATA,
    ESCAPE_FLAG,
    ROOT,
    WEIGHTS,
    Section,
    SpecError,
    Tables,
    Uniform,
    box3,
    categorical,
    cross4,
    decode_key,
    how_many_at_most,
    zigzag,
)
from test_spec_reader import read_header, read_packets

from vidcodec import api
from vidcodec.codec.vaegan import FrameDecoder
from vidcodec.models import zoo

# "Context-adaptive residuals": SHIFT[5a + q] for anchors, SHIFT[30 + 4(5a + q) + n] for the others
SHIFT = np.array([-3, -2, -1, -1, -1,  -3, -1, -1, -1, -1,  -2, -1, -1, -1, -1,
                  -2, 0, 0, 0, 0,  -2, 0, 1, 1, 1,  -1, 2, 3, 3, 4,
                  -4, -2, -1, 3,  -2, -1, 0, 3,  -2, -1, 0, 3,  -2, -2, -1, 2,  -3, -2, -1, 3,
                  -3, -2, -1, 1,  -1, -1, 0, 1,  -1, -1, 0, 1,  -1, -1, 0, 3,  -1, -1, 0, 1,
                  -3, -2, -1, 0,  -1, -1, 0, 1,  -1, -1, 0, 1,  -1, -1, 0, 1,  -1, -1, 0, 1,
                  -2, -1, -1, 0,  -1, 0, 0, 1,  -1, 0, 0, 1,  -1, 0, 0, 1,  -1, -1, 0, 2,
                  -2, -1, -1, 1,  0, 0, 1, 2,  0, 0, 1, 2,  0, 1, 1, 2,  0, 1, 1, 2,
                  -2, 0, 0, 2,  1, 1, 2, 3,  2, 2, 2, 4,  1, 2, 3, 5,  1, 2, 2, 6])
TSHIFT = np.array([[-2, -1, -1, -1], [-1, 0, 0, 0], [1, 0, 0, 0], [5, 2, 1, 1]])  # [tau][g]
SELECTOR_ROWS = np.array([  # "Selector tables (format 13.0)": row p + 1 after selector p, row 0 after a key
    [57760, 15, 79, 616, 3211, 2546, 648, 237, 15, 174, 47, 15, 79, 47, 47],
    [60238, 28, 25, 169, 1576, 2377, 985, 122, 10, 1, 1, 1, 1, 1, 1],
    [23078, 923, 923, 2769, 19383, 6461, 4615, 923, 923, 923, 923, 923, 923, 923, 923],
    [19703, 322, 2905, 12590, 12590, 13236, 1614, 322, 322, 322, 322, 322, 322, 322, 322],
    [20893, 153, 1385, 13805, 15139, 11136, 2412, 51, 256, 51, 51, 51, 51, 51, 51],
    [24245, 145, 706, 2893, 25261, 11024, 1151, 9, 48, 9, 9, 9, 9, 9, 9],
    [22293, 23, 242, 2652, 10462, 26059, 3529, 133, 101, 7, 7, 7, 7, 7, 7],
    [25931, 76, 383, 1816, 6934, 14407, 13844, 1612, 281, 76, 76, 25, 25, 25, 25],
    [15314, 137, 137, 413, 689, 6760, 10623, 28848, 1793, 137, 137, 137, 137, 137, 137],
    [12136, 809, 809, 809, 5663, 7281, 10518, 16994, 2427, 809, 809, 809, 4045, 809, 809],
    [2427, 2427, 2427, 2427, 2427, 12141, 12136, 7281, 7281, 2427, 2427, 2427, 2427, 2427, 2427],
    [6779, 2259, 2259, 2259, 2259, 2259, 6779, 2259, 2259, 2259, 15830, 11299, 2259, 2259, 2259],
    [11566] + [3855] * 14,
    [2849] * 6 + [8548, 2849, 19951] + [2849] * 6,
    [3855] * 10 + [11566] + [3855] * 4,
    [3855] * 10 + [11566] + [3855] * 4])
SELECTORS = [categorical(row) for row in SELECTOR_ROWS]
TABLE_SHA256 = {"residual": "1a469bc2d21fd6026642d180db64999924cdbf6f0e8f745acb5bdf21cf228d66",
                "oriented": "1c479e9853cf56106f0dfa5b5d1425f0549799298486b9765aa482e494959220"}
EXACT_GAINS_MAJOR = 15  # "The gains g": exact from 15.0, numpy's float32 exp in 10.0-14.x


def format_tables(kind: str) -> list[tuple[int, int, object]]:
    """The format's residual or oriented tables: the shipped arrays, if their SHA-256 is the format's."""
    z = np.load(ROOT / "vidcodec" / "coding" / f"{kind}_tables.npz")
    arrays = [z[f"{kind}.offsets"], z[f"{kind}.sizes"], z[f"{kind}.freqs"]]
    if hashlib.sha256(b"".join(a.astype("<i4").tobytes() for a in arrays)).hexdigest() != TABLE_SHA256[kind]:
        raise SpecError(f"the {kind} tables are not the format's")
    offsets, sizes, freqs = arrays
    return [(int(o), int(n), categorical(f[:n].astype(np.int64))) for o, n, f in zip(offsets, sizes, freqs,
                                                                                     strict=True)]


RESIDUAL, ORIENTED = format_tables("residual"), format_tables("oriented")
R = len(RESIDUAL)


def gains(log_gain: np.ndarray, exact: bool, pinned: np.ndarray | None = None) -> np.ndarray:
    """A level's float32 gains g: exactly exp(log_gain) rounded to binary64, then to binary32 (Decimal's
    exp to 60 digits, far more than the two roundings need; float() and np.float32 round to nearest
    even), or, for 10.0-14.x, the values the model ships as NAME.gains14.npy (``pinned``), else
    numpy's float32 exp."""
    if not exact:
        return pinned if pinned is not None else np.exp(np.asarray(log_gain, np.float32))
    ctx = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
    return np.array([np.float32(float(ctx.exp(decimal.Decimal(float(v))))) for v in log_gain], np.float32)


def integer_weights(phases: np.ndarray, g: np.ndarray, K: int) -> np.ndarray:
    """W[fy, fx, i, t.K + j] = clamp(rint(g[i] A[fy, fx, i, t.C + j] / g[j] 65536), +-2^24), in binary64."""
    C = phases.shape[2]
    A = phases.astype(np.float64).reshape(4, 4, C, 4, C)[:, :, :K, :, :K]
    g = g.astype(np.float64)
    W = np.rint(g[:K, None, None] * A / g[None, None, :K] * 65536.0)
    return np.clip(W, -(1 << 24), 1 << 24).astype(np.int64).reshape(4, 4, K, 4 * K)


# ---------------------------------------------------------------- motion vectors
def vector_predictor(mv: np.ndarray, r: int, c: int) -> np.ndarray:
    """Left in the first row ((0, 0) first), above in the first column (also the only one), else the
    median of left, above and above-right (above-left in the last column)."""
    if r == 0:
        return mv[0, c - 1] if c else np.zeros(2, np.int64)
    if c == 0:
        return mv[r - 1, 0]
    third = mv[r - 1, c + 1] if c + 1 < mv.shape[1] else mv[r - 1, c - 1]
    return np.sort(np.stack([mv[r, c - 1], mv[r - 1, c], third]), axis=0)[1]


def read_vectors(data: bytes, rows: int, cols: int, limit: int) -> tuple[np.ndarray, int]:
    """The vectors and the bytes they take: Elias-gamma codes (n = 2v + 1, or -2v for v < 0), zero-padded."""
    pos = 0

    def bit() -> int:
        nonlocal pos
        if pos >> 3 >= len(data):
            raise SpecError("motion vectors cut off")
        pos += 1
        return data[(pos - 1) >> 3] >> (7 - (pos - 1) % 8) & 1

    def gamma() -> int:
        zeros = 0
        while not bit():
            zeros += 1
            if zeros > 64:
                raise SpecError("an Elias-gamma code of over 64 zeros")
        n = 1
        for _ in range(zeros):
            n = n << 1 | bit()
        return (n - 1) // 2 if n & 1 else -(n // 2)

    mv = np.zeros((rows, cols, 2), np.int64)
    for r in range(rows):
        for c in range(cols):
            mv[r, c] = vector_predictor(mv, r, c) + [gamma(), gamma()]
            if np.abs(mv[r, c]).max() > limit:
                raise SpecError(f"a vector beyond +-{limit}")
    if pos % 8 and data[pos >> 3] & (0xFF >> pos % 8):
        raise SpecError("motion vector padding is not zero")
    return mv, -(-pos // 8)


def write_vectors(mv: np.ndarray) -> bytes:
    bits = ""
    for r in range(mv.shape[0]):
        for c in range(mv.shape[1]):
            for d in mv[r, c] - vector_predictor(mv, r, c):
                n = 2 * int(d) + 1 if d >= 0 else -2 * int(d)
                bits += "0" * (n.bit_length() - 1) + f"{n:b}"
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


# ---------------------------------------------------------------- prediction
def whole(v: np.ndarray) -> np.ndarray:
    return np.floor_divide(v + 8, 16)


def blocks(h: int, w: int, B: int):
    for r in range(-(-h // B)):
        for c in range(-(-w // B)):
            yy, xx = np.mgrid[r * B:min(h, (r + 1) * B), c * B:min(w, (c + 1) * B)]
            yield r, c, yy, xx


def sample(X: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """S(u, v) = X[:, clamp(v, 0, h - 1), clamp(u, 0, w - 1)]."""
    h, w = X.shape[-2:]
    return X[:, np.clip(v, 0, h - 1), np.clip(u, 0, w - 1)]


def bilinear(X: np.ndarray, mv: np.ndarray, B: int, K: int) -> np.ndarray:
    out = np.zeros_like(X)
    for r, c, yy, xx in blocks(*X.shape[1:], B):
        (ix, iy), (fx, fy) = mv[r, c] // 4, mv[r, c] % 4
        S = X[:K]
        a = (4 - fx) * sample(S, xx + ix, yy + iy) + fx * sample(S, xx + ix + 1, yy + iy)
        b = (4 - fx) * sample(S, xx + ix, yy + iy + 1) + fx * sample(S, xx + ix + 1, yy + iy + 1)
        out[:K, yy, xx] = np.floor_divide((4 - fy) * a + fy * b + 8, 16)
    return out


def learned(X: np.ndarray, mv: np.ndarray, B: int, W: np.ndarray) -> np.ndarray:
    K = W.shape[2]
    S = np.clip(X[:K], -32768, 32768)

    def Q(xx: np.ndarray, yy: np.ndarray, qx: int, qy: int) -> np.ndarray:
        ix, iy, fx, fy = qx // 4, qy // 4, qx % 4, qy % 4
        if fx == fy == 0:
            return 65536 * sample(S, xx + ix, yy + iy)
        taps = np.concatenate([sample(S, xx + ix + a, yy + iy + b) for a, b in ((0, 0), (1, 0), (0, 1), (1, 1))])
        return (W[fy, fx] @ taps.reshape(4 * K, -1)).reshape(K, *xx.shape)

    out = np.zeros_like(X)
    for r, c, yy, xx in blocks(*X.shape[1:], B):
        qx, qy = (int(d) // 4 for d in mv[r, c])
        rx, ry = (int(d) % 4 for d in mv[r, c])
        T = sum(wt * Q(xx, yy, qx + a, qy + b) for wt, a, b in
                (((4 - rx) * (4 - ry), 0, 0), (rx * (4 - ry), 1, 0), ((4 - rx) * ry, 0, 1), (rx * ry, 1, 1)) if wt)
        out[:K, yy, xx] = np.floor_divide(T + (1 << 19), 1 << 20)
    return out


# ---------------------------------------------------------------- the symbol section, either way
class Pop:
    """Decoding: each call pops what the section holds next."""

    def __init__(self, section: Section) -> None:
        self.section = section

    def table(self, table: tuple[int, int, object], count: int, _values) -> np.ndarray:
        return self.section.symbols(table, count)

    def row(self, model, count: int, _values) -> np.ndarray:
        return np.asarray(self.section.coder.decode(model, count), np.int64)


class Push:
    """Encoding: each call records ``values`` where the decoder pops them; escapes as in every section."""

    def __init__(self) -> None:
        self.ops: list = []
        self.escapes: list[int] = []

    def table(self, table: tuple[int, int, object], count: int, values: np.ndarray) -> np.ndarray:
        offset, n, _ = table
        idx = values - offset
        escaped = (idx < 0) | (idx >= n - 1)
        self.escapes += [int(v) for v in values[escaped]]
        self.row(table[2], count, np.where(escaped, n - 1, idx))
        return values

    def row(self, model, count: int, values: np.ndarray) -> np.ndarray:
        if count:
            self.ops.append((model, np.asarray(values, np.int32)))
        return values

    def section(self) -> bytes:
        def number(m: int) -> list:
            bits = m.bit_length()
            out, rest, shift = [(Uniform(27), [bits])], m - (1 << (bits - 1)) if bits else 0, 0
            while shift < bits - 1:
                k = min(16, bits - 1 - shift)
                out.append((Uniform(1 << k), [rest >> shift & ((1 << k) - 1)]))
                shift += k
            return out

        head = [(ESCAPE_FLAG, [int(bool(self.escapes))])]
        if self.escapes:
            head += number(len(self.escapes)) + [op for v in self.escapes for op in number(zigzag(v))]
        coder = constriction.stream.stack.AnsCoder()
        for model, values in reversed(head + self.ops):
            coder.encode_reverse(np.asarray(values, np.int32), model)
        return coder.get_compressed().astype("<u4").tobytes().rstrip(b"\0")


def selectors(io: Pop | Push, previous: np.ndarray | None, K: int, given: np.ndarray | None) -> np.ndarray:
    """Channel c's selector with row previous[c] + 1 (0 after a key), popped grouped by row."""
    rows = np.zeros(K, np.int64) if previous is None else previous[:K] + 1
    sel = np.zeros(K, np.int64)
    for row in range(len(SELECTORS)):
        chans = np.flatnonzero(rows == row)
        if len(chans):
            sel[chans] = io.row(SELECTORS[row], len(chans), None if given is None else given[chans])
    return sel


def residuals(io: Pop | Push, sel: np.ndarray, p: np.ndarray, previous: np.ndarray | None, context: int,
              given: np.ndarray | None, tshift: np.ndarray) -> np.ndarray:
    """The residuals r (C, h, w) of the coded channels; p is the prediction in whole symbols, previous
    the last delta's residuals (None after a key)."""
    C, h, w = p.shape
    res = np.zeros((C, h, w), np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    anchor = (xx + yy) % 2 == 0
    earlier = np.zeros((h, w), np.int64)  # sum of |r[c']| over c' < c
    for c in np.flatnonzero(sel):
        truth = None if given is None else given[c].ravel()
        if context == 0:
            res[c] = io.table(RESIDUAL[sel[c]], h * w, truth).reshape(h, w)
            continue
        a = how_many_at_most((1, 2, 4, 8, 16), box3(earlier))
        q = how_many_at_most((1, 2, 4, 8), np.abs(p[c]))
        tau = 0 if previous is None else how_many_at_most((1, 3, 9), box3(np.minimum(np.abs(previous[c]), 16)))
        sign = -np.sign(p[c]).ravel()
        v = res[c]
        for others in (0, 1):
            if others:
                k = 30 + 4 * (5 * a + q) + how_many_at_most((1, 2, 4), cross4(np.abs(v * anchor)))
            else:
                k = 5 * a + q
            t = np.clip(sel[c] + SHIFT[k] + tshift[tau, 2 * others + (a > 0)], 1, R - 1)
            for oriented, tables in ((False, RESIDUAL), (True, ORIENTED)):
                for row in range(1, R):
                    at = np.flatnonzero(((anchor != others) & (t == row) & ((q > 0) == oriented)).ravel())
                    if not len(at):
                        continue
                    if oriented:  # u = -sign(p) r, and r = -sign(p) u
                        u = io.table(tables[row], len(at), None if truth is None else sign[at] * truth[at])
                        v.ravel()[at] = sign[at] * u
                    else:
                        v.ravel()[at] = io.table(tables[row], len(at), None if truth is None else truth[at])
        earlier += np.abs(res[c])
    return res


# ---------------------------------------------------------------- the stream
def model_file(header: dict) -> Path:
    for folder in WEIGHTS:
        path = folder / f"{header['model_name']}.safetensors"
        if path.exists() and hashlib.sha256(path.read_bytes()).digest() == header["model_hash"]:
            return path
    raise SpecError(f"no {header['model_name']}.safetensors with the header's SHA-256")


class DeltaDecoder:
    """Stream 0's state through its key and delta packets (mode 0, coder 0, 14.x and 15.0); ``encode``
    writes a delta payload of given fields and moves the state as decoding it does."""

    def __init__(self, header: dict, exact_gains: bool | None = None, tshift: np.ndarray = TSHIFT) -> None:
        major = header["version"][0]
        if header["mode"] != 0 or header["coder"] != 0 or major not in (14, 15):
            raise SpecError("not a mode 0, coder 0 stream of 14.x or 15.0")
        self.header, self.tshift = header, tshift
        self.exact = major >= EXACT_GAINS_MAJOR if exact_gains is None else exact_gains
        self.tables = Tables(header["model_name"], header["model_hash"])
        self.shape = (header["channels"], header["latent_h"], header["latent_w"])
        path = model_file(header)
        self.log_gain = load_file(str(path))["log_gain"]
        gains14 = path.with_name(f"{header['model_name']}.gains14.npy")  # 10.0-14.x: the gains as shipped
        self.gains14 = np.load(gains14) if gains14.exists() else None
        self.phases = None  # header tag 3: the predictor table's SHA-256, first 8 bytes
        if 3 in header["extensions"]:
            table = path.with_name(f"{header['model_name']}.subpel.safetensors")
            if not table.exists() or hashlib.sha256(table.read_bytes()).digest()[:8] != header["extensions"][3]:
                raise SpecError("no predictor table with the stream's hash")
            self.phases = load_file(str(table))["phases"]
        self.F = self.level = self.prev_sel = self.prev_res = self._W = None
        self.unused_escapes = 0

    def weights(self, level: int) -> np.ndarray:
        K = self.tables.level_channels[level]
        pinned = self.gains14[level] if self.gains14 is not None else None
        return integer_weights(self.phases, gains(self.log_gain[level], self.exact, pinned), K)

    def packet(self, kind: int, payload: bytes, flags: int) -> np.ndarray:
        """The state after a key (kind 1) or delta (kind 2): sixteenths with tag 3, whole symbols without."""
        if kind == 1:
            sym, self.level, self.unused_escapes = decode_key(payload, flags, self.header, self.tables)
            self.F = 16 * sym if self.phases is not None else sym
            self.prev_sel = self.prev_res = None
            self._W = None
            return self.F
        if self.F is None:
            raise SpecError("a delta before any key")
        if flags & 1:  # the colour correction's 24 bytes
            payload = payload[24:]
        head = payload[0]
        B, fine, context, bil = head & 31, head >> 5 & 1, head >> 6 & 1, head >> 7
        mv, pos = None, 1
        if B:
            h, w = self.shape[1:]
            limit = 256 if self.phases is not None and not bil else 64
            mv, used = read_vectors(payload[1:], -(-h // B), -(-w // B), limit)
            pos += used
        K = self.tables.level_channels[self.level]
        section = Section(payload[pos:], K + K * self.shape[1] * self.shape[2])
        self._advance(Pop(section), B, fine, context, bil, mv, None, None)
        self.unused_escapes = len(section.escapes) - section.used
        return self.F

    def encode(self, B: int, fine: int, context: int, bil: int, mv: np.ndarray | None, sel: np.ndarray,
               res: np.ndarray) -> bytes:
        io = Push()
        self._advance(io, B, fine, context, bil, mv, sel, res)
        return bytes([B | fine << 5 | context << 6 | bil << 7]) + (write_vectors(mv) if B else b"") + io.section()

    def _advance(self, io: Pop | Push, B: int, fine: int, context: int, bil: int, mv, sel, res) -> None:
        tag = self.phases is not None
        if not tag and (bil or fine):
            raise SpecError("a bilinear or fine flag in a stream without tag 3")
        if bil and not B:
            raise SpecError("bit 7 with B = 0")
        if fine and (bil or not B):
            raise SpecError("the fine flag on a delta without learned vectors")
        K = self.tables.level_channels[self.level]
        F = self.F
        if not B:
            P = F.copy()
        elif not tag or bil:
            P = 16 * bilinear(whole(F), mv, B, K) if tag else bilinear(F, mv, B, K)
        else:
            if self._W is None:
                self._W = self.weights(self.level)
            P = learned(F, mv, B, self._W) if fine else 16 * learned(whole(F), mv, B, self._W)
        p = whole(P) if tag else P
        sel = selectors(io, self.prev_sel, K, sel)
        r = residuals(io, sel, p, self.prev_res, context, res, self.tshift)
        self.F = P + 16 * r if tag else P + r
        self.prev_sel, self.prev_res = sel, r


# ---------------------------------------------------------------- against the implementation
def stream_packets(path: Path) -> tuple[dict, list[dict]]:
    buf = path.read_bytes()
    header = read_header(buf)
    return header, [p for p in read_packets(buf, header)[0] if p["stream"] == 0 and p["kind"] in (1, 2)]


def reference(header: dict) -> FrameDecoder:
    model = zoo.load(header["model_name"], sha256=header["model_hash"].hex())
    return FrameDecoder(model, (header["channels"], header["latent_h"], header["latent_w"]),
                        major=header["version"][0], predictor=model.subpel if 3 in header["extensions"] else None)


def body(packet: dict) -> bytes:
    return packet["payload"][24:] if packet["flags"] & 1 else packet["payload"]


def decoders(path: Path, **spec) -> tuple[DeltaDecoder, FrameDecoder, dict]:
    """Both decoders after the stream's first packet (a key), and its header."""
    header, packets = stream_packets(path)
    mine, ref = DeltaDecoder(header, **spec), reference(header)
    mine.packet(1, packets[0]["payload"], packets[0]["flags"])
    ref.decode_symbols("key", body(packets[0]))
    return mine, ref, header


def states_differ(mine: DeltaDecoder, ref: FrameDecoder, payload: bytes) -> bool:
    theirs = np.asarray(ref.decode_symbols("delta", payload)[0])
    try:
        return not np.array_equal(mine.packet(2, payload, 0), theirs)
    except SpecError:  # a misread section can run out of escapes
        return True


@pytest.fixture(scope="module")
def streams(tmp_path_factory) -> dict[str, Path]:
    """Short real streams (15.0; learned and bilinear vectors, the fine flag, both contexts, B = 0, no
    tag 3) and the tiny model's golden 14.0 and 15.0 streams."""
    d = tmp_path_factory.mktemp("specdelta")
    bikes, vtest = ROOT / "samples" / "bikes.mp4", ROOT / "samples" / "vtest.mp4"
    out = {"golden 14.0": DATA / "golden_fine.gvc", "golden 15.0": DATA / "golden_exact.gvc"}
    for name, clip, frames, options in (("bikes", bikes, 6, {}), ("bikes q2", bikes, 6, {"quality": 2}),
                                        ("vtest", vtest, 4, {}), ("bilinear", bikes, 6, {"subpel": "bilinear"})):
        out[name] = d / f"{name}.gvc"
        api.encode(clip, out[name], max_frames=frames, **options)
    return out


@pytest.fixture(autouse=True)
def tiny_models_found(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", os.pathsep.join(str(p) for p in (tiny_model_dir, DATA)))


def test_the_spec_decodes_every_packet_as_the_decoder_does(streams):
    heads, majors = set(), set()
    for name, path in streams.items():
        header, packets = stream_packets(path)
        mine, ref = DeltaDecoder(header), reference(header)
        majors.add((header["version"][0], 3 in header["extensions"]))
        for i, packet in enumerate(packets):
            state = mine.packet(packet["kind"], packet["payload"], packet["flags"])
            theirs, _ = ref.decode_symbols("key" if packet["kind"] == 1 else "delta", body(packet))
            assert mine.unused_escapes == 0, (name, i)
            np.testing.assert_array_equal(state, np.asarray(theirs), err_msg=f"{name} packet {i}")
            if packet["kind"] == 2:
                heads.add(body(packet)[0])
    assert majors == {(14, True), (15, True), (15, False)}
    assert {h & 0x80 for h in heads} == {0, 0x80} and any(h & 0x20 for h in heads)  # bilinear, fine
    assert {h >> 6 & 1 for h in heads} == {0, 1} and 0x40 in heads  # both contexts, B = 0


@pytest.mark.parametrize("name", ["bikes", "bilinear"])
def test_crafted_deltas_decode_alike_both_ways(streams, name):
    """Every selector, escapes up to 2^24, odd and extreme block sides, vectors at their bounds,
    context 0 and 1, and (with tag 3) bilinear deltas and fine prediction of clamped states: the
    spec's encoder writes them, the spec's decoder and FrameDecoder read them."""
    enc, ref, _ = decoders(streams[name])
    dec = decoders(streams[name])[0]
    C, h, w = enc.shape
    K = enc.tables.level_channels[enc.level]
    rng = np.random.default_rng(7)
    cases = [(3, 0, 1, 0, "laplace"), (31, 0, 0, 0, "big"), (0, 0, 1, 0, "laplace"), (1, 0, 1, 0, "huge"),
             (6, 0, 1, 0, "laplace"), (5, 0, 0, 0, "laplace")]
    if enc.phases is not None:
        cases += [(5, 1, 1, 0, "laplace"), (31, 0, 0, 1, "laplace"), (7, 1, 1, 0, "huge"),
                  (3, 1, 1, 0, "laplace"), (16, 1, 0, 0, "laplace"), (2, 0, 1, 1, "zero"), (4, 1, 1, 0, "laplace")]
    for i, (B, fine, context, bil, style) in enumerate(cases):
        limit = 256 if enc.phases is not None and not bil else 64
        mv = rng.integers(-limit, limit + 1, (-(-h // B), -(-w // B), 2)) if B else None
        if B and i % 2:
            mv[0, 0], mv[-1, -1] = (limit, -limit), (-limit, limit)
        sel = rng.integers(0, R, K)
        sel[:min(K, R)] = np.arange(min(K, R))
        res = np.rint(rng.laplace(0, 1.5, (C, h, w))).astype(np.int64) * (style != "zero")
        if style in ("big", "huge"):
            values = [70, 129, 4000, 40000, 1 << 20, 1 << 24] if style == "huge" else [65, 70, 300]
            for _ in range(40):
                res[rng.integers(K), rng.integers(h), rng.integers(w)] = rng.choice([1, -1]) * rng.choice(values)
        payload = enc.encode(B, fine, context, bil, mv, sel, res)
        theirs = np.asarray(ref.decode_symbols("delta", payload)[0])
        np.testing.assert_array_equal(dec.packet(2, payload, 0), enc.F, err_msg=f"{name} case {i}")
        np.testing.assert_array_equal(theirs, enc.F, err_msg=f"{name} case {i}")
        assert dec.unused_escapes == 0


@pytest.mark.parametrize("name", ["golden 14.0", "golden 15.0"])
def test_a_large_state_needs_the_gains_of_its_streams_major(streams, name):
    """Where numpy's float32 exp and the exact gains give other integer weights (a few of the tiny
    model's at level 1), a large state's learned prediction differs: the gains of the stream's major
    agree with FrameDecoder, the other definition does not."""
    enc, ref, header = decoders(streams[name])
    right = decoders(streams[name])[0]
    wrong = decoders(streams[name], exact_gains=header["version"][0] < EXACT_GAINS_MAJOR)[0]
    assert right.exact == (name == "golden 15.0") != wrong.exact
    assert (right.weights(enc.level) != wrong.weights(enc.level)).any()
    C, h, w = enc.shape
    K = enc.tables.level_channels[enc.level]
    rng = np.random.default_rng(7)
    big = np.zeros((C, h, w), np.int64)
    big[:K] = rng.integers(-32768, 32769, (K, h, w))
    # a state of +-2^15 symbols (B = 0, escapes), then a learned delta without residuals
    payloads = [enc.encode(0, 0, 1, 0, None, np.full(K, 7), big),
                enc.encode(4, 0, 1, 0, rng.integers(-256, 257, (3, 4, 2)), np.zeros(K, np.int64), big)]
    for i, payload in enumerate(payloads):
        theirs = np.asarray(ref.decode_symbols("delta", payload)[0])
        np.testing.assert_array_equal(right.packet(2, payload, 0), theirs)
        assert np.array_equal(wrong.packet(2, payload, 0), theirs) == (i == 0)
    np.testing.assert_array_equal(enc.F, theirs)


def test_a_wrong_tshift_entry_misreads_a_real_stream(streams):
    """One TSHIFT entry off by one (tau = 0, a non-anchor of a quiet neighbourhood: the commonest
    context) and the spec's decoder no longer reads the stream's deltas as FrameDecoder does."""
    tshift = TSHIFT.copy()
    tshift[0, 2] += 1
    packets = stream_packets(streams["bikes"])[1]
    mine, ref = decoders(streams["bikes"], tshift=tshift)[:2]
    assert any(states_differ(mine, ref, body(p)) for p in packets[1:] if p["kind"] == 2)
