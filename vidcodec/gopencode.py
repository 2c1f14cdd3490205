"""GOP-parallel entropy coding: chunks of ``gop`` frames coded side by side in worker processes.

The delta coder (motion search, candidates, contexts, ANS) is the encoder's CPU work and, as in
:mod:`vidcodec.gopdecode`, it holds the GIL between numpy calls, so it scales with processes. With
``workers`` > 1 the latents are cut into chunks of ``gop`` frames; each chunk goes to a worker
process whose fresh :class:`~vidcodec.codec.vaegan.FrameEncoder` starts it with a keyframe (scene
cuts inside a chunk still start a GOP of their own there), and the packets come back in stream
order. A stream without scene cuts is the same as a sequential encode's given the latents alone
(keyframes every ``gop`` frames either way, tested): the workers have no synthesis, so they never
choose format 14.0's fine deltas, which a one-process encode weighs by their pictures; with cuts, a sequential encoder counts the next ``gop`` frames from the
cut while a chunked one keeps its keyframes on multiples of ``gop``: a valid stream, the same for
any number of workers.

Colour corrections (format 11.0) are fitted in the main process, which has the synthesis and the
frames: each frame goes to its worker with its source's mean colour, the worker runs the fitter's
:class:`~vidcodec.codec.colour.Schedule` over the frames it codes and sends back the decoded latent
of each frame the fitter will fit (keyframes, every ``refresh``-th delta, colour drifts), and the
main process fits them in stream order on the frames' samples it kept
(:meth:`~vidcodec.codec.vaegan.FrameEncoder.corrected`): the same corrections, so the same stream,
as one encode.

Memory grows with the chunks in flight (``workers + 1`` of them, their float latents; only the
level's channels are sent, 56 of 96 at the default level): at 640×360 about 52 MB per 250-frame
chunk, at 1080p about 460 MB (with colour corrections, the samples kept
and the decoded latents sent back add about 10 %). Not with ``--bitrate`` (the rate controller's
buffer runs across GOPs) nor ``--refine`` (its gradient steps need the frames).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import numpy as np

from . import pipeline
from .codec import colour, subpel
from .codec.vaegan import KEY
from .errors import UsageError

_make_encoder: Callable | None = None  # in a worker: () -> a fresh FrameEncoder


def _init(make: Callable, workers: int) -> None:
    global _make_encoder
    _make_encoder = make
    subpel.share_cores(workers)


def _code_chunk(first: int, latents: list[np.ndarray], means: list[np.ndarray] | None = None,
                refresh: int = 0) -> list[tuple[str, bytes, int, int, np.ndarray | None]]:
    """In a worker: (kind, payload, level, flags, decoded) of each latent of a chunk, coded from a
    keyframe on. ``means``: the sources' mean colours, when the main process fits colour corrections
    (every ``refresh`` frames, :class:`~vidcodec.codec.colour.Schedule`); ``decoded`` is then the
    frame's decoded scaled latent (int32; the Elias coder's float) where the fitter will fit it, else None."""
    encoder = _make_encoder()
    encoder._frame = first  # the frame count seeds the QSGD dither (coder elias), as in one encode
    schedule = colour.Schedule(refresh) if means is not None else None
    out = []
    for i, y in enumerate(latents):
        coded = encoder.encode_latent(y)
        decoded = None
        if schedule is not None and schedule.due(coded.kind == KEY, means[i]):
            state = encoder._prev
            # the ANS coder's integer state fits int32 (|values| <= 16 * 3 * 2**24: MAX_ESCAPE; 14.0: sixteenths);
            # the Elias coder's is QSGD's dequantized float, sent as it is (cast, it lost its fractions: the
            # colour fit on a truncated latent, 2.2 dB worse than one process's)
            decoded = state.astype(np.int32) if np.issubdtype(state.dtype, np.integer) else state.copy()
        out.append((coded.kind, coded.payload, coded.level, coded.flags, decoded))
    return out


class ChunkEncoder(pipeline.ProcessWorkers):
    """Worker processes coding chunks of ``gop`` latents (a context manager; see the module).

    ``make`` builds a fresh FrameEncoder in a worker; the workers inherit it by fork, all of them
    made here, before the caller's threads start (:class:`vidcodec.pipeline.ProcessWorkers`)."""

    def __init__(self, make: Callable, gop: int, workers: int, colour_refresh: int | None = None) -> None:
        if workers < 2:
            raise UsageError(f"a ChunkEncoder needs at least 2 workers (got {workers}); encode in-process instead")
        self.gop = gop
        self.colour_refresh = colour_refresh  # None: no colour corrections; else the fitter's refresh
        super().__init__(workers, _init, (make, workers), fork_only=True)

    def code(self, frames: Iterator[tuple[object, np.ndarray, np.ndarray | None]],
             ) -> Iterator[tuple[object, str, bytes, int, int, np.ndarray | None]]:
        """``(tag, kind, payload, level, flags, decoded)`` for each ``(tag, latent, mean)`` of ``frames``,
        in order (``mean``: the source's mean colour, with ``colour_refresh``; ``decoded``: see
        :func:`_code_chunk`); a chunk's packets come once ``workers`` later chunks are submitted (or
        at the end). Tags stay in this process."""
        flight: deque[tuple[list, Future]] = deque()
        tags: list = []
        latents: list[np.ndarray] = []
        means: list[np.ndarray] = []
        first = 0

        def submit() -> None:
            nonlocal tags, latents, means, first
            colour_args = (means, self.colour_refresh) if self.colour_refresh is not None else ()
            flight.append((tags, self.pool.submit(_code_chunk, first, latents, *colour_args)))
            first += len(latents)
            tags, latents, means = [], [], []

        def drain() -> Iterator[tuple[object, str, bytes, int, int, np.ndarray | None]]:
            chunk_tags, future = flight.popleft()
            for tag, coded in zip(chunk_tags, future.result(), strict=True):
                yield tag, *coded

        for tag, y, mean in frames:
            tags.append(tag)
            latents.append(y)
            means.append(mean)
            if len(latents) == self.gop:
                submit()
                while len(flight) > self.workers:
                    yield from drain()
        if latents:
            submit()
        while flight:
            yield from drain()
