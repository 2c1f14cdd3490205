"""What datagram loss does to a stream sent over udp:// (vidcodec/network.py): frames kept, frames
concealed, and PSNR against the same stream received whole.

    LD_PRELOAD=libtcmalloc_minimal.so.4 python runs/network/loss.py STREAM.gvc [--loss 0 0.001 0.01 0.05] [--seeds 3]

STREAM.gvc: a stream encoded with --repeat-header (as every network output is), e.g.
``vidcodec encode samples/vtest.mp4 s.gvc --frames 100 --gop 25 --repeat-header``. Its packets go
through a UdpSender (pkt_size 1472) into a list; each loss rate drops that share of the datagrams
(independently, seeded), the rest go to a real UdpInput on 127.0.0.1, and vidcodec.frames decodes
what it receives. Prints one JSON line a (loss, seed): frames decoded, concealed, how many differ from the
stream received whole, and their mean PSNR against it.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import socket
import sys

import numpy as np

import vidcodec
from vidcodec import container, network


class Capture:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data, addr) -> None:
        self.sent.append(bytes(data))

    def close(self) -> None:
        pass


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("stream")
    ap.add_argument("--loss", type=float, nargs="+", default=[0, 0.001, 0.01, 0.05])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--no-numbers", action="store_true",
                    help="control: the datagrams' bytes joined without their numbers (as a bare UDP byte stream "
                    "would give them), decoded from memory: what a loss does where nothing marks it")
    a = ap.parse_args()
    with container.GvcReader(a.stream) as r:
        header, packets = r.header, [p for p in r if p.kind is not container.PacketType.PARAMETERS]
    out = network.UdpSender(network.parse("udp://127.0.0.1:9", "out"))
    out._sock = Capture()
    with container.GvcWriter(out, header, repeat_header=True) as w:
        for p in packets:
            w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)
    datagrams = out._sock.sent
    clean = [f.rgb for f in vidcodec.frames(a.stream)]
    for loss in a.loss:
        for seed in range(a.seeds if loss else 1):
            rng = random.Random(seed)
            kept = [d for d in datagrams if rng.random() >= loss]
            if a.no_numbers:
                rx = io.BytesIO(b"".join(d[network.SEQ.size:] for d in kept))
            else:
                rx = network.open_input("udp://127.0.0.1:0", timeout=1)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
                    for d in kept:
                        tx.sendto(d, ("127.0.0.1", rx.raw.port))
            frames, error = [], None
            try:
                for f in vidcodec.frames(rx):
                    frames.append(f)  # noqa: PERF402 (the frames before an error are kept)
            except vidcodec.VidcodecError as e:  # e.g. the last datagrams lost: a truncated stream
                error = str(e)
            rx.close()
            scores = [psnr(f.rgb, c) for f, c in zip(frames, clean, strict=False)]
            differ = [x for x in scores if x < 100]  # frames not as the stream received whole decodes them
            print(json.dumps({"loss": loss, "seed": seed, "datagrams": len(datagrams), "dropped": len(datagrams) - len(kept),
                              "frames": len(frames), "of": len(clean), "concealed": sum(f.concealed for f in frames),
                              "differ": len(differ),
                              "psnr_differing_mean": round(float(np.mean(differ)), 2) if differ else None,
                              "error": error}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
