"""What format 13.0's packet headers save: the same payloads written with 12.0 and 13.0 headers.

    python runs/overhead/headers13.py FRAMES QUALITY CLIP...

Each clip is encoded once (the writer's format, 13.0); its packets are then written again into a
12.0 container (same header fields, version 12.0) and both files are read back to check they hold the
same packets. Prints the file sizes and the saving: the packet headers' share of 13.0 alone. (Run at
commit db1b52f, when 13.0 changed only packet headers, the 12.0 file was a valid 12.0 stream; since
13.0 also codes delta selectors by the previous delta's, its payloads are not 12.0's and the rewritten
file measures headers only.)
"""
import dataclasses
import sys
import tempfile
from pathlib import Path

from vidcodec import api, container

frames, quality, clips = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
for clip in clips:
    with tempfile.TemporaryDirectory() as d:
        v13, v12 = Path(d) / "v13.gvc", Path(d) / "v12.gvc"
        api.encode(clip, v13, quality=quality, max_frames=frames, overwrite=True)
        with container.GvcReader(v13) as r:
            packets = list(r)
            header = dataclasses.replace(r.header, version=(12, 0))
        with container.GvcWriter(v12, header) as w:
            for p in packets:
                w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)
        with container.GvcReader(v12) as r:
            again = list(r)
        assert [(p.kind, p.pts, p.payload, p.flags) for p in again] == [(p.kind, p.pts, p.payload, p.flags) for p in packets]
        a, b = v12.stat().st_size, v13.stat().st_size
        n = sum(p.stream_index == 0 for p in packets)
        print(f"{Path(clip).name} q{quality} {n} frames: 12.0 {a} B, 13.0 {b} B: {a - b} B fewer "
              f"({100 * (a - b) / a:.2f} %, {(a - b) / n:.2f} B a frame)", flush=True)
