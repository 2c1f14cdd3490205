"""Fit format 13.0's delta selector tables, one per previous selector of the channel.

    python runs/context-fit/collect_selectors.py 30 /tmp/sel_train.npy DATA/videos/{carphone.mp4,motion.mov,wannaworktogether.mp4,movie-hello.mp4,bigbuckbunny.mp4}
    python runs/context-fit/collect_selectors.py 30 /tmp/sel_held.npy samples/bikes.mp4 samples/vtest.mp4 DATA/videos/diver.mov
    python runs/context-fit/fit_selectors.py /tmp/sel_train.npy /tmp/sel_held.npy

The collection records every coded delta's selectors (clip, level, channel, selector, the channel's
selector in the previous delta or -1 after a keyframe) at every level (12.0 encoder, 30 frames).
Rows are the previous selector + 1 (row 0: the first delta after a keyframe); each row is its
histogram on the training clips + 1/2, quantized to 16-bit frequencies (none zero). Prints the
table and the bits a selector costs with it and with 7.0-12.0's single table (SELECTOR_FREQS).
"""
import sys

import numpy as np

from vidcodec.codec import context

train, held = np.load(sys.argv[1]), np.load(sys.argv[2])


def quantize(counts: np.ndarray, total: int = 1 << 16) -> np.ndarray:
    f = np.maximum(1, np.floor(counts / counts.sum() * total)).astype(np.int64)
    f[np.argmax(f)] += total - f.sum()
    return f


counts = np.full((16, 15), 0.5)
np.add.at(counts, (train[:, 4] + 1, train[:, 3]), 1)
table = np.stack([quantize(c) for c in counts])


def bits(rows: np.ndarray, tables: np.ndarray, sel: np.ndarray) -> float:
    return float(np.log2((1 << 16) / tables[rows, sel]).sum())


print("SELECTOR_FREQS_AFTER = np.array([")
for row in table:
    print("    [" + ", ".join(str(int(v)) for v in row) + "],")
print("])")
for name, data in (("train", train), ("held-out", held)):
    new = bits(data[:, 4] + 1, table, data[:, 3])
    old = bits(np.zeros(len(data), int), context.SELECTOR_FREQS[None], data[:, 3])
    print(f"{name}: {new / len(data):.3f} bits a selector against {old / len(data):.3f} ({100 * (new / old - 1):+.1f} %)")
    for clip in np.unique(data[:, 0]):
        cells = []
        for level in range(8):
            m = (data[:, 0] == clip) & (data[:, 1] == level)
            if m.any():
                deltas = m.sum() / (data[m, 2].max() + 1)
                saved = bits(np.zeros(m.sum(), int), context.SELECTOR_FREQS[None], data[m, 3]) - bits(
                    data[m, 4] + 1, table, data[m, 3])
                cells.append(f"{saved / 8 / deltas:.1f}")
        print(f"  clip {clip}: bytes a delta saved at levels 0-7: {' '.join(cells)}")
