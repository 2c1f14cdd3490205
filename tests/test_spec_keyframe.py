"""docs/FORMAT.md's keyframe payloads against the streams, through a decoder written from the spec alone.

The decoder below (mode 0, ANS, 12.0 sections: the colour prefix, the level/context byte, escapes as
*numbers*, context 0 with the model's key tables, context 1 with uniform selectors, KEY_SHIFT
contexts and checkerboard passes) was written from FORMAT.md without reading the implementation
(2026-12-06). It decoded every key packet of 20 streams exactly, and its writing found what the
spec left out: that the tables' probabilities are float64 (float32 misreads real streams), how the
escape count is coded, where a *number*'s pieces go, that keys use the model's ``delta.*`` tables,
and what the header's hash covers. Its symbols must equal ``FrameDecoder.decode_symbols``'s, and a
spec-side encoder pushes what real streams seldom reach (escapes whose number has two pieces,
±2^24, context 0 with escapes, every table row) through both.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import constriction
import numpy as np
import pytest
from conftest import write_testsrc
from safetensors.numpy import load_file
from test_spec_reader import read_header, read_packets

from vidcodec import api
from vidcodec.codec.vaegan import FrameDecoder
from vidcodec.coding.tables import residual_tables
from vidcodec.models import zoo

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
WEIGHTS = (ROOT / "vidcodec" / "weights", DATA)
LIMIT = 1 << 24
Uniform = constriction.stream.model.Uniform

# FORMAT.md, "Context-adaptive key symbols": the shift of context k = p (anchors), 7 + 5p + n (others)
KEY_SHIFTS = np.array([-2, -1, -1, 0, 1, 2, 2,
                       -3, -1, 0, 0, 0,  -2, -1, 0, 1, 2,  -1, -1, 0, 2, 3,  -1, 0, 1, 2, 3,
                       0, 1, 1, 2, 3,  0, 1, 2, 2, 3,  -2, 0, 1, 2, 3])


class SpecError(Exception):
    pass


def categorical(freqs: np.ndarray) -> constriction.stream.model.Categorical:
    """A table row's model as FORMAT.md says: its 16-bit frequencies over 2^16, in float64."""
    return constriction.stream.model.Categorical(freqs.astype(np.float64) / 65536.0, perfect=False)


ESCAPE_FLAG = categorical(np.array([65535, 1]))


def spec_intervals(freqs: np.ndarray) -> np.ndarray:
    """FORMAT.md's integer statement of those models: entry i covers [c_i, c_i+1) of 2^24."""
    n = len(freqs)
    c = np.zeros(n + 1, np.int64)
    c[1:n] = (np.cumsum(freqs)[:-1] * ((1 << 24) - n)) // (1 << 16) + np.arange(1, n)
    c[n] = 1 << 24
    return c


class Tables:
    """The model the header names: NAME.safetensors with the header's SHA-256 (its bytes), the ladder
    from NAME.json's config."""

    def __init__(self, name: str, sha: bytes) -> None:
        for folder in WEIGHTS:
            path = folder / f"{name}.safetensors"
            if path.exists() and hashlib.sha256(path.read_bytes()).digest() == sha:
                break
        else:
            raise SpecError(f"no {name}.safetensors with SHA-256 {sha.hex()}")
        t = load_file(str(path))
        cfg = json.loads(path.with_suffix(".json").read_text())["config"]
        self.levels = int(cfg["levels"])
        self.level_channels = [int(k) for k in cfg.get("level_channels") or [cfg["latent_channels"]] * self.levels]
        self.key = [self._rows(t, f"key.{lv}") for lv in range(self.levels)]
        self.delta = self._rows(t, "delta")
        self.R = len(self.delta)

    @staticmethod
    def _rows(t: dict, prefix: str) -> list[tuple[int, int, object]]:
        offsets, sizes, freqs = t[f"{prefix}.offsets"], t[f"{prefix}.sizes"], t[f"{prefix}.freqs"]
        rows = []
        for i in range(len(offsets)):
            f = freqs[i, : int(sizes[i])].astype(np.int64)
            if (f < 1).any() or f.sum() != 1 << 16:
                raise SpecError(f"{prefix} row {i}: frequencies are not >= 1 summing to 2^16")
            rows.append((int(offsets[i]), int(sizes[i]), categorical(f)))
        return rows


