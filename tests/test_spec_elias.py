"""docs/FORMAT.md's Elias payloads against the streams, through a decoder written from the spec alone.

The decoder below (mode 0 with coder 1: the level byte, QSGD bits, float32 norms, ``n_values`` and
``n_bytes``, Elias-gamma levels, dequantization in float64, deltas added in float32, the latent
divided by the level's gains; mode 1: dense and sparse QSGD values in Elias-gamma or Elias-delta
codes, latent space and feature space) was written from FORMAT.md without reading the
implementation (2026-12-06). It decoded real streams of both modes exactly, and its writing found
what the spec left open: a count ``n_values`` other than K·h·w and bytes after the levels, which
the decoder accepted (a forged count made it unpack up to 8 values a byte), the level byte
(plain, never 12.0's context bit), mode 0's norms (finite, ≥ 0), a delta's level (the previous
frame's), which gains divide the latent (numpy's float32 ``exp`` is not the same on every CPU:
15.0 defines them), and mode 1's sizes (from the card). FORMAT.md now states all of these, and the
decoder refuses the first two.
Its values must equal ``FrameDecoder(coder="elias")``'s and ``GanFrameDecoder``'s bit for bit (its
latents, over 15.0's gains, the decoder's where they equal numpy's and within 2 ulps elsewhere);
a spec-side encoder pushes what real streams never hold (coder 1 deltas, ±s at 16 bits, zero,
subnormal and huge norms, both Elias kinds, sparse corrections with no level, one at the last
position or every one non-zero) through both, and damage the spec names must be refused by both.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import write_testsrc
from safetensors.numpy import load_file
from test_spec_reader import read_header, read_packets

from vidcodec import api, container
from vidcodec.codec import subpel
from vidcodec.codec.gan import GanFrameDecoder
from vidcodec.codec.vaegan import FrameDecoder
from vidcodec.errors import CoderError, CorruptPacketError
from vidcodec.models import zoo

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
WEIGHTS = (ROOT / "vidcodec" / "weights", DATA)


class SpecError(Exception):
    pass


# ----------------------------------------------------------------------------- Elias codes
class Bits:
    """MSB-first codes over a byte string ("Elias-gamma codes", "Elias-delta codes")."""

    def __init__(self, data: bytes) -> None:
        self.bits = np.unpackbits(np.frombuffer(bytes(data), np.uint8)).astype(np.int64)
        self.n = len(self.bits)
        ones = np.flatnonzero(self.bits)  # next_one[p]: the first 1 at or after p (n: none)
        self.next_one = np.append(ones, self.n)[np.searchsorted(ones, np.arange(self.n + 1))]
        self.pos = 0

    def _int(self, a: int, b: int) -> int:
        return int("".join(map(str, self.bits[a:b])) or "0", 2)

    def gamma(self, count: int) -> list[int]:
        """``count`` naturals n >= 1: ⌊log2 n⌋ zeros, then n's digits."""
        out = []
        for _ in range(count):
            one = int(self.next_one[self.pos])
            zeros = one - self.pos
            if one >= self.n or one + zeros + 1 > self.n:
                raise SpecError("an Elias-gamma code cut off")
            if zeros > 64:
                raise SpecError("an Elias-gamma prefix longer than 64 zeros")
            out.append(self._int(one, one + zeros + 1))
            self.pos = one + zeros + 1
        return out

    def delta(self, count: int) -> list[int]:
        """``count`` naturals: the gamma code of N + 1, then n's N low bits."""
        out = []
        for _ in range(count):
            (length,) = self.gamma(1)
            if length > 65:
                raise SpecError("an Elias-delta length field over 65")
            low = length - 1
            if self.pos + low > self.n:
                raise SpecError("an Elias-delta code cut off")
            v = 1 << low | self._int(self.pos, self.pos + low)
            self.pos += low
            if v > 1 << 64:
                raise SpecError("an Elias-delta value over 2^64")
            out.append(v)
        return out

    def finish(self) -> None:
        """Zero padding to the end of the last byte, and nothing after."""
        end = -(-self.pos // 8) * 8
        if end != self.n:
            raise SpecError(f"{(self.n - end) // 8} bytes after the last code")
        if self.bits[self.pos:end].any():
            raise SpecError("padding bits that are not zero")


def signed(n: int) -> int:
    """0 -> 1, -1 -> 2, 1 -> 3, -2 -> 4: n odd is (n - 1) / 2, n even is -n / 2."""
    return (n - 1) >> 1 if n & 1 else -(n >> 1)


def dequantize(q: np.ndarray, norm: np.float32, bits: int) -> np.ndarray:
    """float32(q · (norm / s)), computed in float64."""
    return (q.astype(np.float64) * (np.float64(norm) / ((1 << bits) - 1))).astype(np.float32)


def checked_norm(norm: np.float32) -> np.float32:
    if not np.isfinite(norm) or norm < 0:
        raise SpecError("a norm that is not finite and >= 0")
    return norm


def checked_levels(q: np.ndarray, bits: int) -> np.ndarray:
    if not 2 <= bits <= 16:
        raise SpecError(f"QSGD bits {bits} outside 2..16")
    if q.size and np.abs(q).max() > (1 << bits) - 1:
        raise SpecError("a level beyond s")
    return q


# ----------------------------------------------------------------------------- models
def model_file(name: str, sha: bytes) -> tuple[Path, dict]:
    """NAME.safetensors with the header's SHA-256, and its card NAME.json."""
    for folder in WEIGHTS:
        path = folder / f"{name}.safetensors"
        if path.exists() and hashlib.sha256(path.read_bytes()).digest() == sha:
            return path, json.loads(path.with_suffix(".json").read_text())
    raise SpecError(f"no {name}.safetensors with SHA-256 {sha.hex()}")


def exact_gains(log_gain: np.ndarray) -> np.ndarray:
    """15.0's gains: binary32(binary64(exp(log_gain))), the exponential to 40 digits."""
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)
    return np.array([np.float32(float(ctx.exp(decimal.Decimal(float(v))))) for v in log_gain.ravel()],
                    np.float32).reshape(log_gain.shape)


