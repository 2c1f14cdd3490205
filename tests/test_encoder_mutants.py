"""GOP-parallel coding and the pipeline stages: behaviour that a mutation-testing pass over
vidcodec/gopencode.py, vidcodec/gopdecode.py and vidcodec/pipeline.py found unpinned by
test_gopencode.py, test_gopdecode.py and test_pipeline.py. Each test names what it pins: the frame
count a chunk's worker starts from (the QSGD dither of --coder elias), the decoded latents sent back
only where the colour fitter wants them, the chunks in flight, the workers' refusals, a run's results
ending at its first undecodable packet, and the stages' closing and waiting rules.

Survivors left on purpose: tuning constants (DEPTH, the join timeouts, the put poll, MAX_RUN_FRAMES),
and mutants that change nothing observable: _code_chunk's unused ``refresh`` default, zip's strict=
(one result per latent), an empty last chunk submitted, a sentinel -2 -> -3, closing() trying to close
a running generator (its ValueError is suppressed anyway), lower_priority's 0 / 20 edges (no-ops or
clamped by Linux), put()'s return False -> None, shutdown's default wait=True, pools and generators
that CPython's reference counting closes at once, _alive's unused result, and the cleanup of a pool
already broken by a failing initializer.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest
from conftest import tiny_stream, write_testsrc

from vidcodec import api, container, gopdecode, gopencode, pipeline
from vidcodec.codec import colour
from vidcodec.codec.vaegan import DELTA, KEY, EncodedFrame
from vidcodec.errors import CoderError, UsageError
from vidcodec.models import zoo

# ------------------------------------------------------------------------------------------ gopencode


class _Recorder:
    """A stand-in for a worker's fresh FrameEncoder: a keyframe, then deltas; each payload holds the
    frame count it was coded at (``_frame``, the QSGD dither's seed) and the latent's first value, and
    its decoded latent (``_prev``) is the latent plus one, in integers."""

    def __init__(self) -> None:
        self._frame = 0
        self._prev: np.ndarray | None = None
        self._coded = 0

    def encode_latent(self, y: np.ndarray) -> EncodedFrame:
        kind = KEY if self._coded == 0 else DELTA
        self._coded += 1
        payload = struct.pack("<ii", self._frame, int(y.flat[0]))
        self._frame += 1
        self._prev = (y + 1).astype(np.int64)  # an integer state, as the ANS coder's (Elias's is float)
        return EncodedFrame(kind, payload, 2, 0)


def _latent(i: int) -> np.ndarray:
    return np.full((2, 2, 2), i, np.float32)


def test_chunks_are_coded_from_their_stream_frame_count_in_order():
    """Each chunk's worker starts its encoder at the chunk's first frame number (the frame count that
    seeds --coder elias's dither, as in one encode), every chunk from a keyframe, the packets in
    stream order with their tags, and a last short chunk coded too."""
    with gopencode.ChunkEncoder(_Recorder, 3, 2) as chunks:
        got = list(chunks.code((("tag", i), _latent(i), None) for i in range(11)))
    assert [g[0] for g in got] == [("tag", i) for i in range(11)]
    assert [struct.unpack("<ii", g[2]) for g in got] == [(i, i) for i in range(11)]
    assert [g[1] for g in got] == [KEY if i % 3 == 0 else DELTA for i in range(11)]
    assert all(g[3] == 2 and g[4] == 0 and g[5] is None for g in got)  # level, flags; no colour: nothing sent back


def test_decoded_latents_come_back_only_where_the_colour_fitter_fits():
    """With colour corrections, a worker sends back the decoded latent (as int32) of the frames its
    fitter's Schedule is due on (keyframes, every ``refresh``-th delta, a drift), None for the others;
    without them, none at all (they would be pickled and piped for nothing)."""
    means = [np.zeros(3)] * 5 + [np.ones(3)] * 5  # a colour drift at frame 5
    with gopencode.ChunkEncoder(_Recorder, 5, 2, colour_refresh=3) as chunks:
        got = list(chunks.code((i, _latent(i), means[i]) for i in range(10)))
    want = []
    for start in (0, 5):  # a fresh schedule per chunk, as the fitter starts one on each keyframe
        schedule = colour.Schedule(3)
        want += [schedule.due(i == start, means[i]) for i in range(start, start + 5)]
    assert [g[5] is not None for g in got] == want and sum(want) < 10
    for i, g in enumerate(got):
        if g[5] is not None:
            assert g[5].dtype == np.int32 and np.array_equal(g[5], _latent(i) + 1)
    with gopencode.ChunkEncoder(_Recorder, 5, 2) as chunks:
        assert all(g[5] is None for g in chunks.code((i, _latent(i), means[i]) for i in range(10)))


def test_packets_come_once_workers_later_chunks_are_submitted():
    """Memory is bounded by the chunks in flight: a chunk's packets are given once ``workers`` later
    chunks have been submitted, not held until the end of the input (nor given earlier)."""
    pulled = []

    def frames():
        for i in range(20):
            pulled.append(i)
            yield i, _latent(i), None

    with gopencode.ChunkEncoder(_Recorder, 2, 2) as chunks:
        out = chunks.code(frames())
        next(out)
        assert len(pulled) == (2 + 1) * 2  # chunk 0 and two later ones
        assert len(list(out)) == 19


def test_a_chunk_encoder_refuses_one_worker_and_spawn():
    with pytest.raises(UsageError, match="at least 2 workers"):
        gopencode.ChunkEncoder(_Recorder, 4, 1)


def test_a_chunk_encoder_needs_fork(monkeypatch):
    """Its ``make`` (a closure over the model) cannot be pickled for spawned workers: off Linux it is
    refused up front, not left to break the pool."""
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(UsageError, match="needs Linux"):
        gopencode.ChunkEncoder(lambda: _Recorder(), 4, 2)


def test_an_elias_stream_with_workers_is_the_sequential_one(tmp_path, tiny_model_dir):
    """--coder elias dithers each frame's quantization with the frame's number: a chunk's worker must
    count from the chunk's first frame, not from 0, for the stream to be one encode's."""
    clip = write_testsrc(tmp_path / "c.mp4", frames=6)
    one, two = tmp_path / "one.gvc", tmp_path / "two.gvc"
    api.encode(clip, one, model="vaegan-tiny", quality=2, gop=2, coder="elias", colour=False)
    api.encode(clip, two, model="vaegan-tiny", quality=2, gop=2, coder="elias", colour=False, workers=2)
    assert two.read_bytes() == one.read_bytes()


# ------------------------------------------------------------------------------------------ gopdecode

FRAMES, GOP = 12, 4


@pytest.fixture(scope="module")
def stream(tmp_path_factory, tiny_model_dir) -> dict:
    s = tiny_stream(tmp_path_factory.mktemp("encoder-mutants"), FRAMES, GOP)
    assert s["keys"] == [0, 4, 8]
    return s


def _undecodable(stream: dict, path, packet: int):
    """The stream with packet ``packet``'s payload replaced by bytes that pass the container's checks
    but do not decode (a delta head with flags it cannot have)."""
    with container.GvcWriter(path, stream["header"]) as w:
        for i, p in enumerate(stream["packets"]):
            w.write_packet(p.kind, p.pts, b"\xff" * 8 if i == packet else p.payload, p.stream_index, p.flags)
    return path


def test_a_runs_results_end_at_its_first_undecodable_packet(stream, tmp_path):
    """A worker stops a run at the first packet that does not decode (the caller conceals the rest up
    to the next keyframe): that packet's result is its own CoderError, and the run's list ends there."""
    path = _undecodable(stream, tmp_path / "bad.gvc", 5)  # the second GOP's first delta
    with container.GvcReader(path) as r, gopdecode.RunDecoder(r.header, 2) as runs:
        got = list(runs.results(iter(r)))
        future, j = got[5][1], got[5][2]
        results = future.result()
    assert j == 1 and len(results) == j + 1 and isinstance(results[j], CoderError)
    with pytest.raises(CoderError) as e:
        gopdecode.result(future, j)
    assert e.value is results[j]
    with pytest.raises(CoderError, match="after an undecodable one"):
        gopdecode.result(future, j + 1)


@pytest.mark.parametrize(("backend", "worker"), [("auto", "ort"), ("bf16", "ort"), ("int8", "ort"),
                                                  ("torch", "torch"), ("ort", "ort")])
def test_decode_workers_load_no_network_backend_they_do_not_need(stream, monkeypatch, backend, worker):
    """A worker only entropy-decodes: for auto, bf16 and int8 it loads the model for ONNX Runtime
    (symbols are every backend's; no torch import, no bfloat16 weights in every worker)."""
    monkeypatch.setattr(api, "_stream_model", lambda header, backend: backend)
    with gopdecode.RunDecoder(stream["header"], 2, backend) as runs:
        assert runs.pool.submit(_worker_model).result() == worker


def _worker_model():
    return gopdecode._decoder_args[0]


class _Symbols:
    """A stand-in frame decoder whose packets' payloads name the symbols they decode to."""

    def __init__(self, table: dict) -> None:
        self.table = table

    def decode_symbols(self, kind: str, payload: bytes):
        got = self.table[payload]
        if isinstance(got, CoderError):
            raise got
        return got, 3


def test_a_worker_narrows_symbols_to_int16_only_where_they_fit(monkeypatch):
    """Runs in flight are kept as int16 where every symbol fits (half the memory), else int32 with
    their values intact; an empty latent is int16, and QSGD's float latents are not rounded."""
    big = np.array([[-5, 40000]], np.int64)
    table = {b"small": np.array([[-32768, 32767]], np.int64), b"big": big, b"low": -big,
             b"empty": np.zeros((0, 4), np.int64), b"float": np.array([0.25, -1.5], np.float32)}
    monkeypatch.setattr(gopdecode, "_decoder_args", ("model", "header"))
    monkeypatch.setattr(api, "_frame_decoder", lambda model, header: _Symbols(table))
    got = gopdecode._decode_run([("key", k) for k in table])
    assert [s.dtype for s, _ in got] == [np.int16, np.int32, np.int32, np.int16, np.float32]
    for (s, level), want in zip(got, table.values()):
        assert level == 3 and np.array_equal(s, want)


def test_a_workers_run_stops_at_the_first_coder_error(monkeypatch):
    """Up to and including the first CoderError: the packets after it are not decoded (the caller
    conceals them), even those that would decode."""
    error = CoderError("bad packet")
    table = {b"a": np.zeros(2, np.int64), b"bad": error, b"b": np.ones(2, np.int64)}
    monkeypatch.setattr(gopdecode, "_decoder_args", ("model", "header"))
    monkeypatch.setattr(api, "_frame_decoder", lambda model, header: _Symbols(table))
    got = gopdecode._decode_run([("key", b"a"), ("delta", b"bad"), ("delta", b"b")])
    assert len(got) == 2 and got[1] is error


def test_a_run_decoder_refuses_a_gan_stream_and_one_worker(stream):
    hdr = stream["header"]
    with pytest.raises(UsageError, match="VAE-GAN streams only"):
        gopdecode.RunDecoder(dataclasses.replace(hdr, mode=container.Mode.GAN), 2)
    with pytest.raises(UsageError, match="at least 2 workers"):
        gopdecode.RunDecoder(hdr, 1)


def test_a_cut_short_colour_correction_is_concealed_as_in_one_process(stream, tmp_path):
    """A delta flagged with a colour correction too short to hold one: the caller conceals it (a
    CoderError), and its run still decodes in a worker from the packet's bytes as they are, so the
    packets before it in its run give their frames."""
    path = tmp_path / "short.gvc"
    with container.GvcWriter(path, stream["header"]) as w:
        for i, p in enumerate(stream["packets"]):
            cut = i == 6
            w.write_packet(p.kind, p.pts, p.payload[:1] if cut else p.payload, p.stream_index,
                           p.flags | colour.FLAG if cut else p.flags)
    one, two = list(api.frames(path)), list(api.frames(path, workers=2))
    assert [f.concealed for f in one] == [False] * 6 + [True] * 2 + [False] * 4
    assert [(f.pts, f.concealed) for f in two] == [(f.pts, f.concealed) for f in one]
    assert all(np.array_equal(f.rgb, g.rgb) for f, g in zip(one, two))


def _with_audio(stream: dict, path):
    """The stream with an audio packet (a made-up track) after every video packet."""
    from vidcodec import media

    track = media.AudioTrack(Fraction(1, 8000), b"params")
    hdr = dataclasses.replace(stream["header"],
                              extensions={**stream["header"].extensions, container.EXT_AUDIO: track.to_bytes()})
    with container.GvcWriter(path, hdr) as w:
        for i, p in enumerate(stream["packets"]):
            w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)
            w.write_packet(container.PacketType.KEY, 800 * i, struct.pack("<I", 800) + bytes(range(40)),
                           container.AUDIO_STREAM, 0)
    return path


def test_a_damaged_audio_packet_mid_gop_conceals_no_frame_with_workers(stream, tmp_path):
    """Bug fixed: a damaged packet of another stream (an audio packet whose payload fails its CRC)
    loses no frame, and a decode in one process goes on decoding the GOP's deltas; the workers ended
    their run there, so the next delta began a run of its own without its reference and it and the
    rest of its GOP were concealed."""
    path = _with_audio(stream, tmp_path / "a.gvc")
    with container.GvcReader(path) as r:
        audio = [p for p in r if p.stream_index == container.AUDIO_STREAM][5]  # after frame 5, mid-GOP
    data = bytearray(path.read_bytes())
    data[audio.offset + audio.header_size + 6] ^= 0xFF  # in its payload: its CRC fails, not its header's
    path.write_bytes(bytes(data))
    one, two = list(api.frames(path)), list(api.frames(path, workers=2))
    assert len(one) == FRAMES and not any(f.concealed for f in one)
    assert [(f.pts, f.concealed) for f in two] == [(f.pts, f.concealed) for f in one]
    assert all(np.array_equal(f.rgb, g.rgb) for f, g in zip(one, two))


def test_runs_end_before_keyframes_and_frame_losing_damage_only(stream):
    """RunDecoder.results: video packets of stream 0 are in runs (index in the run); other streams'
    packets, parameters packets and damage are (item, None, -1). A run ends before a keyframe and
    before damage that may lose frames (the delta after it starts a run a fresh decoder cannot
    decode: a CoderError, as in one process), not before damage to one packet of another stream."""
    p = stream["packets"]
    audio = dataclasses.replace(p[1], stream_index=container.AUDIO_STREAM, kind=container.PacketType.KEY)
    params = dataclasses.replace(p[2], kind=container.PacketType.PARAMETERS)
    lost = container.Damaged(offset=0, size=10, reason="test")
    other = container.Damaged(offset=0, size=10, reason="test", stream=container.AUDIO_STREAM, pts=0,
                              kind=container.PacketType.KEY)
    items = [p[0], audio, p[1], params, p[2], other, p[3], p[4], p[5], lost, p[6], p[7], p[8]]
    with gopdecode.RunDecoder(stream["header"], 2) as runs:
        got = list(runs.results(iter(items)))
        assert [g[0] for g in got] == items
        assert [g[2] for g in got] == [0, -1, 1, -1, 2, -1, 3, 0, 1, -1, 0, 1, 0]
        assert [g[1] is None for g in got] == [g[2] == -1 for g in got]
        futures = [g[1] for g in got if g[1] is not None]
        assert [futures.index(f) for f in futures] == [0, 0, 0, 0, 4, 4, 6, 6, 8]  # four runs
        symbols, _ = gopdecode.result(got[6][1], 3)  # frame 3, after the audio damage: decoded
        assert symbols.dtype == np.int16
        with pytest.raises(CoderError):
            gopdecode.result(got[10][1], 0)  # frame 6, a delta after lost frames: no reference
        gopdecode.result(got[12][1], 0)  # frame 8, a keyframe: decodes


def counted(items: list) -> tuple[list, Iterator]:
    """``items`` as a generator, and the list of those it has handed out so far."""
    pulled: list = []

    def read():
        for item in items:
            pulled.append(item)
            yield item

    return pulled, read()


def test_results_come_once_workers_later_runs_are_submitted(stream):
    """The read-ahead is ``workers`` runs: a run's packets are handed out once ``workers`` later runs
    have been submitted (with a run still being read, or at the end, not before nor after)."""
    later = stream["packets"][-1].pts + 1  # the copy after the stream (a packet not after the last is not in a run)
    again = [dataclasses.replace(p, pts=p.pts + later) for p in stream["packets"]]
    pulled, read = counted(stream["packets"] + again)  # six runs of four
    with gopdecode.RunDecoder(stream["header"], 2) as runs:
        at = [len(pulled) for _ in runs.results(read)]
    # run k comes out when the keyframe of run k + 3 is read, that is once runs k + 1 and k + 2 are submitted
    assert at == [13] * 4 + [17] * 4 + [21] * 4 + [24] * 12


def test_a_reader_error_comes_after_the_packets_read_before_it_each_in_its_run(stream):
    """The reader stops (a stream cut off inside a packet): every packet read before it comes out first,
    the run being read submitted too (its packets decode in a worker, from its keyframe), then the error."""
    from vidcodec.errors import TruncatedStreamError

    def read():
        yield from stream["packets"][:7]
        raise TruncatedStreamError("cut off")

    got = []
    with gopdecode.RunDecoder(stream["header"], 2) as runs:
        with pytest.raises(TruncatedStreamError):
            for entry in runs.results(read()):
                got.append(entry)  # noqa: PERF402 - the entries before the error are the point
        assert [g[0] for g in got] == stream["packets"][:7]
        assert [g[2] for g in got] == [0, 1, 2, 3, 0, 1, 2]
        assert got[4][1] is got[6][1] is not got[0][1] and got[6][1] is not None
        symbols, _ = gopdecode.result(got[6][1], 2)  # frame 6, decoded from its run's keyframe
    decoder = api._frame_decoder(zoo.load("vaegan-tiny"), stream["header"])
    for p in stream["packets"][4:7]:
        want, _ = decoder.decode_symbols("key" if p.kind is container.PacketType.KEY else "delta",
                                         api._colour_section(p, stream["header"])[1])
    assert np.array_equal(symbols, want)


def test_a_packet_of_another_stream_is_not_held_back(stream):
    """Only video packets wait for their run: an audio packet at the head of the queue comes out at
    once, not after the runs behind it (which would hold every later packet until the end)."""
    audio = dataclasses.replace(stream["packets"][1], stream_index=container.AUDIO_STREAM)
    pulled, read = counted([audio, *stream["packets"]])
    with gopdecode.RunDecoder(stream["header"], 2) as runs:
        out = runs.results(read)
        assert next(out)[0] is audio and len(pulled) == 1
        assert len(list(out)) == FRAMES


# ------------------------------------------------------------------------------------------- pipeline


def _in_a_thread(fn):
    """fn() run in a fresh thread (nice values are per thread on Linux), its result returned."""
    box = []
    t = threading.Thread(target=lambda: box.append(fn()))
    t.start()
    t.join(10)
    return box[0]


def _priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_closing_closes_an_idle_generator_and_leaves_a_running_one():
    """pipeline.closing closes the generator at the block's end (its finally runs there, not at garbage
    collection), and anything else with a close(); a generator another thread is running is left to
    it (closing it there raised "generator already executing")."""
    closed = threading.Event()
    gen = _endless(closed)
    next(gen)
    with pipeline.closing(gen) as g:
        assert g is gen
    assert closed.is_set()

    class Closable:
        shut = False

        def close(self):
            self.shut = True

    with pipeline.closing(Closable()) as c:
        pass
    assert c.shut

    inside = threading.Event()
    release = threading.Event()

    def held():
        inside.set()
        release.wait(10)
        yield 1

    running = held()
    t = threading.Thread(target=next, args=(running,))
    t.start()
    assert inside.wait(10)
    with pipeline.closing(running):
        pass  # no "generator already executing"
    release.set()
    t.join(10)


def _endless(closed: threading.Event):
    try:
        yield from range(10**9)
    finally:
        closed.set()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_lower_priority_only_lowers_up_to_19_and_only_on_linux(monkeypatch):
    """Nicer by ``nice`` steps, at most 19; 0 or less does nothing (no raising a thread's priority, even
    where allowed); off Linux nothing (setpriority would renice the whole process)."""
    mine = _in_a_thread(_priority)

    def after(nice):
        return _in_a_thread(lambda: (pipeline.lower_priority(nice), _priority())[1])

    assert after(1) == min(19, mine + 1)
    assert after(40) == 19
    assert after(0) == mine and after(-3) == mine
    monkeypatch.setattr(sys, "platform", "darwin")
    assert after(3) == mine


def test_a_stage_thread_is_a_named_daemon_and_ends_cleanly_on_a_source_without_close(monkeypatch):
    """The default thread name (what a profiler or a hung process's stack dump shows), a daemon thread;
    a source with no close() (a range, a list) is simply left, the thread raising nothing as it ends."""
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    names = []
    assert list(pipeline.stage(range(2), lambda x: names.append(threading.current_thread().name))) == [None] * 2
    assert names == ["vidcodec-stage"] * 2
    assert errors == []
    # a daemon: one stuck reading a stalled pipe does not keep the process from exiting
    assert list(pipeline.stage(range(1), lambda x: threading.current_thread().daemon)) == [True]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_a_stage_runs_its_thread_nicer_when_asked():
    mine = _priority()
    assert list(pipeline.stage(range(3), lambda _: _priority(), nice=2)) == [min(19, mine + 2)] * 3


def test_a_slow_consumer_gets_every_item():
    """The worker waits for room in a full queue as long as it takes (in short waits that watch for a
    close), dropping nothing."""
    got = []
    for x in pipeline.stage(range(4), depth=1):
        got.append(x)
        time.sleep(0.15)  # longer than one of the worker's waits
    assert got == list(range(4))


def test_a_stage_waiting_on_a_full_queue_does_not_spin():
    """A worker a queue ahead of its consumer sleeps until there is room (or the close it watches for),
    instead of burning a core the networks and the coder need."""
    it = pipeline.stage(range(100), depth=1)
    next(it)
    time.sleep(0.05)  # the worker has filled the queue
    t0 = time.process_time()
    time.sleep(0.4)
    used = time.process_time() - t0
    it.close()
    assert used < 0.2


def test_closing_a_stage_closes_its_source_in_the_worker():
    """The worker thread closes the iterable it pulls (a demuxer: its file) when the consumer stops,
    not leaving it to garbage collection (here the test holds a reference), and closing the consumer
    waits for it."""
    closed = threading.Event()
    source = _endless(closed)
    it = pipeline.stage(source)
    for i in it:
        if i == 3:
            break
    it.close()
    assert closed.is_set()


def _stuck(release: threading.Event):
    """One item, then a read that does not return until ``release`` (a followed file not growing)."""
    yield 0
    release.wait(10)
    yield 1


def test_a_closed_stage_waits_for_its_thread_but_a_ctrl_c_only_briefly(monkeypatch):
    """Closing a stage waits up to JOIN_TIMEOUT_S for its thread (to end after closing its source); a
    Ctrl-C unwinding through the stage waits no longer than STOPPING_JOIN_S (a thread stuck in a read
    made a Ctrl-C take seconds)."""
    import signal

    monkeypatch.setattr(pipeline, "JOIN_TIMEOUT_S", 0.6)
    monkeypatch.setattr(pipeline, "STOPPING_JOIN_S", 0.05)
    release = threading.Event()
    try:
        it = pipeline.stage(_stuck(release))
        assert next(it) == 0
        time.sleep(0.05)
        t0 = time.perf_counter()
        it.close()
        assert time.perf_counter() - t0 >= 0.5
        it = pipeline.stage(_stuck(release))
        assert next(it) == 0
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            next(it)  # waiting for the stuck thread's next item
        assert time.perf_counter() - t0 < 0.45
        timer.join()
    finally:
        release.set()


def test_parallel_threads_are_named():
    """The pool's threads and the one pulling the items carry the parallel's name (a stack dump of a hung
    encode tells the analysis from the demuxer)."""
    pullers = []

    def items():
        for i in range(6):
            pullers.append(threading.current_thread().name)
            yield i

    names = set(pipeline.parallel(items(), lambda _: threading.current_thread().name, 2))
    assert names and all(n.startswith("vidcodec-parallel") for n in names)
    assert set(pullers) == {"vidcodec-parallel"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_parallel_with_nice_uses_a_pool_of_at_least_one_thread_one_item_at_a_time():
    """Any ``nice`` above 0 runs ``fn`` in a pool whose threads are that much nicer, with one worker (or
    fewer, taken as one) one item at a time."""
    mine = _priority()
    running, most = [], []
    lock = threading.Lock()

    def fn(_):
        with lock:
            running.append(1)
            most.append(len(running))
        time.sleep(0.01)
        with lock:
            running.pop()
        return _priority()

    for workers in (1, 0):
        most.clear()
        assert list(pipeline.parallel(range(4), fn, workers, nice=1)) == [min(19, mine + 1)] * 4
        assert max(most) == 1


def test_parallel_look_ahead_is_workers_plus_depth():
    """With one worker and depth 1 (a pool: ``nice``), at most 1 + 1 items are started ahead of the one
    the consumer holds."""
    started = []
    it = pipeline.parallel(range(50), started.append, 1, depth=1, nice=1)
    next(it)
    time.sleep(0.3)
    assert len(started) <= 3
    it.close()


def test_closing_parallel_drops_what_has_not_started_and_waits_for_the_rest():
    """Closing the consumer cancels the items submitted to the pool but not started (with depth 6, up to
    8 of them) and waits for the running ones; nothing runs after it."""
    started, finished = [], []

    def slow(x):
        started.append(x)
        time.sleep(0.3)
        finished.append(x)
        return x

    it = pipeline.parallel(range(100), slow, workers=2, depth=6)
    assert next(it) == 0
    it.close()
    assert sorted(finished) == sorted(started)  # the running ones were waited for
    assert len(started) <= 4  # the first two and the two that took their place, not the queued ones
    n = len(started)
    time.sleep(0.2)
    assert len(started) == n


def test_parallel_leaves_no_threads_behind():
    assert list(pipeline.parallel(range(5), abs, 2, name="vidcodec-leak-test")) == list(range(5))
    deadline = time.monotonic() + 5
    while any(t.name.startswith("vidcodec-leak-test") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a parallel() pool's threads outlived it"
        time.sleep(0.02)


def _nothing() -> None:
    pass


def _sigterm_is_default() -> bool:
    import signal

    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _fail() -> None:
    raise RuntimeError("initializer failed")


def test_process_workers_are_made_at_once_and_end_on_sigterm():
    """Every worker is forked when the pool is made (before the caller's threads start), and a SIGTERM
    ends a worker at once instead of running the handler the main process had (inherited by fork)."""
    import signal

    old = signal.signal(signal.SIGTERM, lambda *a: None)
    try:
        with pipeline.ProcessWorkers(2, _nothing, ()) as workers:
            processes = list(workers.pool._processes.values())
            assert len(processes) == 2 and all(p.is_alive() for p in processes)
            assert all(workers.pool.submit(_sigterm_is_default).result() for _ in range(2))
    finally:
        signal.signal(signal.SIGTERM, old)


def test_process_workers_fork_on_linux_and_spawn_elsewhere(monkeypatch):
    """Elsewhere (macOS, whose system libraries are not fork-safe) spawn, unless the caller needs fork
    (``fork_only``: a UsageError up front)."""
    import multiprocessing

    asked = []
    real = multiprocessing.get_context
    monkeypatch.setattr(multiprocessing, "get_context", lambda method: (asked.append(method), real("fork"))[1])
    with pipeline.ProcessWorkers(2, _nothing, ()):
        pass
    monkeypatch.setattr(sys, "platform", "darwin")
    with pipeline.ProcessWorkers(2, _nothing, ()):
        pass
    assert asked == ["fork", "spawn"]
    with pytest.raises(UsageError, match="needs Linux"):
        pipeline.ProcessWorkers(2, _nothing, (), fork_only=True)
    assert asked == ["fork", "spawn"]


def test_a_failing_worker_initializer_is_raised_by_the_constructor():
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool):
        pipeline.ProcessWorkers(2, _fail, ())


def test_an_error_in_the_block_waits_for_the_running_jobs():
    """Only an interrupt (Ctrl-C, SIGTERM: not an Exception) stops the workers at once; an ordinary error
    leaving the block cancels the jobs not started and lets the running ones finish."""
    with pytest.raises(ValueError), pipeline.ProcessWorkers(2, _nothing, ()) as workers:
        processes = list(workers.pool._processes.values())
        running = [workers.pool.submit(time.sleep, 0.3) for _ in range(2)]
        time.sleep(0.1)
        raise ValueError
    assert all(f.done() and not f.cancelled() and f.exception() is None for f in running)
    assert all(p.exitcode == 0 for p in processes)


def test_close_by_default_lets_the_running_jobs_finish():
    workers = pipeline.ProcessWorkers(2, _nothing, ())
    running = workers.pool.submit(time.sleep, 0.3)
    time.sleep(0.1)
    workers.close()
    assert running.done() and running.exception() is None
    workers.close(stop=True)  # again, interrupted: the pool is already shut down (no processes left)


def test_close_cancels_the_jobs_not_started():
    workers = pipeline.ProcessWorkers(2, _nothing, ())
    jobs = [workers.pool.submit(time.sleep, 0.2) for _ in range(8)]
    time.sleep(0.05)
    workers.close()
    assert sum(f.cancelled() for f in jobs) >= 3  # 2 running, at most a few already queued to the workers
