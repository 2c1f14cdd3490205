"""A run's CSV logs (log.csv, val.csv): one row per logged step, the step in the first column."""

from __future__ import annotations

import os
from pathlib import Path


def keep_until(path: Path, step: int) -> int:
    """Drop the rows of ``path`` logged after ``step`` (in place, atomically; the header stays).

    A run resumed from its checkpoint at ``step`` trains those steps again: rows an interrupted run
    logged after its last save would otherwise appear twice. Returns the number of rows dropped."""
    try:
        lines = path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return 0
    kept = lines[:1]
    for line in lines[1:]:
        try:
            if int(line.split(",", 1)[0]) <= step:
                kept.append(line)
        except ValueError:  # a row cut short by a crash
            pass
    dropped = len(lines) - len(kept)
    if dropped:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text("".join(kept))
        os.replace(tmp, path)
    return dropped


def last_seconds(path: Path) -> float:
    """The time column (the second) of a log's last row; 0 without one."""
    try:
        last = path.read_text().rstrip("\n").rsplit("\n", 1)[-1].split(",")
        return float(last[1])
    except (OSError, IndexError, ValueError):
        return 0.0