class Vaegan:
    def __init__(self, name: str, sha: bytes) -> None:
        path, card = model_file(name, sha)
        cfg = card["config"]
        self.levels = int(cfg["levels"])
        self.level_channels = [int(k) for k in cfg.get("level_channels") or [cfg["latent_channels"]] * self.levels]
        self.gains = exact_gains(load_file(str(path))["log_gain"].astype(np.float32))


class Pgan:
    def __init__(self, name: str, sha: bytes) -> None:
        _, card = model_file(name, sha)
        if card.get("kind") != "pgan":
            raise SpecError(f"{name} is not a GAN generator")
        self.Z = int(card["config"]["latent"])
        self.depths = [int(d) for d in card["config"]["depths"]]


# ----------------------------------------------------------------------------- mode 0, coder 1
def decode_mode0(payload: bytes, flags: int, kind: int, header: dict, model: Vaegan,
                 prev: dict | None) -> dict:
    """A key's or delta's level, bits, norms, levels q (K, h, w) and scaled latent (C, h, w);
    ``prev`` is the previous frame's result."""
    C, h, w = header["channels"], header["latent_h"], header["latent_w"]
    if header["version"][0] >= 11 and flags & 1:  # the colour correction's 24 bytes
        payload = payload[24:]
    if len(payload) < 2:
        raise SpecError("payload too short")
    level, bits = payload[0], payload[1]  # a plain level byte
    if level >= model.levels:
        raise SpecError(f"level {level} out of range")
    if kind == 2 and (prev is None or prev["level"] != level):
        raise SpecError("a delta without its reference, or at another level")
    K = model.level_channels[level]
    if len(payload) < 10 + 4 * K:
        raise SpecError("payload too short for its norms and counts")
    norms = np.frombuffer(payload, "<f4", K, 2)
    n_values, n_bytes = struct.unpack_from("<II", payload, 2 + 4 * K)
    if n_values != K * h * w:
        raise SpecError(f"n_values {n_values}, not K.h.w = {K * h * w}")
    codes = payload[10 + 4 * K:]
    if len(codes) != n_bytes:
        raise SpecError(f"n_bytes {n_bytes}, and {len(codes)} bytes follow")
    r = Bits(codes)
    q = np.array([signed(n) for n in r.gamma(K * h * w)], np.int64).reshape(K, h, w)
    r.finish()
    checked_levels(q, bits)
    values = np.zeros((C, h, w), np.float32)
    for c in range(K):
        values[c] = dequantize(q[c], checked_norm(norms[c]), bits)
    scaled = (prev["scaled"] + values).astype(np.float32) if kind == 2 else values
    return {"level": level, "bits": bits, "norms": norms, "q": q, "scaled": scaled}


