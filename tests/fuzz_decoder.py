"""Fuzz harness for the reader and the decoder: mutated real streams must only raise vidcodec's errors.

Seeds are valid streams of the tiny test model (ANS and Elias coders, with parameters packets).
Each input applies a few random mutations: bit flips, byte overwrites, insertions, deletions,
truncation, chunk duplication, splices of two streams, and — the case that reaches the entropy
decoders — payload or header edits with the CRCs *recomputed*, so the damage passes the
container's checks. Each input is read with resync and fully decoded (parsing, entropy decoding,
concealment; ``--synthesize`` also runs the synthesis network). Anything but a VidcodecError, an
input slower than ``--max-seconds``, or memory growth past ``--max-rss-mib`` is a failure, and the
input is saved for reproduction.

    python tests/fuzz_decoder.py --inputs 100000 --seed 1 --out /tmp/fuzz-failures
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import struct
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("VIDCODEC_MODEL_PATH", str(HERE / "data"))

from vidcodec import api, container
from vidcodec.coding import varint
from vidcodec.errors import VidcodecError

_PACKET = struct.Struct("<4sBBBqII")  # the 27-byte packet header of formats 1.x-6.x (+ header CRC)


def seed_streams(tmp: Path) -> list[bytes]:
    """Valid streams: ANS and Elias, plain and with parameters packets, made from a testsrc2 clip, and
    the committed GAN-mode golden streams (latent space and feature space)."""
    from conftest import write_testsrc

    clip = write_testsrc(tmp / "fuzz-src.mp4", frames=8, size=(64, 48))
    out = []
    for coder, repeat in (("ans", False), ("ans", True), ("elias", False)):
        buf = io.BytesIO()
        api.encode(clip, buf, model="vaegan-tiny", quality=2, gop=3, coder=coder, repeat_header=repeat)
        out.append(buf.getvalue())
    out += [(HERE / "data" / name).read_bytes() for name in ("golden_gan.gvc", "golden_gan_features.gvc", "golden_lean.gvc")]
    return out


def _offsets(data: bytes) -> list[tuple[int, int, int]]:
    """Each packet's offset, the stream's packet header layout and its pts step."""
    with container.GvcReader(io.BytesIO(data)) as r:
        layout, step = container.layout_of(r.version[0]), container.pts_step(r.header)
        return [(p.offset, layout, step) for p in r]


def _packet_fields(data: bytearray, start: int, layout: int, step: int) -> tuple[int, int, int, int, int, int]:
    """stream, type, flags, pts, payload size and header size of the packet header at ``start`` (which
    earlier mutations may have damaged: any error means it cannot be edited)."""
    if layout == container.FIXED:
        _, stream, kind, flags, pts, size, _ = _PACKET.unpack_from(data, start)
        return stream, kind, flags, pts, size, container.PACKET_HEADER_SIZE
    head = bytes(data[start : start + container.MAX_LEAN_HEADER_SIZE])
    synced = head[:4] == container.PACKET_SYNC  # 12.0 stream-0 deltas have no sync marker (13.0: their pts
    # is the distance from the frame before, which the header is rewritten with)
    stream, kind, flags, stepped, _, pos = container._packet_fields(head, layout, start, synced)
    z, pos = varint.decode(head, pos, "pts", varint.MAX_U64)
    size, pos = varint.decode(head, pos, "size")
    pts = varint.unzigzag(z) * (step if stepped else 1)
    if not -(2**63) <= pts < 2**63:  # a damaged stepped pts: no header can carry it
        raise ValueError("pts beyond 64 bits")
    return stream, kind, flags, pts, size, pos + container._check_struct(layout).size + 2


def mutate(rng: np.random.Generator, seeds: list[bytes], offsets: list[list[tuple[int, int, int]]]) -> bytes:
    k = int(rng.integers(len(seeds)))
    data = bytearray(seeds[k])
    for _ in range(int(rng.integers(1, 5))):
        op = int(rng.integers(9))
        n = len(data)
        if n == 0:
            break
        at = int(rng.integers(n))
        if op == 0:  # flip bits
            data[at] ^= 1 << int(rng.integers(8))
        elif op == 1:  # overwrite bytes
            m = int(rng.integers(1, 9))
            data[at : at + m] = rng.integers(0, 256, m, dtype=np.uint8).tobytes()
        elif op == 2:  # insert bytes
            data[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif op == 3:  # delete a run
            del data[at : at + int(rng.integers(1, 64))]
        elif op == 4:  # truncate
            del data[at:]
        elif op == 5:  # duplicate a chunk
            m = int(rng.integers(1, 200))
            data[at:at] = data[at : at + m]
        elif op == 6:  # splice with another seed
            other = seeds[int(rng.integers(len(seeds)))]
            data[at:] = other[int(rng.integers(len(other))) :]
        else:  # edit a packet payload or header field and recompute its CRCs: damage the CRCs do not catch
            start, layout, step = offsets[k][int(rng.integers(len(offsets[k])))]
            try:
                stream, kind, flags, pts, size, hsize = _packet_fields(data, start, layout, step)
            except (struct.error, IndexError, ValueError, VidcodecError, container._Damage):
                continue
            body = start + hsize
            payload = bytearray(data[body : body + size])
            if op == 7 and payload:
                for _ in range(int(rng.integers(1, 4))):
                    payload[int(rng.integers(len(payload)))] = int(rng.integers(256))
            elif op == 8:
                field = int(rng.integers(4))
                if field == 0:
                    kind = int(rng.integers(256))
                elif field == 1:
                    stream = int(rng.integers(3))
                elif field == 2:
                    pts = int(rng.integers(-(2**40), 2**40))
                else:
                    payload = payload[: int(rng.integers(len(payload) + 1))]
            head = container._packet_header(stream, kind, flags, pts, bytes(payload), layout, step)
            data[start : body + size] = head + payload
    return bytes(data)


def run_one(data: bytes, synthesize: bool) -> str:
    """Decode ``data`` completely; return 'ok' or the name of the vidcodec error it ended with."""
    try:
        with container.GvcReader(io.BytesIO(data), resync=True) as reader:
            m = api._stream_model(reader.header, "torch")
            for p in api._decode_packets(reader, m):
                # as the decoder does: concealed repeats copy the last frame, only decoded frames are synthesized
                if synthesize and p.latent is not None and not p.concealed:
                    if m.kind == "pgan":  # GAN mode: the generator, from a latent or a feature map
                        m.picture(p.latent, reader.header.width, reader.header.height)
                    else:
                        m.synthesize(p.latent)
        return "ok"
    except VidcodecError as e:
        return type(e).__name__


def fuzz(inputs: int, seed: int, out: Path | None = None, synthesize: bool = False, max_seconds: float = 5.0,
         max_rss_mib: float = 2048.0, tmp: Path | None = None) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        seeds = seed_streams(Path(tmp or d))
    offsets = [_offsets(s) for s in seeds]
    rng = np.random.default_rng(seed)
    outcomes: dict[str, int] = {}
    failures = []
    slowest = 0.0
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t_start = time.perf_counter()
    for i in range(inputs):
        data = mutate(rng, seeds, offsets)
        t0 = time.perf_counter()
        try:
            result = run_one(data, synthesize)
        except Exception as e:  # noqa: BLE001 - a failure to report, not to hide
            result = f"FAIL {type(e).__name__}: {e}"
        dt = time.perf_counter() - t0
        slowest = max(slowest, dt)
        if dt > max_seconds:
            result = f"FAIL slow ({dt:.1f} s)"
        outcomes[result.split(":")[0]] = outcomes.get(result.split(":")[0], 0) + 1
        if result.startswith("FAIL"):
            failures.append(result)
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"fail-{seed}-{i}.gvc").write_bytes(data)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if rss - rss0 > max_rss_mib:
        failures.append(f"FAIL memory grew by {rss - rss0:.0f} MiB")
    return {"inputs": inputs, "seed": seed, "seconds": round(time.perf_counter() - t_start, 1),
            "slowest_s": round(slowest, 3), "peak_rss_mib": round(rss, 1), "outcomes": outcomes,
            "failures": failures[:20], "failed": len(failures)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="save failing inputs here")
    p.add_argument("--synthesize", action="store_true", help="also run the synthesis network on every frame")
    p.add_argument("--max-seconds", type=float, default=5.0)
    p.add_argument("--max-rss-mib", type=float, default=2048.0, help="peak memory growth that counts as a failure")
    a = p.parse_args()
    import json

    r = fuzz(a.inputs, a.seed, a.out, a.synthesize, a.max_seconds, a.max_rss_mib)
    print(json.dumps(r, indent=1))
    sys.exit(1 if r["failed"] else 0)


if __name__ == "__main__":
    main()