def unzigzag(z: int) -> int:
    return z >> 1 if not z & 1 else -((z + 1) >> 1)


def zigzag(v: int) -> int:
    return 2 * v if v >= 0 else -2 * v - 1


class Section:
    """A 12.0 ANS section: words to the payload's end, escapes first."""

    def __init__(self, data: bytes, n_symbols: int) -> None:
        if data and data[-1] == 0:
            raise SpecError("an ANS section ends in a zero byte")
        padded = data + b"\0" * (-len(data) % 4)
        self.coder = constriction.stream.stack.AnsCoder(np.frombuffer(padded, "<u4").astype(np.uint32))
        self.escapes: list[int] = []
        if self.coder.decode(ESCAPE_FLAG) == 1:
            n = self.number()
            if not 1 <= n <= 2 * len(data) or n > n_symbols:
                raise SpecError(f"escape count {n} out of range")
            for _ in range(n):
                v = unzigzag(self.number())
                if abs(v) > LIMIT:
                    raise SpecError("an escaped value beyond 2^24")
                self.escapes.append(v)
        self.used = 0

    def number(self) -> int:
        bits = int(self.coder.decode(Uniform(27)))
        if bits <= 1:
            return bits
        m, shift, left = 1 << (bits - 1), 0, bits - 1
        while left:
            k = min(16, left)
            m += int(self.coder.decode(Uniform(1 << k))) << shift
            shift, left = shift + k, left - k
        return m

    def symbols(self, table: tuple[int, int, object], count: int) -> np.ndarray:
        offset, n, model = table
        if not count:
            return np.zeros(0, np.int64)
        idx = np.asarray(self.coder.decode(model, count), np.int64)
        out = idx + offset
        for i in np.flatnonzero(idx == n - 1):
            if self.used >= len(self.escapes):
                raise SpecError("more escapes than the escape list holds")
            out[i] = self.escapes[self.used]
            self.used += 1
        return out