def latent_of(scaled: np.ndarray, level: int, model: Vaegan) -> np.ndarray:
    """The scaled latent divided channel by channel by the level's float32 gains."""
    return (scaled / model.gains[level][:, None, None]).astype(np.float32)


# ----------------------------------------------------------------------------- mode 1
def qsgd_value(data: bytes, D: int, sparse: bool) -> dict:
    """A dense or sparse QSGD value of D values; nothing may follow its codes."""
    if len(data) < (10 if sparse else 6):
        raise SpecError("QSGD value too short")
    bits, elias = data[0], data[1]
    if elias not in (0, 1):
        raise SpecError(f"Elias kind {elias}")
    norm = checked_norm(np.frombuffer(data, "<f4", 1, 2)[0])
    if not sparse:
        r = Bits(data[6:])
        q = np.array([signed(n) for n in (r.gamma if elias == 0 else r.delta)(D)], np.int64)
        r.finish()
        return {"bits": bits, "elias": elias, "q": checked_levels(q, bits), "value": dequantize(q, norm, bits)}
    (n,) = struct.unpack_from("<I", data, 6)
    if n > D:
        raise SpecError("n > D")
    r = Bits(data[10:])
    naturals = (r.gamma if elias == 0 else r.delta)(2 * n)
    r.finish()
    q, pos = np.zeros(D, np.int64), -1
    for gap, level in zip(naturals[:n], naturals[n:], strict=True):
        pos += gap  # the natural gap + 1
        if pos >= D:
            raise SpecError("a position past D")
        q[pos] = (level + 1) // 2 if level & 1 else -(level // 2)  # 2q - 1 for q > 0, -2q for q < 0
    return {"bits": bits, "elias": elias, "q": checked_levels(q, bits), "n": n, "value": dequantize(q, norm, bits)}


def gan_space(header: dict, model: Pgan) -> tuple[str, int]:
    C, h, w = header["channels"], header["latent_h"], header["latent_w"]
    if (C, h, w) == (model.Z, 1, 1):
        return "z", model.Z
    for k, depth in enumerate(model.depths):
        if (C, h, w) == (depth, 4 << k, 4 << k) and header["version"][0] >= 6:
            return "feature", C * h * w
    raise SpecError(f"latent shape {(C, h, w)}: an inconsistent header")


def decode_mode1(payload: bytes, kind: int, header: dict, model: Pgan, prev: np.ndarray | None) -> dict:
    """Latent space: the state. Feature space: a key's ẑ and correction (its state needs the
    generator), a delta's correction and state."""
    space, D = gan_space(header, model)
    shape = (header["channels"], header["latent_h"], header["latent_w"])
    if kind == 2 and prev is None:
        raise SpecError("a delta without its reference")
    if space == "z":
        v = qsgd_value(payload, D, sparse=False)
        state = v["value"].reshape(shape)
        return {"qsgd": v, "state": (prev + state).astype(np.float32) if kind == 2 else state}
    if kind == 2:
        v = qsgd_value(payload, D, sparse=True)
        correction = v["value"].reshape(shape)
        return {"qsgd": v, "correction": correction, "state": (prev + correction).astype(np.float32)}
    if len(payload) < 4:
        raise SpecError("key too short")
    (L,) = struct.unpack_from("<I", payload)
    if 4 + L > len(payload):
        raise SpecError("the key's latent runs past the payload")
    z = qsgd_value(payload[4:4 + L], model.Z, sparse=False)
    v = qsgd_value(payload[4 + L:], D, sparse=True)
    return {"z": z, "qsgd": v, "correction": v["value"].reshape(shape)}


# ----------------------------------------------------------------------------- a spec-side writer
def gamma_code(n: int) -> str:
    return "0" * (n.bit_length() - 1) + format(n, "b")


def delta_code(n: int) -> str:
    return gamma_code(n.bit_length()) + format(n, "b")[1:]


def natural(v: int) -> int:
    return 2 * v + 1 if v >= 0 else -2 * v


