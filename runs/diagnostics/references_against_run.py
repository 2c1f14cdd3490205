"""An eval report from one run's vidcodec points and another run's reference points (x264, x265,
JPEG), same clips and frames: vidcodec's encoder is deterministic, so its points do not depend on the
run, and a change in how the references are measured needs only the references measured again.

    vidcodec eval CLIPS --frames N --codecs x264-medium x264-veryfast-zl x264-intra jpeg --out REF_OUT
    python runs/diagnostics/references_against_run.py VIDCODEC_RUN/points.json REF_OUT/points.json OUT

It checks that every clip has the same frame count and size in both, writes OUT (the files `vidcodec
eval --out` writes) and prints eval's tables.
"""

import json
import sys
from pathlib import Path

from vidcodec.evaluate import rd


def main() -> None:
    ours, refs, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    v = [rd.RDPoint(**p) for p in json.loads(ours.read_text()) if p["codec"].startswith("vidcodec")]
    r = [rd.RDPoint(**p) for p in json.loads(refs.read_text()) if not p["codec"].startswith("vidcodec")]
    shape = {(p.clip, p.frames, p.width + p.width % 2, p.height + p.height % 2) for p in v}
    for p in r:  # the references are even-cropped: compare the sizes rounded up to even
        if (p.clip, p.frames, p.width + p.width % 2, p.height + p.height % 2) not in shape:
            raise SystemExit(f"{p.clip}: {p.frames} frames of {p.width}x{p.height} in {refs}, not in {ours}")
    points = v + r
    print(rd.format_table(rd.summarize(points)))
    print()
    bd = rd.all_bd_rates(points)
    print(rd.format_table(bd))
    rd.save_report(points, out)


if __name__ == "__main__":
    main()
