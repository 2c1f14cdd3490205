"""GOP-parallel decoding (--workers): the same frames, concealment and counts as a decode in one
process, on clean, damaged and seeking decodes of a several-GOP tiny-model stream."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_stream, write_testsrc

from vidcodec import api, container, gopdecode
from vidcodec.cli import main
from vidcodec.errors import UsageError

FRAMES = 14
GOP = 4


@pytest.fixture(scope="module")
def stream(tmp_path_factory, tiny_model_dir) -> dict:
    s = tiny_stream(tmp_path_factory.mktemp("gopdecode"), FRAMES, GOP)
    assert len(s["keys"]) >= 3 and len(s["packets"]) == FRAMES
    return s


def _same(a: list[api.DecodedFrame], b: list[api.DecodedFrame]) -> None:
    assert [(f.pts, f.key, f.concealed, f.index) for f in a] == [(f.pts, f.key, f.concealed, f.index) for f in b]
    for f, g in zip(a, b):
        assert np.array_equal(f.rgb, g.rgb), f.index


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_decode_the_same_frames(stream, workers):
    _same(list(api.frames(stream["path"], workers=workers)), stream["frames"])


def test_runs_come_back_in_stream_order_with_each_packets_symbols(stream, tiny_model_dir):
    from vidcodec.models import zoo

    with container.GvcReader(stream["path"]) as r:
        header = r.header
        with gopdecode.RunDecoder(header, 2) as runs:
            got = list(runs.results(iter(r)))
            results = [gopdecode.result(future, j) for _, future, j in got]  # before close() cancels
    assert [item.offset for item, _, _ in got] == [p.offset for p in stream["packets"]]
    # a run per keyframe, each packet at its place in its run
    futures = [f for _, f, _ in got]
    assert len(set(futures)) == len(stream["keys"])
    starts = [i for i, (_, f, j) in enumerate(got) if j == 0]
    assert starts == stream["keys"]
    decoder = api._frame_decoder(zoo.load("vaegan-tiny"), header)
    for (s, lv), p in zip(results, stream["packets"]):
        kind = "key" if p.kind is container.PacketType.KEY else "delta"
        symbols, level = decoder.decode_symbols(kind, api._colour_section(p, header)[1])
        assert lv == level and np.array_equal(s, symbols) and s.dtype == np.int16


def test_damage_is_concealed_as_in_one_process(stream, tmp_path):
    data = bytearray(stream["path"].read_bytes())
    second = stream["keys"][1]
    bad = stream["packets"][second + 1]  # a delta of the second GOP
    for at in range(bad.header_size, bad.header_size + len(bad.payload), 3):
        data[bad.offset + at] ^= 0x5A
    path = tmp_path / "bad.gvc"
    path.write_bytes(bytes(data))
    one, two = api._Counts(), api._Counts()
    a = list(api._frames(path, start=None, backend="ort", follow=False, follow_timeout=1.0, counts=one))
    b = list(api._frames(path, start=None, backend="ort", follow=False, follow_timeout=1.0, counts=two, workers=2))
    _same(b, a)
    concealed = [sum(f.concealed for f in frames) for frames in (a, b)]  # the frames carry it (no separate total)
    assert (concealed[0], one.damaged) == (concealed[1], two.damaged) and concealed[0] > 0


def test_a_seek_decodes_the_same_frames(stream):
    with container.GvcReader(stream["path"]) as r:
        tb = r.header.time_base
    start = float(stream["frames"][6].pts * tb[0] / tb[1])  # frame 6's time: mid-GOP
    ref = list(api.frames(stream["path"], start=start))
    assert [f.pts for f in ref] == [f.pts for f in stream["frames"][6:]]
    _same(list(api.frames(stream["path"], start=start, workers=2)), ref)


def test_decode_cli_with_workers_writes_the_same_video(stream, tmp_path):
    a, b = tmp_path / "a.y4m", tmp_path / "b.y4m"
    assert main(["decode", str(stream["path"]), str(a), "-q"]) == 0
    assert main(["decode", str(stream["path"]), str(b), "-q", "--workers", "2"]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_workers_usage_errors(stream, tmp_path, capsys):
    assert main(["decode", str(stream["path"]), str(tmp_path / "x.y4m"), "-q", "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    with pytest.raises(UsageError):
        api.decode(stream["path"], tmp_path / "y.y4m", workers=65)
    with pytest.raises(UsageError), container.GvcReader(stream["path"]) as r:
        gopdecode.RunDecoder(r.header, 1)


def test_a_pipe_decodes_in_process(stream, tmp_path, monkeypatch):
    # Read from stdin (no seeking, no read-ahead): --workers is set aside, the frames are the same
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stream["path"].read_bytes())))
    _same(list(api.frames("-", workers=2)), stream["frames"])


def test_a_qsgd_stream_keeps_its_float_latents(tmp_path, tiny_model_dir):
    # --coder elias streams decode to float latents: the workers must not round them
    clip = write_testsrc(tmp_path / "c.mp4", frames=10)
    path = tmp_path / "e.gvc"
    api.encode(clip, path, model="vaegan-tiny", quality=2, gop=4, coder="elias")
    _same(list(api.frames(path, workers=2)), list(api.frames(path)))


def test_a_cut_off_stream_gives_every_complete_frame_first(stream, tmp_path):
    from vidcodec.errors import TruncatedStreamError

    data = stream["path"].read_bytes()
    last = stream["packets"][-1]
    path = tmp_path / "cut.gvc"
    path.write_bytes(data[: last.offset + last.header_size + len(last.payload) // 2])

    def decode(workers: int) -> tuple[list, BaseException | None]:
        got = []
        try:
            for f in api.frames(path, workers=workers):
                got.append(f)  # noqa: PERF402 - the frames before the error are the point
        except TruncatedStreamError as e:
            return got, e
        return got, None

    (one, e1), (two, e2) = decode(1), decode(2)
    assert e1 is not None and e2 is not None and len(one) == FRAMES - 1
    _same(two, one)


def test_streams_with_long_gops_decode_in_one_process(tmp_path, tiny_model_dir, monkeypatch):
    clip = write_testsrc(tmp_path / "c.mp4", frames=4)
    path = tmp_path / "long.gvc"
    api.encode(clip, path, model="vaegan-tiny", quality=2, gop=gopdecode.MAX_RUN_FRAMES + 1)

    def refuse(*args, **kwargs):
        raise AssertionError("a RunDecoder was made for a stream of long GOPs")

    ref = list(api.frames(path))
    monkeypatch.setattr(gopdecode, "RunDecoder", refuse)
    _same(list(api.frames(path, workers=2)), ref)
