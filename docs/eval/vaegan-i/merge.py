"""Merge a new model's vidcodec points with the reference codecs' points of an earlier run of the same
frames (x264 and JPEG are deterministic, so they need not be measured again) and write the usual
report (points, bdrate.csv, summary.csv, rd.png) into OUT:

    python docs/eval/vaegan-i/merge.py OUT REFERENCE_POINTS[,...] NEW_POINTS[,...] [CODEC=NEWNAME ...]

REFERENCE_POINTS: points.json files whose non-vidcodec points are kept (for the new points' clips);
NEW_POINTS: points.json files whose vidcodec / vidcodec-intra points are kept, and those of the codecs
renamed by CODEC=NEWNAME (a compare run's model names: ``vaegan-i=vidcodec``).
"""

import json
import sys
from pathlib import Path

from vidcodec.evaluate.rd import RDPoint, all_bd_rates, format_table, save_report


def load(path: str) -> list[RDPoint]:
    fields = RDPoint.__dataclass_fields__
    return [RDPoint(**{k: v for k, v in d.items() if k in fields}) for d in json.loads(Path(path).read_text())]


def main() -> None:
    out, refs, news = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
    rename = dict(a.split("=", 1) for a in sys.argv[4:])
    new = []
    for f in news:
        for p in load(f):
            if p.codec in rename:
                p.codec = rename[p.codec]
            elif not p.codec.startswith("vidcodec"):
                continue
            new.append(p)
    clips = {p.clip for p in new}
    ref = [p for f in refs for p in load(f) if not p.codec.startswith("vidcodec") and p.clip in clips]
    points = new + ref
    save_report(points, out)
    print(format_table(all_bd_rates(points)))


if __name__ == "__main__":
    main()
