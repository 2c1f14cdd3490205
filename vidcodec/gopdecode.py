"""GOP-parallel symbol decoding: several runs of packets decoded side by side in worker processes.

A keyframe resets every state a VAE-GAN decoder keeps (the previous symbols, the temporal context),
so the packets from one keyframe up to the next (a *run*) decode alone. Entropy decoding and the
learned prediction are the decoder's CPU work, and they are sequential within a run and hold the
GIL between numpy calls (two threads decoding two streams took 1.28x the time of one after the
other on the 2-core VM), hence processes. :class:`RunDecoder` reads ahead of the caller by up to
``workers`` runs, hands each to a worker process as soon as it is complete, and gives back each
packet's result in stream order: ``(symbols, level)`` or the :class:`~vidcodec.errors.CoderError`
that a sequential decoder would have raised at that packet. The caller
(:func:`vidcodec.api._decode_packets`) keeps its concealment rules: it asks for a result only
where it would have decoded the packet, so the frames are the ones a sequential decode gives.

A run ends before the next keyframe or a damaged stretch that may lose frames (not before a
damaged packet of another stream, which the caller skips); one that starts with a delta (a stream
read from its middle, or after damage) is decoded by a fresh decoder, as a sequential decoder
would with no reference (a CoderError). Memory grows with the runs in flight: ``workers + 1`` GOPs
of symbols (int16 where they fit, else int32) in the caller, and a run's in each busy worker; at
1080p a 250-frame GOP is about 400 MB, so this is for machines with many cores and the memory to
match (``vidcodec decode --workers N``). Streams whose header allows GOPs longer than
:data:`MAX_RUN_FRAMES` decode in one process (a run comes out only once the next keyframe has been
read). A decode stopped early still waits for the runs being decoded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future

import numpy as np

from . import container, pipeline
from .codec import subpel
from .errors import CoderError, UsageError
from .models import zoo

MAX_RUN_FRAMES = 1000  # the longest GOP (header's gop) decoded in worker processes

_decoder_args: tuple | None = None  # in a worker: (model, header) for fresh decoders


def _init(header: container.StreamHeader, backend: str, workers: int) -> None:
    global _decoder_args
    from . import api

    # a worker entropy-decodes only: its symbols are every backend's, and it needs neither a network nor
    # torch (``auto`` may synthesize in bfloat16 in the main process)
    _decoder_args = (api._stream_model(header, "ort" if backend in (zoo.AUTO, zoo.BF16, zoo.INT8) else backend), header)
    subpel.share_cores(workers)


def _decode_run(packets: list[tuple[str, bytes]]) -> list[tuple[np.ndarray, int] | CoderError]:
    """In a worker: each packet's (symbols, level) in order, up to and including the first CoderError."""
    from . import api

    model, header = _decoder_args
    decoder = api._frame_decoder(model, header)
    out: list[tuple[np.ndarray, int] | CoderError] = []
    for kind, payload in packets:
        try:
            symbols, level = decoder.decode_symbols(kind, payload)
        except CoderError as e:  # the caller conceals up to the next keyframe: nothing after it is needed
            out.append(e)
            break
        if np.issubdtype(symbols.dtype, np.integer):  # ANS symbols (QSGD streams' latents are floats)
            small = np.iinfo(np.int16)
            fits = symbols.size == 0 or (symbols.min() >= small.min and symbols.max() <= small.max)
            symbols = symbols.astype(np.int16 if fits else np.int32)
        out.append((symbols, level))
    return out


class RunDecoder(pipeline.ProcessWorkers):
    """Worker processes decoding the runs of one stream (a context manager; see the module). Made
    before the decode's threads start (:class:`vidcodec.pipeline.ProcessWorkers`); the children
    use no ONNX Runtime."""

    def __init__(self, header: container.StreamHeader, workers: int, backend: str = "ort") -> None:
        if workers < 2:
            raise UsageError(f"a RunDecoder needs at least 2 workers (got {workers}); decode in-process instead")
        if header.mode != container.Mode.VAEGAN:
            raise UsageError("--workers applies to VAE-GAN streams only (a GAN-mode stream decodes in-process)")
        self.header = header
        super().__init__(workers, _init, (header, backend, workers))

    def results(self, items: Iterator) -> Iterator[tuple[object, Future | None, int]]:
        """``(item, future, index)`` for every item of a :class:`container.GvcReader`, in order: for a
        video packet of stream 0, the future of its run's results and its index in the run (the
        result list ends early after a CoderError); ``(item, None, -1)`` for anything else. Items
        come out once ``workers`` later runs are submitted (or at the end of the stream)."""
        from .api import _TYPE_TO_KIND, _colour_section  # api imports this module

        def body(item: container.Packet) -> bytes:
            """What the frame decoder reads of a packet: its payload after any colour correction (one cut
            short is the caller's CoderError, raised before it asks for this packet's result)."""
            try:
                return bytes(_colour_section(item, self.header)[1])
            except CoderError:
                return bytes(item.payload)

        ahead: deque[list] = deque()  # [item, future, index] in stream order
        run: list[list] = []  # the current run's entries, not submitted yet
        remaining: dict[Future, int] = {}  # submitted runs: entries not yet handed out

        def submit() -> None:
            if not run:
                return
            future = self.pool.submit(_decode_run, [(_TYPE_TO_KIND[e[0].kind], body(e[0])) for e in run])
            for j, entry in enumerate(run):
                entry[1], entry[2] = future, j
            remaining[future] = len(run)
            run.clear()

        def hand_out() -> tuple[object, Future | None, int]:
            item, future, j = ahead.popleft()
            if future is not None:
                remaining[future] -= 1
                if not remaining[future]:
                    del remaining[future]
            return item, future, j

        last_pts: int | None = None  # the last video packet's a decode applies: later ones only
        try:
            for item in items:
                damaged = isinstance(item, container.Damaged)
                video = not damaged and item.stream_index == 0 and item.kind in _TYPE_TO_KIND
                if video and container.frame_order(item.pts, item.payload, last_pts, None) != "next":
                    # repeated or out of order: the decode skips it (api._decode_packets), so its run must not
                    # apply it either (a delta repeated with an absolute pts was applied twice here)
                    video = False
                elif video:
                    last_pts = item.pts
                if (damaged and item.loses_frames) or (video and item.kind == container.PacketType.KEY):
                    # a run ends before a keyframe and before damage that may lose frames, not before a
                    # damaged packet of another stream (audio) or the index: a decode in one process goes
                    # on decoding the GOP's deltas after it, so the run's decoder must too
                    submit()
                entry = [item, None, _UNSUBMITTED if video else -1]
                ahead.append(entry)
                if video:
                    run.append(entry)
                while ahead:
                    _, future, j = ahead[0]
                    if j == _UNSUBMITTED or (future is not None and len(remaining) <= self.workers):
                        break  # its run is still being read, or fewer than ``workers`` runs are ahead of it
                    yield hand_out()
        except Exception:
            # The reader stopped (a stream cut off inside a packet): the packets read before it
            # come out first, as from a decode in one process, then the error
            submit()
            while ahead:
                yield hand_out()
            raise
        submit()
        while ahead:
            yield hand_out()


_UNSUBMITTED = -2  # the index of a packet whose run is still being read


def result(run: Future, index: int) -> tuple[np.ndarray, int]:
    """Packet ``index`` of a run: its (symbols, level), or the CoderError it raised, raised here."""
    got = run.result()
    if index >= len(got):  # a packet after the run's CoderError: its caller should have concealed it
        raise CoderError("packet after an undecodable one in its GOP")
    if isinstance(got[index], CoderError):
        raise got[index]
    return got[index]
