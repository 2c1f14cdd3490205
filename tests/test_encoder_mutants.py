"""GOP-parallel coding and the pipeline stages: behaviour that a mutation-testing pass over
vidcodec/gopencode.py, vidcodec/gopdecode.py and vidcodec/pipeline.py found unpinned by
test_gopencode.py, test_gopdecode.py and test_pipeline.py. Each test names what it pins: the frame
count a chunk's worker starts from (the QSGD dither of --coder elias), the decoded latents sent back
only where the colour fitter wants them, the chunks in flight, the workers' refusals, a run's results
ending at its first undecodable packet, and the stages' closing and waiting rules.
"""

from __future__ import annotations

import dataclasses
import struct
import sys
from fractions import Fraction

import numpy as np
import pytest
from conftest import tiny_stream, write_testsrc

from vidcodec import api, container, gopdecode, gopencode
from vidcodec.codec import colour
from vidcodec.codec.vaegan import DELTA, KEY, EncodedFrame
from vidcodec.errors import CoderError, UsageError

# ------------------------------------------------------------------------------------------ gopencode


class _Recorder:
    """A stand-in for a worker's fresh FrameEncoder: a keyframe, then deltas; each payload holds the
    frame count it was coded at (``_frame``, the QSGD dither's seed) and the latent's first value, and
    its decoded latent (``_prev``) is the latent plus one."""

    def __init__(self) -> None:
        self._frame = 0
        self._prev: np.ndarray | None = None
        self._coded = 0

    def encode_latent(self, y: np.ndarray) -> EncodedFrame:
        kind = KEY if self._coded == 0 else DELTA
        self._coded += 1
        payload = struct.pack("<ii", self._frame, int(y.flat[0]))
        self._frame += 1
        self._prev = y + 1
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


def test_results_come_once_workers_later_runs_are_submitted(stream):
    """The read-ahead is ``workers`` runs: a run's packets are handed out once ``workers`` later runs
    have been submitted (with a run still being read, or at the end, not before nor after)."""
    items = stream["packets"] * 2  # six runs of four (results() reads kinds, not times)
    pulled = []

    def read():
        for item in items:
            pulled.append(item)
            yield item

    with gopdecode.RunDecoder(stream["header"], 2) as runs:
        at = [len(pulled) for _ in runs.results(read())]
    # run k comes out when the keyframe of run k + 3 is read, that is once runs k + 1 and k + 2 are submitted
    assert at == [13] * 4 + [17] * 4 + [21] * 4 + [24] * 12
