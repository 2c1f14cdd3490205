"""GOP-parallel entropy coding: chunks of ``gop`` frames coded side by side in worker processes.

The delta coder (motion search, candidates, contexts, ANS) is the encoder's CPU work and, as in
:mod:`vidcodec.gopdecode`, it holds the GIL between numpy calls, so it scales with processes. With
``workers`` > 1 the latents are cut into chunks of ``gop`` frames; each chunk goes to a worker
process whose fresh :class:`~vidcodec.codec.vaegan.FrameEncoder` starts it with a keyframe (scene
cuts inside a chunk still start a GOP of their own there), and the packets come back in stream
order. A stream without scene cuts is the same as a sequential encode's (keyframes every ``gop``
frames either way, tested); with cuts, a sequential encoder counts the next ``gop`` frames from the
cut while a chunked one keeps its keyframes on multiples of ``gop``: a valid stream, the same for
any number of workers.

Memory grows with the chunks in flight (``workers + 1`` of them, their float latents): at 640×360
about 90 MB per 250-frame chunk, at 1080p about 800 MB. Not with ``--bitrate`` (the rate
controller's buffer runs across GOPs) nor ``--refine`` (its gradient steps need the frames).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import numpy as np

from . import pipeline
from .codec import subpel
from .errors import UsageError

_make_encoder: Callable | None = None  # in a worker: () -> a fresh FrameEncoder


def _init(make: Callable, workers: int) -> None:
    global _make_encoder
    _make_encoder = make
    subpel.share_cores(workers)


def _code_chunk(first: int, latents: list[np.ndarray]) -> list[tuple[str, bytes, int, int]]:
    """In a worker: (kind, payload, level, flags) of each latent of a chunk, coded from a keyframe on."""
    encoder = _make_encoder()
    encoder._frame = first  # the frame count seeds the QSGD dither (coder elias), as in one encode
    out = []
    for y in latents:
        coded = encoder.encode_latent(y)
        out.append((coded.kind, coded.payload, coded.level, coded.flags))
    return out


class ChunkEncoder(pipeline.ProcessWorkers):
    """Worker processes coding chunks of ``gop`` latents (a context manager; see the module).

    ``make`` builds a fresh FrameEncoder in a worker; the workers inherit it by fork, all of them
    made here, before the caller's threads start (:class:`vidcodec.pipeline.ProcessWorkers`)."""

    def __init__(self, make: Callable, gop: int, workers: int) -> None:
        if workers < 2:
            raise UsageError(f"a ChunkEncoder needs at least 2 workers (got {workers}); encode in-process instead")
        self.gop = gop
        super().__init__(workers, _init, (make, workers), fork_only=True)

    def code(self, frames: Iterator[tuple[object, np.ndarray]]) -> Iterator[tuple[object, str, bytes, int, int]]:
        """``(tag, kind, payload, level, flags)`` for each ``(tag, latent)`` of ``frames``, in order; a
        chunk's packets come once ``workers`` later chunks are submitted (or at the end)."""
        flight: deque[tuple[list, Future]] = deque()
        tags: list = []
        latents: list[np.ndarray] = []
        first = 0

        def submit() -> None:
            nonlocal tags, latents, first
            flight.append((tags, self.pool.submit(_code_chunk, first, latents)))
            first += len(latents)
            tags, latents = [], []

        def drain() -> Iterator[tuple[object, str, bytes, int, int]]:
            chunk_tags, future = flight.popleft()
            for tag, coded in zip(chunk_tags, future.result(), strict=True):
                yield tag, *coded

        for tag, y in frames:
            tags.append(tag)
            latents.append(y)
            if len(latents) == self.gop:
                submit()
                while len(flight) > self.workers:
                    yield from drain()
        if latents:
            submit()
        while flight:
            yield from drain()
