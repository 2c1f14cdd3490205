"""Times as FFmpeg's options write them (``-ss``, ``-t``): seconds (90, 1.5) or ``[HH:]MM:SS[.frac]``
(1:30, 00:01:30.5), parsed exactly; shared by the CLI and the Python API (one light module, so that
the CLI's start-up does not import the codec)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

FORMS = "seconds (90, 1.5) or [HH:]MM:SS[.frac] (1:30, 00:01:30.5)"


def parse_time(text: str) -> Fraction:
    """``text`` as an exact number of seconds (a leading ``-`` negates it); ValueError naming
    :data:`FORMS` for anything else."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text)
    parts = body.split(":")
    try:
        if len(parts) > 3 or not all(parts) or any(not p.replace(".", "", 1).isdigit() for p in parts):
            raise ValueError(text)
        *whole, last = parts
        if any("." in p for p in whole) or any(int(p) >= 60 for p in whole[1:]) or (whole and Fraction(last) >= 60):
            raise ValueError(text)
        value = Fraction(last)
        for i, p in enumerate(reversed(whole), start=1):
            value += int(p) * 60**i
    except ValueError:
        raise ValueError(f"{text!r} is not a time: give {FORMS}") from None
    return sign * value


def steady_rate(intervals: Sequence[float | Fraction]) -> float | Fraction | None:
    """Frames per second from the intervals between frames' times (seconds, as floats or exactly as
    fractions), pauses left out: an interval over 4 times the median is a stall of a live input or the
    gap of a joined file, not the pace of the frames. None without a positive interval."""
    positive = sorted(i for i in intervals if i > 0)
    if not positive:
        return None
    median = positive[len(positive) // 2]
    kept = [i for i in positive if i <= 4 * median]
    return len(kept) / sum(kept)  # (an int over Fractions stays exact)