def box3(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    p = np.pad(a, 1)
    return sum(p[1 + i:1 + i + h, 1 + j:1 + j + w] for i in (-1, 0, 1) for j in (-1, 0, 1))


def cross4(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    p = np.pad(a, 1)
    return p[0:h, 1:-1] + p[2:, 1:-1] + p[1:-1, 0:w] + p[1:-1, 2:]


def how_many_at_most(edges: tuple[int, ...], values: np.ndarray) -> np.ndarray:
    return sum((values >= e).astype(np.int64) for e in edges)


def key_tables(tables: Tables, sel: np.ndarray, c: int, before: np.ndarray, anchors: np.ndarray | None,
               anchor: np.ndarray) -> np.ndarray:
    """Each position's table row: anchors from the two channels before, the others (given the
    anchors' values) from their four neighbours too."""
    p = how_many_at_most((1, 2, 4, 8, 16, 32), box3(before))
    if anchors is None:
        return np.clip(sel[c] + KEY_SHIFTS[p], 0, tables.R - 1)
    n = how_many_at_most((1, 2, 4, 8), cross4(np.abs(anchors * anchor)))
    return np.clip(sel[c] + KEY_SHIFTS[7 + 5 * p + n], 0, tables.R - 1)


def decode_key(payload: bytes, flags: int, header: dict, tables: Tables) -> tuple[np.ndarray, int, int]:
    """A key payload's symbols (C, h, w), its level and how many escapes went unused."""
    C, h, w = header["channels"], header["latent_h"], header["latent_w"]
    if flags & 1:  # 11.0: the colour correction's 24 bytes first
        payload = payload[24:]
    level, context = payload[0] & 0x7F, payload[0] >> 7
    if level >= tables.levels:
        raise SpecError(f"level {level} out of range")
    K = tables.level_channels[level]
    sec = Section(payload[1:], K + K * h * w)
    out = np.zeros((C, h, w), np.int64)
    if context == 0:
        for c in range(K):
            out[c] = sec.symbols(tables.key[level][c], h * w).reshape(h, w)
    else:
        sel = np.asarray(sec.coder.decode(Uniform(tables.R), K), np.int64)
        yy, xx = np.mgrid[0:h, 0:w]
        anchor = (xx + yy) % 2 == 0
        for c in range(K):
            before = sum((np.abs(out[c - d]) for d in (1, 2) if c - d >= 0), np.zeros((h, w), np.int64))
            v = np.zeros((h, w), np.int64)
            for mask, anchors in ((anchor, None), (~anchor, v)):
                t = key_tables(tables, sel, c, before, anchors, anchor)
                for row in range(tables.R):
                    at = np.flatnonzero((mask & (t == row)).ravel())
                    v.ravel()[at] = sec.symbols(tables.delta[row], len(at))
            out[c] = v
    return out, level, len(sec.escapes) - sec.used


def encode_key(sym: np.ndarray, level: int, context: int, tables: Tables, sel: np.ndarray | None = None) -> bytes:
    """The spec's key payload of ``sym`` (no colour prefix): what real streams seldom reach goes
    through both decoders this way."""
    _, h, w = sym.shape
    K = tables.level_channels[level]
    ops, escapes = [], []

    def put(table: tuple[int, int, object], vals: np.ndarray) -> None:
        offset, n, model = table
        idx = vals - offset
        esc = (idx < 0) | (idx >= n - 1)
        escapes.extend(int(v) for v in vals[esc])
        if len(idx):
            ops.append((model, np.where(esc, n - 1, idx)))

    def number(m: int) -> list:
        bits = m.bit_length()
        out = [(Uniform(27), [bits])]
        rest, shift, left = m - (1 << (bits - 1)) if bits else 0, 0, max(bits - 1, 0)
        while left:
            k = min(16, left)
            out.append((Uniform(1 << k), [(rest >> shift) & ((1 << k) - 1)]))
            shift, left = shift + k, left - k
        return out

    if context == 0:
        for c in range(K):
            put(tables.key[level][c], sym[c].ravel())
    else:
        ops.append((Uniform(tables.R), sel))
        yy, xx = np.mgrid[0:h, 0:w]
        anchor = (xx + yy) % 2 == 0
        for c in range(K):
            before = sum((np.abs(sym[c - d]) for d in (1, 2) if c - d >= 0), np.zeros((h, w), np.int64))
            for mask, anchors in ((anchor, None), (~anchor, sym[c])):
                t = key_tables(tables, sel, c, before, anchors, anchor)
                for row in range(tables.R):
                    put(tables.delta[row], sym[c].ravel()[np.flatnonzero((mask & (t == row)).ravel())])
    head = [(ESCAPE_FLAG, [int(bool(escapes))])]
    if escapes:
        head += number(len(escapes)) + [op for v in escapes for op in number(zigzag(v))]
    coder = constriction.stream.stack.AnsCoder()
    for model, vals in reversed(head + ops):
        coder.encode_reverse(np.asarray(vals, np.int32), model)
    return bytes([level | context << 7]) + coder.get_compressed().astype("<u4").tobytes().rstrip(b"\0")


def reference(header: dict, decoders: dict) -> FrameDecoder:
    shape = (header["channels"], header["latent_h"], header["latent_w"])
    key = (header["model_name"], header["model_hash"], shape, header["version"][0])
    if key not in decoders:
        model = zoo.load(header["model_name"], sha256=header["model_hash"].hex())
        decoders[key] = FrameDecoder(model, shape, major=header["version"][0])
    return decoders[key]


def key_packets(path: Path) -> list[tuple[dict, dict, Tables]]:
    buf = path.read_bytes()
    header = read_header(buf)
    assert 13 <= header["version"][0] <= 15 and header["mode"] == 0 and header["coder"] == 0
    tables = Tables(header["model_name"], header["model_hash"])
    keys = [(p, header, tables) for p in read_packets(buf, header)[0] if p["stream"] == 0 and p["kind"] == 1]
    assert keys, f"{path.name} has no key packet"
    return keys


@pytest.fixture(scope="module")
def streams(tmp_path_factory) -> dict[str, Path]:
    """Real streams of the shipped model (both key contexts; a 1x1 latent) and the tiny model's."""
    d = tmp_path_factory.mktemp("speckey")
    samples = ROOT / "samples"
    out = {"golden 13.0": DATA / "golden_terse.gvc", "golden 14.0": DATA / "golden_fine.gvc"}
    for name, clip, options in (("bikes q1", samples / "bikes.mp4", {"quality": 1}),
                                ("bikes q8", samples / "bikes.mp4", {"quality": 8}),
                                ("vtest q1", samples / "vtest.mp4", {"quality": 1}),  # context 0
                                ("16x16 q8", write_testsrc(d / "t.mp4", frames=2, size=(16, 16)), {"quality": 8})):
        out[name] = d / f"{name}.gvc"
        api.encode(clip, out[name], gop=1, max_frames=2, **options)
    return out


@pytest.fixture(autouse=True)
def tiny_models_found(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", os.pathsep.join(str(p) for p in (tiny_model_dir, DATA)))


def test_the_spec_decodes_every_key_packet_as_the_decoder_does(streams):
    decoders: dict = {}
    contexts = set()
    for name, path in streams.items():
        for packet, header, tables in key_packets(path):
            mine, level, unused = decode_key(packet["payload"], packet["flags"], header, tables)
            body = packet["payload"][24:] if packet["flags"] & 1 else packet["payload"]
            ref, ref_level = reference(header, decoders).decode_symbols("key", body)
            assert (level, unused) == (ref_level, 0), name
            np.testing.assert_array_equal(mine, np.asarray(ref), err_msg=name)
            contexts.add(body[0] >> 7)
    assert contexts == {0, 1}


def test_crafted_keys_decode_alike_both_ways(streams):
    """Escapes whose number takes two pieces, ±2^24, context 0 with escapes, every selector row."""
    decoders: dict = {}
    for name in ("bikes q1", "bikes q8", "vtest q1"):
        packet, header, tables = key_packets(streams[name])[0]
        sym, level, _ = decode_key(packet["payload"], packet["flags"], header, tables)
        K = tables.level_channels[level]
        rng = np.random.default_rng(7)
        big = sym.copy()
        for v in (1 << 24, -(1 << 24), 5_000_001, -70_000, 65_537, 1 << 16, -3, 200, -1000):
            big[rng.integers(K), rng.integers(header["latent_h"]), rng.integers(header["latent_w"])] = v
        sel = rng.integers(0, tables.R, K)
        sel[0], sel[-1] = 0, tables.R - 1
        for context in (0, 1):
            for s in (sym, big):
                payload = encode_key(s, level, context, tables, sel)
                mine, lv, unused = decode_key(payload, 0, header, tables)
                ref, ref_level = reference(header, decoders).decode_symbols("key", payload)
                assert (lv, ref_level, unused) == (level, level, 0)
                np.testing.assert_array_equal(mine, s)
                np.testing.assert_array_equal(np.asarray(ref), s)


@pytest.mark.parametrize("tables", ["residual", "vaegan-i key"])
def test_the_spec_intervals_are_what_the_coder_decodes(tables):
    """FORMAT.md's integer intervals of a table row, probed at every boundary: a state whose low 24
    bits are c_i - 1 decodes entry i - 1, one at c_i entry i. Float32 probabilities fail this."""
    if tables == "residual":
        t = residual_tables()
        rows = [t.freqs[r, : t.sizes[r]] for r in range(len(t.sizes))]
    else:
        w = load_file(str(ROOT / "vidcodec" / "weights" / "vaegan-i.safetensors"))
        rows = [w["key.4.freqs"][r, : w["key.4.sizes"][r]] for r in range(0, len(w["key.4.sizes"]), 7)]

    def decoded(model, q: int) -> int:
        return int(constriction.stream.stack.AnsCoder(np.array([q, 1], np.uint32)).decode(model))

    for freqs in rows:
        f = freqs.astype(np.int64)
        c = spec_intervals(f)
        model = categorical(f)
        for i in range(1, len(f)):
            assert (decoded(model, int(c[i]) - 1), decoded(model, int(c[i]))) == (i - 1, i)
    moved = 0
    for freqs in rows:
        f32 = constriction.stream.model.Categorical(freqs.astype(np.float32) / np.float32(65536.0), perfect=False)
        c = spec_intervals(freqs.astype(np.int64))
        moved += sum((decoded(f32, int(c[i]) - 1), decoded(f32, int(c[i]))) != (i - 1, i) for i in range(1, len(freqs)))
    assert moved > 0