def packed(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def write_mode0(level: int, bits: int, norms, q: np.ndarray, n_values: int | None = None) -> bytes:
    codes = packed("".join(gamma_code(natural(int(v))) for v in q.ravel()))
    return (bytes([level, bits]) + np.asarray(norms, "<f4").tobytes()
            + struct.pack("<II", q.size if n_values is None else n_values, len(codes)) + codes)


def write_dense(bits: int, elias: int, norm: float, q) -> bytes:
    code = gamma_code if elias == 0 else delta_code
    return bytes([bits, elias]) + struct.pack("<f", norm) + packed("".join(code(natural(int(v))) for v in q))


def write_sparse(bits: int, elias: int, norm: float, q: np.ndarray) -> bytes:
    at = np.flatnonzero(q)
    naturals = [int(g) + 1 for g in np.diff(at, prepend=-1) - 1]
    naturals += [2 * int(v) - 1 if v > 0 else -2 * int(v) for v in q[at]]
    code = gamma_code if elias == 0 else delta_code
    return (bytes([bits, elias]) + struct.pack("<fI", norm, len(at))
            + (packed("".join(code(n) for n in naturals)) if len(at) else b""))


# ----------------------------------------------------------------------------- the streams
@pytest.fixture(autouse=True)
def tiny_models_found(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("VIDCODEC_MODEL_PATH", os.pathsep.join(str(p) for p in (tiny_model_dir, DATA)))


@pytest.fixture(scope="module")
def streams(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """Mode 0 coder 1 streams (the tiny model at 2 and 16 bits and two levels, vaegan-i on bikes) and
    mode 1 streams of pgan-tiny (feature space, latent space; 1.1 and 6.0 goldens)."""
    d = tmp_path_factory.mktemp("specelias")
    clip = write_testsrc(d / "t.mp4", frames=3, size=(64, 48))
    out = {"gan 1.1": DATA / "golden_gan.gvc", "gan features 6.0": DATA / "golden_gan_features.gvc"}
    for name, source, options in (
            ("tiny 2 bits", clip, {"model": "vaegan-tiny", "latent_bits": 2, "quality": 1}),
            ("tiny 16 bits", clip, {"model": "vaegan-tiny", "latent_bits": 16, "quality": 3}),
            ("bikes", ROOT / "samples" / "bikes.mp4", {"max_frames": 2}),
            ("gan features", clip, {"mode": "gan", "model": "pgan-tiny", "coeffs": 16, "latent_bits": 3}),
            ("gan z", clip, {"mode": "gan", "model": "pgan-tiny", "gan_layer": "z", "gop": 2})):
        out[name] = d / f"{name}.gvc"
        options = {"max_frames": 3, "search_iters": 2, "coder": "elias"} | options
        if options.get("mode") != "gan":
            options.pop("search_iters")
        api.encode(source, out[name], **options)
    return out


def packets(path: Path) -> tuple[dict, list[dict]]:
    """The header and frame packets: 13.0 layouts by the spec's reader, older ones by the container's."""
    buf = path.read_bytes()
    header = read_header(buf)
    if header["version"][0] >= 13:
        frames = [p for p in read_packets(buf, header)[0] if p["stream"] == 0 and p["kind"] in (1, 2)]
    else:
        with container.GvcReader(path) as r:
            frames = [{"kind": int(p.kind), "flags": p.flags, "payload": bytes(p.payload)}
                      for p in r if p.stream_index == 0 and int(p.kind) in (1, 2)]
    assert frames and header["coder"] == 1
    return header, frames


def reference(header: dict):
    """The decoder vidcodec.api builds for the stream's mode."""
    m = zoo.load(header["model_name"], sha256=header["model_hash"].hex())
    shape = (header["channels"], header["latent_h"], header["latent_w"])
    if header["mode"] == 1:
        return GanFrameDecoder(m, shape, major=header["version"][0])
    return FrameDecoder(m, shape, coder="elias", major=header["version"][0])


def body(packet: dict, header: dict) -> bytes:
    colour = header["mode"] == 0 and header["version"][0] >= 11 and packet["flags"] & 1
    return packet["payload"][24:] if colour else packet["payload"]


KIND = {1: "key", 2: "delta"}


def mode0_frames(path: Path) -> tuple[dict, Vaegan, list[tuple[dict, dict]]]:
    header, frames = packets(path)
    assert header["mode"] == 0
    model, prev, out = Vaegan(header["model_name"], header["model_hash"]), None, []
    for p in frames:
        prev = decode_mode0(p["payload"], p["flags"], p["kind"], header, model, prev)
        out.append((p, prev))
    return header, model, out


MODE0 = ("tiny 2 bits", "tiny 16 bits", "bikes")
MODE1 = ("gan 1.1", "gan features 6.0", "gan features", "gan z")


# ----------------------------------------------------------------------------- mode 0
def test_mode0_payloads_decode_as_the_decoder_does(streams):
    """Every key (each its own level and bits), and each packet's levels once more as a coder 1 delta
    after the one before it, which the encoder never writes."""
    seen, deltas = set(), 0
    for name in MODE0:
        header, model, frames = mode0_frames(streams[name])
        ref, chained, prev = reference(header), reference(header), None
        for i, (p, mine) in enumerate(frames):
            state, level = ref.decode_symbols(KIND[p["kind"]], body(p, header))
            assert level == mine["level"], name
            np.testing.assert_array_equal(np.asarray(state), mine["scaled"], err_msg=name)
            seen.add((mine["bits"], mine["level"], model.level_channels[mine["level"]]))
            as_delta = i > 0 and frames[i - 1][1]["level"] == mine["level"]
            deltas += as_delta
            kind = 2 if as_delta else 1
            prev = decode_mode0(body(p, header), 0, kind, header, model, prev)
            state, _ = chained.decode_symbols(KIND[kind], body(p, header))
            np.testing.assert_array_equal(np.asarray(state), prev["scaled"], err_msg=f"{name} #{i} {KIND[kind]}")
            assert not as_delta or not np.array_equal(prev["scaled"], mine["scaled"])
    assert {b for b, _, _ in seen} >= {2, 4, 16} and len({k for _, _, k in seen}) >= 2, seen
    assert deltas >= 4


def test_mode0_latents_are_the_decoders_to_an_ulp_of_the_gains(streams):
    """The latent: the scaled one over the level's float32 gains. The decoder divides by numpy's
    float32 exp, which may differ from 15.0's exact gains in the last bit (FORMAT.md: either serves
    this float step): with numpy's, the same latents; with the exact ones, the same where the gains
    agree and at most 2 ulps apart elsewhere. The exact ones are also the predictor's."""
    for name in ("tiny 16 bits", "bikes"):
        header, model, frames = mode0_frames(streams[name])
        log_gain = load_file(str(model_file(header["model_name"], header["model_hash"])[0]))["log_gain"]
        np.testing.assert_array_equal(model.gains, subpel.format_gains(log_gain))
        ref = reference(header)
        for p, mine in frames:
            state, level = ref.decode_symbols(KIND[p["kind"]], body(p, header))
            theirs = np.asarray(ref.latent(state, level))[0]
            numpy_gains = np.exp(log_gain.astype(np.float32)).astype(np.float32)[level]
            np.testing.assert_array_equal((mine["scaled"] / numpy_gains[:, None, None]).astype(np.float32), theirs)
            ours = latent_of(mine["scaled"], level, model)
            np.testing.assert_array_max_ulp(ours, theirs, maxulp=2)
            same = model.gains[level] == numpy_gains
            np.testing.assert_array_equal(ours[same], theirs[same])


def test_dequantizing_in_float32_would_misread_real_streams(streams):
    """The spec's float32(q·(norm/s)) computed in float64 is what the decoder gives; a reader that
    computes it in float32 gets other values (the comparison above would fail)."""
    moved = 0
    for name in MODE0:
        header, _, frames = mode0_frames(streams[name])
        ref = reference(header)
        for p, mine in frames:
            state = np.asarray(ref.decode_symbols(KIND[p["kind"]], body(p, header))[0])
            s = np.float32((1 << mine["bits"]) - 1)
            in_float32 = mine["q"].astype(np.float32) * (mine["norms"] / s)[:, None, None]
            assert in_float32.dtype == np.float32
            np.testing.assert_array_equal(state[:len(in_float32)], mine["scaled"][:len(in_float32)])
            moved += int((state[:len(in_float32)] != in_float32).sum())
    assert moved > 0


@pytest.mark.parametrize("bits", [2, 16])
def test_crafted_mode0_payloads_decode_alike(streams, bits):
    """Keys and deltas with ±s, zero (also -0.0), subnormal, tiny and huge norms, at every level of
    vaegan-i (K from 8 to 96) and the tiny model."""
    rng = np.random.default_rng(bits)
    for name in ("tiny 16 bits", "bikes"):
        header, _ = packets(streams[name])
        model = Vaegan(header["model_name"], header["model_hash"])
        h, w = header["latent_h"], header["latent_w"]
        if name == "bikes":  # a 2x3 latent keeps the payloads of every level small
            header = header | {"latent_h": 2, "latent_w": 3}
            h, w = 2, 3
        s = (1 << bits) - 1
        for level in range(model.levels):
            K = model.level_channels[level]
            ref, prev = reference(header), None
            for kind in (1, 2, 2):
                q = rng.integers(-s, s + 1, (K, h, w))
                q[0, 0, 0], q[-1, -1, -1], q[K // 2] = s, -s, 0
                norms = rng.choice(np.array([0.0, -0.0, 1e-45, 1e-30, 0.5, 3.0, 97.25], np.float32), K)
                norms[-1] = 3.4e38 if kind == 1 else norms[-1]  # a key's: deltas add to it
                payload = write_mode0(level, bits, norms, q)
                prev = decode_mode0(payload, 0, kind, header, model, prev)
                state, lv = ref.decode_symbols(KIND[kind], payload)
                assert lv == level
                np.testing.assert_array_equal(prev["q"], q)
                np.testing.assert_array_equal(np.asarray(state), prev["scaled"], err_msg=f"{name} level {level}")


def refuses(decoder, kind: str, payload: bytes) -> bool:
    try:
        decoder.decode_symbols(kind, payload)
    except (CoderError, CorruptPacketError):
        return True
    return False


def spec_refuses(decode, *args) -> bool:
    try:
        decode(*args)
    except SpecError:
        return True
    return False


def mode0_damage(key: bytes, q: np.ndarray, bits: int, levels: int) -> dict[str, tuple[str, bytes]]:
    """Payloads FORMAT.md calls undecodable, made from a real key and its levels ``q`` (as a key, or
    as a delta after it)."""
    K = len(q)
    n_at = 2 + 4 * K
    n_values, n_bytes = struct.unpack_from("<II", key, n_at)
    codes = key[n_at + 8:]

    def with_counts(n: int, m: int, rest: bytes = codes) -> bytes:
        return key[:n_at] + struct.pack("<II", n, m) + rest

    def norm0(value: float) -> bytes:
        return key[:2] + struct.pack("<f", value) + key[6:]

    s = (1 << bits) - 1
    last = packed("".join(gamma_code(natural(v)) for v in [0] * (n_values - 1) + [s + 1]))
    more = packed("".join(gamma_code(natural(int(v))) for v in q.ravel()) + "1" * 8 * len(codes))
    pad = packed("".join(gamma_code(natural(v)) for v in [1] + [0] * (n_values - 1)))  # 6 bits' padding
    assert (n_values + 2) % 8
    return {
        # what 14.1's decoder accepted (a count, trailing bytes) or its spec left unsaid, now the format's
        "n_values + 1": ("key", with_counts(n_values + 1, n_bytes)),
        "n_values - 1": ("key", with_counts(n_values - 1, n_bytes)),
        "n_values forged, its codes there": ("key", with_counts(n_values + 8 * len(codes), len(more), more)),
        "a byte after the levels": ("key", key + b"\x00"),
        "n_bytes one short": ("key", with_counts(n_values, n_bytes - 1)),
        "a zero byte counted in n_bytes": ("key", with_counts(n_values, n_bytes + 1, codes + b"\x00")),
        "a NaN norm": ("key", norm0(float("nan"))),
        "an infinite norm": ("key", norm0(float("inf"))),
        "a negative norm": ("key", norm0(-1.0)),
        "a delta at another level": ("delta", bytes([(key[0] + 1) % levels]) + key[1:]),
        # and the rest of the table
        "level 0x80 | level": ("key", bytes([key[0] | 0x80]) + key[1:]),
        "bits 1": ("key", key[:1] + b"\x01" + key[2:]),
        "bits 17": ("key", key[:1] + b"\x11" + key[2:]),
        "a level beyond s": ("key", with_counts(n_values, len(last), last)),
        "n_bytes past the payload": ("key", with_counts(n_values, n_bytes + 1)),
        "a code cut off": ("key", with_counts(n_values, n_bytes - 1, codes[:-1])),
        "padding bits not zero": ("key", with_counts(n_values, len(pad), pad[:-1] + bytes([pad[-1] | 1]))),
        "norms cut off": ("key", key[:n_at - 1]),
    }


def test_mode0_damage_is_refused_by_both(streams):
    for name in ("tiny 2 bits", "bikes"):
        header, model, frames = mode0_frames(streams[name])
        p, mine = frames[0]
        key = body(p, header)
        cases = mode0_damage(key, mine["q"], mine["bits"], model.levels)
        for label, (kind, payload) in cases.items():
            ref = reference(header)
            ref.decode_symbols("key", key)
            assert spec_refuses(decode_mode0, payload, 0, 1 if kind == "key" else 2, header, model, mine), label
            assert refuses(ref, kind, payload), f"{name}: {label}: the decoder accepts it"
        assert spec_refuses(decode_mode0, key, 0, 2, header, model, None)  # a delta without its key
        assert refuses(reference(header), "delta", key)


# ----------------------------------------------------------------------------- mode 1
def test_mode1_payloads_decode_as_the_decoder_does(streams):
    """Latent-space states; feature-space corrections and deltas' states; a key's state is the
    generator's features of ẑ (the decoder's, from the same key with no correction) plus ours."""
    layouts = set()
    for name in MODE1:
        header, frames = packets(streams[name])
        model = Pgan(header["model_name"], header["model_hash"])
        ref, features, prev = reference(header), reference(header), None
        zs, corrections, states = [], [], []
        for p in frames:
            mine = decode_mode1(p["payload"], p["kind"], header, model, prev)
            state = np.asarray(ref.decode_symbols(KIND[p["kind"]], p["payload"])[0])
            layouts.add((gan_space(header, model)[0], p["kind"], mine["qsgd"]["elias"]))
            if "state" not in mine:  # a feature-space key
                (L,) = struct.unpack_from("<I", p["payload"])
                empty = p["payload"][:4 + L] + p["payload"][4 + L:4 + L + 6] + b"\0\0\0\0"
                base = np.asarray(features.decode_symbols("key", empty)[0])
                mine["state"] = (base + mine["correction"]).astype(np.float32)
                z = GanFrameDecoder(ref.model, (model.Z, 1, 1), major=header["version"][0])
                np.testing.assert_array_equal(np.asarray(z.decode_symbols("key", p["payload"][4:4 + L])[0]).ravel(),
                                              mine["z"]["value"], err_msg=name)
                zs.append(mine["z"]["value"])
            np.testing.assert_array_equal(state.reshape(mine["state"].shape), mine["state"], err_msg=name)
            corrections.append(mine.get("correction"))
            states.append(mine["state"].ravel())
            prev = state.reshape(mine["state"].shape)
        if name == "gan 1.1":  # the golden streams' recorded values
            np.testing.assert_array_equal(np.stack(states), np.load(DATA / "golden_gan_latents.npz")["z"])
        if name == "gan features 6.0":
            want = np.load(DATA / "golden_gan_features.npz")
            np.testing.assert_array_equal(np.stack(zs), want["z"])
            np.testing.assert_array_equal(np.stack(corrections), want["correction"])
    assert {(s, k) for s, k, _ in layouts} == {("z", 1), ("z", 2), ("feature", 1), ("feature", 2)}


def gan_header(streams, space: str) -> dict:
    return packets(streams["gan z" if space == "z" else "gan features"])[0]


@pytest.mark.parametrize("elias", [0, 1])
def test_crafted_mode1_payloads_decode_alike(streams, elias):
    """Both Elias kinds at 2 and 16 bits, ±s, zero and huge norms; sparse corrections with no level,
    one at the last position, every one non-zero."""
    rng = np.random.default_rng(elias)
    header = gan_header(streams, "z")
    model = Pgan(header["model_name"], header["model_hash"])
    ref, prev = reference(header), None
    for kind, bits, norm in ((1, 16, 3.4e38), (2, 2, 0.0), (2, 16, 1.5), (2, 5, 1e-40)):
        s = (1 << bits) - 1
        q = rng.integers(-s, s + 1, model.Z)
        q[:3] = s, -s, 0
        payload = write_dense(bits, elias, norm, q)
        mine = decode_mode1(payload, kind, header, model, prev)
        np.testing.assert_array_equal(mine["qsgd"]["q"], q)
        prev = np.asarray(ref.decode_symbols(KIND[kind], payload)[0]).reshape(mine["state"].shape)
        np.testing.assert_array_equal(prev, mine["state"])
    header = gan_header(streams, "feature")
    shape = (header["channels"], header["latent_h"], header["latent_w"])
    D = int(np.prod(shape))
    ref, features = reference(header), reference(header)
    z = rng.integers(-7, 8, model.Z)
    head = struct.pack("<I", len(write_dense(3, elias, 2.0, z))) + write_dense(3, elias, 2.0, z)
    base = np.asarray(features.decode_symbols("key", head + write_sparse(3, 0, 0.0, np.zeros(D)))[0])  # features_N(ẑ)
    prev = None
    for kind, q in ((1, np.eye(1, D, D - 1, dtype=np.int64)[0] * -65535),
                    (2, np.zeros(D, np.int64)),
                    (2, rng.integers(1, 65536, D) * rng.choice([-1, 1], D)),
                    (2, np.eye(1, D, 0, dtype=np.int64)[0] * 7)):
        correction = write_sparse(16, elias, 0.75, q)
        payload = head + correction if kind == 1 else correction
        mine = decode_mode1(payload, kind, header, model, prev)
        np.testing.assert_array_equal(mine["qsgd"]["q"], q)
        state = np.asarray(ref.decode_symbols(KIND[kind], payload)[0])
        if kind == 1:
            np.testing.assert_array_equal(mine["z"]["q"], z)
            mine["state"] = (base + mine["correction"]).astype(np.float32)
        np.testing.assert_array_equal(state, mine["state"])
        prev = state


def mode1_damage(space: str, key: bytes, D: int) -> dict[str, tuple[str, bytes]]:
    """Payloads FORMAT.md calls undecodable (as a key, or as a delta after ``key``)."""
    dense = write_dense(4, 0, 1.0, [1] + [0] * (D - 1))  # codes of 2 + D bits, sparse's 10: padding
    sparse = write_sparse(4, 0, 1.0, np.eye(1, D, 3, dtype=np.int64)[0] * 3)
    L = struct.unpack_from("<I", key)[0] if space == "feature" else 0
    value = dense if space == "z" else sparse
    kind = "key" if space == "z" else "delta"
    cases = {
        "a byte after the codes": (kind, value + b"\0"),
        "bits 1": (kind, b"\x01" + value[1:]),
        "bits 17": (kind, b"\x11" + value[1:]),
        "Elias kind 2": (kind, value[:1] + b"\x02" + value[2:]),
        "a NaN norm": (kind, value[:2] + struct.pack("<f", float("nan")) + value[6:]),
        "a negative norm": (kind, value[:2] + struct.pack("<f", -0.5) + value[6:]),
        "an infinite norm": (kind, value[:2] + struct.pack("<f", float("inf")) + value[6:]),
        "a level beyond s": (kind, write_dense(2, 0, 1.0, [4] + [0] * (D - 1)) if space == "z"
                             else write_sparse(2, 1, 1.0, np.eye(1, D, 0, dtype=np.int64)[0] * 4)),
        "an Elias-delta length field of 66": (kind, value[:1] + b"\x01" + value[2:6] + (b"" if space == "z" else
                                              value[6:10]) + packed("0" * 6 + "1000010" + "0" * 65)),
        "padding bits not zero": (kind, value[:-1] + bytes([value[-1] | 1])),
        "a code cut off": (kind, value[:-1]),
        "the header cut off": (kind, value[:5]),
    }
    if space == "z":
        cases["a delta without its key"] = ("fresh delta", dense)
        return cases
    cases |= {
        "n > D": (kind, sparse[:6] + struct.pack("<I", D + 1) + sparse[10:]),
        "a position past D": (kind, write_sparse(4, 0, 1.0, np.eye(1, D + 1, D, dtype=np.int64)[0])),
        "n = 0 with a byte after": (kind, write_sparse(4, 0, 1.0, np.zeros(D)) + b"\0"),
        "a key's L past the payload": ("key", struct.pack("<I", len(key)) + key[4:]),
        "a key cut off in L": ("key", key[:3]),
        "a key's latent with a byte after it": ("key", struct.pack("<I", L + 1) + key[4:4 + L] + b"\0" + key[4 + L:]),
        "a delta without its key": ("fresh delta", sparse),
    }
    return cases


@pytest.mark.parametrize("space", ["z", "feature"])
def test_mode1_damage_is_refused_by_both(streams, space):
    header, frames = packets(streams["gan z" if space == "z" else "gan features"])
    model = Pgan(header["model_name"], header["model_hash"])
    key = frames[0]["payload"]
    prev = np.asarray(reference(header).decode_symbols("key", key)[0])
    prev = prev.reshape(header["channels"], header["latent_h"], header["latent_w"])
    for label, (kind, payload) in mode1_damage(space, key, gan_space(header, model)[1]).items():
        ref = reference(header)
        if kind != "fresh delta":
            ref.decode_symbols("key", key)
        assert spec_refuses(decode_mode1, payload, 1 if kind == "key" else 2, header, model,
                            None if kind == "fresh delta" else prev), label
        assert refuses(ref, "delta" if kind == "fresh delta" else kind, payload), f"{space}: {label}"
