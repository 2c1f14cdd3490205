"""``vidcodec remux``: stream copy (cut at keyframes, join, repair) without re-coding a frame."""

from __future__ import annotations

import dataclasses
import io
import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, tiny_stream, write_testsrc
from test_audio import write_av_clip
from test_live import Pipe  # a non-seekable source

import vidcodec
from vidcodec import container
from vidcodec.cli import main as cli_main
from vidcodec.container import PacketType
from vidcodec.errors import CorruptPacketError, InputError, OutputExistsError, UsageError
from vidcodec.streamcopy import remux

FRAMES, GOP = 20, 5


@pytest.fixture(scope="module")
def stream(tmp_path_factory, tiny_model_dir):
    return tiny_stream(tmp_path_factory.mktemp("remux"), FRAMES, GOP)


def _read(data_or_path) -> tuple[container.StreamHeader, list[container.Packet], container.GvcReader]:
    src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with container.GvcReader(src) as r:
        packets = list(r)
        r.index()  # read while the source is open (a path's is closed after)
    return r.header, packets, r


def _video(packets):
    return [p for p in packets if p.stream_index == 0 and p.kind in (PacketType.KEY, PacketType.DELTA)]


@pytest.mark.parametrize("golden", sorted(p.name for p in DATA.glob("golden*.gvc")))
def test_a_whole_clean_stream_comes_back_byte_for_byte(golden):
    # every format version the golden files hold: the header, each packet layout, the index and footer
    data = (DATA / golden).read_bytes()
    header, packets, r = _read(data)
    frames = len(_video(packets))
    out = io.BytesIO()
    s = remux(DATA / golden, out)
    assert s.frames == frames and s.dropped == s.damaged == s.truncated == 0
    # but for the frame count, which a remux to a file records where the writer left it unknown (0)
    head = container.encode_header(dataclasses.replace(header, frame_count=frames))
    assert len(head) == r.header_size
    assert out.getvalue() == head + data[len(head):]
    assert header.frame_count in (0, frames) and (header.frame_count == 0) == (data[:len(head)] != head)


def test_a_cut_starts_at_the_keyframe_before_and_decodes_to_the_same_pictures(stream, tmp_path):
    packets = _video(stream["packets"])
    keys = [i for i, p in enumerate(packets) if p.kind is PacketType.KEY]
    assert len(keys) >= 3
    tb = Fraction(*stream["header"].time_base)
    k = keys[1]
    # asked for a frame two after the second keyframe: the copy begins at that keyframe
    asked = (packets[k + 2].pts - packets[0].pts) * tb
    out = tmp_path / "cut.gvc"
    s = remux(stream["path"], out, start=asked, max_frames=6)
    assert (s.frames, s.keyframes) == (6, 2 if keys[2] - k < 6 else 1)
    assert Fraction(s.start).limit_denominator(1000) == (packets[k].pts - packets[0].pts) * tb
    header, got, r = _read(out)
    assert r.closed_cleanly and header.frame_count == 6
    assert [(p.kind, p.pts, p.payload, p.flags) for p in _video(got)] == \
        [(p.kind, p.pts, p.payload, p.flags) for p in packets[k:k + 6]]
    frames = list(vidcodec.frames(out))
    for f, want in zip(frames, stream["frames"][k:k + 6], strict=True):
        assert f.pts == want.pts and np.array_equal(f.rgb, want.rgb)


def test_duration_counts_from_the_first_frame_written(stream, tmp_path):
    tb = Fraction(*stream["header"].time_base)
    packets = _video(stream["packets"])
    step = (packets[1].pts - packets[0].pts) * tb
    out = io.BytesIO()
    s = remux(stream["path"], out, duration=7 * step)
    assert s.frames == 7
    out2 = io.BytesIO()
    assert remux(stream["path"], out2, duration=7 * step + step / 2).frames == 8


def test_a_pipe_gives_the_same_stream_as_a_file(stream):
    # the file seeks through its index to the keyframe; the pipe is read and the GOP before the start held
    tb = Fraction(*stream["header"].time_base)
    packets = _video(stream["packets"])
    asked = (packets[13].pts - packets[0].pts) * tb
    a, b = io.BytesIO(), io.BytesIO()
    remux(stream["path"], a, start=asked, duration=3 * asked / 13)
    remux("-", b, start=asked, duration=3 * asked / 13, stdin=Pipe(stream["data"]))
    assert a.getvalue() == b.getvalue() and len(_video(_read(a.getvalue())[1])) > 0


def test_a_killed_encode_is_rewritten_whole_and_indexed(stream, tmp_path):
    data = stream["data"]
    packets = _video(stream["packets"])
    cut = packets[14].offset + 5  # inside the 15th frame's packet: no index, no footer
    killed = tmp_path / "killed.gvc"
    killed.write_bytes(data[:cut])
    fixed = tmp_path / "fixed.gvc"
    assert cli_main(["remux", str(killed), str(fixed), "-q"]) == 0
    header, got, r = _read(fixed)
    assert r.closed_cleanly and header.frame_count == 14
    assert [p.payload for p in _video(got)] == [p.payload for p in packets[:14]]
    assert [e.pts for e in r._trailer.entries] == [p.pts for p in packets[:14] if p.kind is PacketType.KEY]
    s = remux(killed, io.BytesIO())
    assert (s.frames, s.truncated) == (14, 1)


def test_deltas_after_damage_are_left_out_up_to_the_next_keyframe(stream, tmp_path, capsys):
    packets = _video(stream["packets"])
    keys = [i for i, p in enumerate(packets) if p.kind is PacketType.KEY]
    d = keys[1] + 1  # a delta after the second keyframe
    assert packets[d].kind is PacketType.DELTA
    data = bytearray(stream["data"])
    data[packets[d].offset + packets[d].header_size] ^= 0xFF  # its payload fails its CRC
    bad = tmp_path / "bad.gvc"
    bad.write_bytes(bytes(data))
    out = tmp_path / "out.gvc"
    assert cli_main(["remux", str(bad), str(out)]) == 1
    assert "damaged" in capsys.readouterr().err
    lost = keys[2] - d
    _, got, r = _read(out)
    assert r.closed_cleanly
    assert [p.pts for p in _video(got)] == [p.pts for i, p in enumerate(packets) if not d <= i < keys[2]]
    s = remux(bad, io.BytesIO())
    assert (s.dropped, s.damaged, s.frames) == (lost - 1, 1, FRAMES - lost)
    assert all(not f.concealed for f in vidcodec.frames(out))


def _second_stream(d: Path) -> Path:
    clip = write_testsrc(d / "m.mp4", frames=7, pattern="mandelbrot")
    path = d / "m.gvc"
    vidcodec.encode(clip, path, model="vaegan-tiny", quality=2, gop=GOP)
    return path


def test_streams_are_joined_end_to_end(stream, tmp_path):
    other = _second_stream(tmp_path)
    out = tmp_path / "joined.gvc"
    s = remux([stream["path"], other], out)
    assert (s.frames, s.truncated) == (FRAMES + 7, 0)
    header, got, r = _read(out)
    first = _video(stream["packets"])
    second = _video(_read(other)[1])
    video = _video(got)
    step = first[1].pts - first[0].pts
    assert [p.pts for p in video] == [p.pts for p in first] + [first[-1].pts + step + p.pts - second[0].pts
                                                             for p in second]
    assert [p.payload for p in video] == [p.payload for p in first + second]
    assert r.closed_cleanly and header.frame_count == FRAMES + 7
    decoded = list(vidcodec.frames(out))
    alone = list(vidcodec.frames(other))
    for f, want in zip(decoded[FRAMES:], alone, strict=True):
        assert np.array_equal(f.rgb, want.rgb)
    # the joined timeline is cut as one stream
    tb = Fraction(*header.time_base)
    part = remux([stream["path"], other], io.BytesIO(), start=(FRAMES + 1) * step * tb)
    assert part.frames == 7 and part.keyframes >= 1


def test_streams_a_decoder_reads_differently_are_not_joined(stream, tmp_path):
    clip = write_testsrc(tmp_path / "big.mp4", frames=3, size=(80, 48))
    big = tmp_path / "big.gvc"
    vidcodec.encode(clip, big, model="vaegan-tiny", quality=2)
    with pytest.raises(InputError, match=r"it differs: width 80 \(not 64\)"):
        remux([stream["path"], big], tmp_path / "x.gvc")
    assert not (tmp_path / "x.gvc").exists()
    # a pipe's header is only known at its turn: the output begun is removed again
    with pytest.raises(InputError, match="width 80"):
        remux([stream["path"], "-"], tmp_path / "x.gvc", stdin=Pipe(big.read_bytes()))
    assert not (tmp_path / "x.gvc").exists()


def test_audio_is_cut_and_joined_with_its_video(tmp_path, tiny_model_dir):
    clip = write_av_clip(tmp_path / "av.mp4", frames=20)
    gvc = tmp_path / "av.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=5)
    header, packets, _ = _read(gvc)
    audio = [p for p in packets if p.stream_index == container.AUDIO_STREAM]
    a_tb = vidcodec.media.AudioTrack.from_bytes(header.extensions[container.EXT_AUDIO]).time_base
    rows = container.probe(gvc, packets=True)["packet_list"]  # (info --packets): audio timed by its own clock
    v_tb, first = Fraction(*header.time_base), _video(packets)[0].pts
    assert [(r["type"], r["time"]) for r in rows if r["stream"] == 1] == \
        [("audio", pytest.approx(float(p.pts * a_tb - first * v_tb))) for p in audio]
    out = tmp_path / "cut.gvc"
    s = remux(gvc, out, start=1)  # the keyframe at 1 s (frame 10 of 10 fps)
    got = _read(out)[1]
    kept = [p for p in got if p.stream_index == container.AUDIO_STREAM]
    assert s.audio_packets == len(kept) > 0 and s.start == 1.0
    assert all(p.pts * a_tb >= Fraction(9, 10) for p in kept)  # none from long before the cut
    assert [p.payload for p in kept] == [p.payload for p in audio if p.offset > _video(packets)[10].offset]
    joined = tmp_path / "joined.gvc"
    s = remux([gvc, gvc], joined)
    _, both, _ = _read(joined)
    video = _video(packets)
    # the second stream's video follows the first's by one frame (20 frames at 10 fps: 2 s), its audio
    # moved with it; what of its audio would begin before the first stream's last audio packet (the
    # AAC tail past the last frame) is left out, so that the audio's timestamps only go forward
    shift = (video[-1].pts + video[1].pts - video[0].pts - video[0].pts) * v_tb / a_tb
    assert shift * a_tb == 2
    moved = [dataclasses.replace(p, pts=p.pts + int(shift)) for p in audio]
    kept = [p for p in moved if p.pts > audio[-1].pts]
    assert 0 < len(moved) - len(kept) <= 2 and s.audio_packets == len(audio) + len(kept)
    assert [(p.pts, p.payload) for p in both if p.stream_index == container.AUDIO_STREAM] == \
        [(p.pts, p.payload) for p in audio + kept]
    none = tmp_path / "none.gvc"
    remux(gvc, none, audio=False)
    h, p, _ = _read(none)
    assert container.EXT_AUDIO not in h.extensions and all(q.stream_index == 0 for q in p)
    with pytest.raises(InputError, match="--no-audio"):
        remux([gvc, none], tmp_path / "mixed.gvc")


def test_the_header_is_repeated_before_keyframes_when_asked_and_never_copied_twice(stream):
    out = io.BytesIO()
    remux(stream["path"], out, repeat_header=True)
    _, packets, _ = _read(out.getvalue())
    again = io.BytesIO()
    remux(io.BytesIO(out.getvalue()), again, repeat_header=True)
    assert again.getvalue() == out.getvalue()
    kinds = [p.kind for p in packets if p.stream_index == 0]
    assert kinds.count(PacketType.PARAMETERS) == kinds.count(PacketType.KEY)
    assert all(kinds[i + 1] is PacketType.KEY for i, k in enumerate(kinds) if k is PacketType.PARAMETERS)
    plain = io.BytesIO()
    remux(io.BytesIO(out.getvalue()), plain)
    assert plain.getvalue() == stream["data"]


def test_usage_errors(stream, tmp_path, capsys):
    out = tmp_path / "o.gvc"
    with pytest.raises(UsageError, match="past the end"):
        remux(stream["path"], out, start=3600)
    assert not out.exists()
    out.write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        remux(stream["path"], out)
    assert cli_main(["remux", str(stream["path"]), str(out), "-q"]) == 2
    assert "exists" in capsys.readouterr().err
    with pytest.raises(UsageError, match="also an input"):
        remux(stream["path"], stream["path"], overwrite=True)
    for name in ("x.mp4", "x.MKV", "x.ts", "frames%04d.png"):  # as ffmpeg -c copy out.mp4 would: refused, nothing made
        with pytest.raises(UsageError, match=r"into a \.gvc stream, not .*vidcodec decode"):
            remux(stream["path"], tmp_path / name)
        assert not (tmp_path / name).exists()
    with pytest.raises(UsageError, match="at least 1"):
        remux(stream["path"], io.BytesIO(), max_frames=0)
    assert cli_main(["remux", "-", "-", str(out), "-y"]) == 2
    assert "stdin" in capsys.readouterr().err
    empty = tmp_path / "e.gvc"
    with container.GvcWriter(empty, stream["header"]):
        pass
    with pytest.raises(InputError, match="no frames"):
        remux(empty, io.BytesIO())


def test_cli_writes_to_stdout(stream, tmp_path, capsysbinary):
    assert cli_main(["remux", str(stream["path"]), "-", "--frames", "3", "-q"]) == 0
    data = capsysbinary.readouterr().out
    assert len(_video(_read(data)[1])) == 3


def test_segments_start_at_keyframes_decode_alone_and_join_back_to_the_stream(tmp_path, tiny_model_dir):
    clip = write_av_clip(tmp_path / "av.mp4", frames=30)
    gvc = tmp_path / "av.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4)
    header, packets, _ = _read(gvc)
    video = _video(packets)
    tb = Fraction(*header.time_base)
    s = remux(gvc, tmp_path / "seg%02d.gvc", segment_time="0.7")
    names = [Path(n).name for n in s.segments]
    assert names == [f"seg{i:02d}.gvc" for i in range(len(names))] and len(names) >= 3
    assert s.bytes == sum((tmp_path / n).stat().st_size for n in names)
    # each segment: a whole stream starting at a keyframe, the next one at the first keyframe 0.7 s or more on
    starts, pictures = [], []
    for n in names:
        h, got, r = _read(tmp_path / n)
        seg = _video(got)
        assert seg[0].kind is PacketType.KEY and r.closed_cleanly and h.frame_count == len(seg)
        starts.append(seg[0].pts)
        pictures += [f.rgb for f in vidcodec.frames(tmp_path / n)]
    keys = [p.pts for p in video if p.kind is PacketType.KEY]
    want = [keys[0]]
    for k in keys:
        if (k - want[-1]) * tb >= Fraction(7, 10):
            want.append(k)
    assert starts == want
    whole = [f.rgb for f in vidcodec.frames(gvc)]
    assert len(pictures) == len(whole) and all(np.array_equal(a, b) for a, b in zip(pictures, whole, strict=True))
    back = tmp_path / "back.gvc"
    remux([tmp_path / n for n in names], back)
    assert back.read_bytes() == gvc.read_bytes()  # audio included
    # from a pipe, the same files
    piped = tmp_path / "p"
    piped.mkdir()
    remux("-", piped / "seg%02d.gvc", segment_time="0.7", stdin=Pipe(gvc.read_bytes()))
    assert [(piped / n).read_bytes() for n in names] == [(tmp_path / n).read_bytes() for n in names]


def test_segment_usage_errors(stream, tmp_path):
    for dst in (tmp_path / "plain.gvc", "-", io.BytesIO(), tmp_path / "seg%03d.mp4"):
        with pytest.raises(UsageError, match="seg%03d.gvc"):
            remux(stream["path"], dst, segment_time=1)
    with pytest.raises(UsageError, match="above 0"):
        remux(stream["path"], tmp_path / "s%d.gvc", segment_time=0)
    (tmp_path / "s1.gvc").write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        remux(stream["path"], tmp_path / "s%d.gvc", segment_time="0.5")
    # a copy that fails leaves none of its segments (and the file in the way as it was)
    assert not (tmp_path / "s0.gvc").exists() and (tmp_path / "s1.gvc").read_bytes() == b"x"
    s = remux(stream["path"], tmp_path / "s%d.gvc", segment_time="0.5", overwrite=True)
    assert len(s.segments) == 4  # 20 frames at 10 fps, a keyframe every 5


def test_streams_joined_with_cat_are_read_one_after_the_other(tmp_path, tiny_model_dir, caplog):
    clip = write_av_clip(tmp_path / "av.mp4", frames=30)
    gvc = tmp_path / "av.gvc"
    vidcodec.encode(clip, gvc, model="vaegan-tiny", quality=2, gop=4)
    s = remux(gvc, tmp_path / "seg%02d.gvc", segment_time="0.9")
    catted = b"".join(Path(n).read_bytes() for n in s.segments)
    (tmp_path / "cat.gvc").write_bytes(catted + b"not a stream")
    for src, stdin in ((tmp_path / "cat.gvc", None), ("-", Pipe(catted + b"not a stream"))):
        out = io.BytesIO()
        caplog.clear()
        got = remux(src, out, stdin=stdin)
        assert out.getvalue() == gvc.read_bytes() and got.frames == 30
        assert f"12 byte(s) after its stream {len(s.segments)} are no .gvc stream" in caplog.text
        assert got.damaged == 1  # (what those bytes held is not known)
    # and cut there as one stream (the seek goes through the first stream's index only)
    tb = Fraction(*_read(gvc)[0].time_base)
    part = io.BytesIO()
    remux(tmp_path / "cat.gvc", part, start=Fraction(25, 10))
    video = _video(_read(part.getvalue())[1])
    assert video[0].kind is PacketType.KEY and (video[0].pts - _video(_read(gvc)[1])[0].pts) * tb <= Fraction(25, 10)
    assert len(video) == 30 - [p.pts for p in _video(_read(gvc)[1])].index(video[0].pts)


def test_duration_counts_from_the_start_asked_and_the_copy_begins_at_the_keyframe_before(stream):
    # as ffmpeg -ss S -t D -c copy: the frames from the keyframe at or before S up to S + D
    tb = Fraction(*stream["header"].time_base)
    packets = _video(stream["packets"])
    t = [(p.pts - packets[0].pts) * tb for p in packets]
    keys = [i for i, p in enumerate(packets) if p.kind is PacketType.KEY]
    k = keys[1]
    start, length = t[k + 3], t[2] - t[0]  # three frames after a keyframe, two frames long
    out = io.BytesIO()
    s = remux(stream["path"], out, start=start, duration=length)
    got = _video(_read(out.getvalue())[1])
    assert [p.pts for p in got] == [p.pts for p, ti in zip(packets, t, strict=True) if t[k] <= ti < start + length]
    assert s.frames == 5 and Fraction(s.start).limit_denominator(1000) == t[k]


def test_damage_before_the_start_is_not_the_copys_and_lost_frames_fail_it(stream, tmp_path, capsys):
    packets = _video(stream["packets"])
    keys = [i for i, p in enumerate(packets) if p.kind is PacketType.KEY]
    tb = Fraction(*stream["header"].time_base)
    data = bytearray(stream["data"])
    k = keys[1]
    data[packets[k].offset + packets[k].header_size] ^= 0xFF  # the second keyframe's payload: its GOP is lost
    bad = tmp_path / "bad.gvc"
    bad.write_bytes(bytes(data))
    later = str(float((packets[keys[2]].pts - packets[0].pts) * tb))
    for args in ([str(bad)], ["-"]):
        out = tmp_path / "o.gvc"
        stdin = io.BytesIO(bytes(data)) if args == ["-"] else None
        if stdin is not None:
            assert remux("-", io.BytesIO(), start=later, stdin=Pipe(bytes(data))).dropped == 0
        else:
            assert cli_main(["remux", *args, str(out), "--start", later, "-y", "-q"]) == 0
    assert cli_main(["remux", str(bad), str(tmp_path / "all.gvc"), "-q"]) == 1
    assert "damaged" in capsys.readouterr().err
    # bytes that cannot be parsed at all (a packet header): frames lost, not only deltas dropped
    data = bytearray(stream["data"])
    data[packets[k].offset: packets[k].offset + 4] = b"\xff\xff\xff\xff"
    bad.write_bytes(bytes(data))
    s = remux(bad, io.BytesIO())
    assert s.damaged == 1 and s.frames < FRAMES
    assert cli_main(["remux", str(bad), str(tmp_path / "all.gvc"), "-q", "-y"]) == 1


def test_a_stream_appended_after_a_cut_off_one_is_found_and_moved_to_follow_it(stream, tmp_path, caplog):
    packets = _video(stream["packets"])
    step = packets[1].pts - packets[0].pts
    k = [i for i, p in enumerate(packets) if p.kind is PacketType.KEY][1]
    for n, cut in ((7, packets[7].offset + 3),  # cut in a packet header, or in a keyframe's payload
                   (k, packets[k].offset + packets[k].header_size + len(packets[k].payload) // 2)):
        kc = tmp_path / "kc.gvc"
        kc.write_bytes(stream["data"][:cut] + stream["data"])  # an encode restarted into the same file
        out = tmp_path / "o.gvc"
        caplog.clear()
        assert cli_main(["remux", str(kc), str(out), "-q", "-y"]) == 0  # a killed encode's repair, as alone
        assert f"cut off at byte {cut}," in caplog.text and caplog.text.count("is cut off") == 1  # (a file's: twice)
        got = _video(_read(out)[1])
        pts = [p.pts for p in got]
        assert len(got) == n + FRAMES and pts[n] == pts[n - 1] + step and pts == sorted(set(pts))
        assert [p.payload for p in got] == [p.payload for p in packets[:n] + packets]
        decoded = list(vidcodec.frames(out))
        assert not any(f.concealed for f in decoded)
        assert all(np.array_equal(f.rgb, w.rgb) for f, w in zip(decoded[n:], stream["frames"], strict=True))
        # a file and a pipe of the same bytes: the same copy, cut the same way
        for start in ("1.2", "2"):
            a, b = io.BytesIO(), io.BytesIO()
            sa = remux(kc, a, start=start)
            sb = remux("-", b, start=start, stdin=Pipe(kc.read_bytes()))
            assert a.getvalue() == b.getvalue() and (sa.frames, sa.start) == (sb.frames, sb.start)
            assert sa.truncated == sb.truncated == 1  # one cut (a file's had been counted twice)
        caplog.clear()
        remux("-", io.BytesIO(), stdin=Pipe(kc.read_bytes()))
        assert f"cut off at byte {cut}," in caplog.text  # where the stream begins (a pipe's: its cut packet's start)


def test_a_restarted_stream_is_found_wherever_the_cut_falls_in_a_packet(stream):
    # cut where a packet's claimed length runs into the next stream's header (its magic cut by the
    # packet's end, or begun in the packet header's last bytes), a pipe's reader skipped to the claimed
    # end and the header with it: 351 of 2579 cut points of a 50-frame stream lost the restarted stream
    data, packets = stream["data"], _video(stream["packets"])
    wrong = []
    for cut in range(packets[4].offset + 1, packets[9].offset + 1):
        blob = data[:cut] + data
        whole = sum(p.offset + p.header_size + len(p.payload) <= cut for p in packets)
        a, b = io.BytesIO(), io.BytesIO()
        sa, sb = remux(io.BytesIO(blob), a), remux("-", b, stdin=Pipe(blob))
        if a.getvalue() != b.getvalue() or {(sa.frames, sa.truncated), (sb.frames, sb.truncated)} != {(whole + FRAMES, 1)}:
            wrong.append((cut, whole + FRAMES, sa.frames, sb.frames))
    assert not wrong


def test_a_stream_that_cuts_the_footer_short_is_joined_from_a_pipe_as_from_a_file(stream, caplog):
    # an encode restarted into the file within its last FOOTER_SIZE bytes (the index whole, the footer
    # cut): from a pipe the footer's read took the next header's first bytes, and the stream after it
    # was skipped as "no .gvc stream"; decode said the stream ended FOOTER_SIZE bytes on, with "data" after
    data = stream["data"]
    for cut in range(1, container.FOOTER_SIZE + 1):
        blob = data[:-cut] + data
        a, b = io.BytesIO(), io.BytesIO()
        sa, sb = remux(io.BytesIO(blob), a), remux("-", b, stdin=Pipe(blob))
        assert a.getvalue() == b.getvalue() and (sa.frames, sb.frames, sa.damaged, sb.damaged) == (2 * FRAMES,) * 2 + (0, 0)
        for source in (io.BytesIO(blob), Pipe(blob)):
            caplog.clear()
            with container.GvcReader(source) as reader:
                assert len(_video(list(reader))) == FRAMES and reader.trailing_at == len(data) - cut
            assert f"ends at offset {len(data) - cut}, but another stream follows it there" in caplog.text


def test_a_restart_inside_a_parameters_packet_or_past_a_pipes_end_is_found(stream):
    # a parameters packet's payload begins with its stream's own header: only that first magic was tried
    # (121 of 147 cut points of one such packet lost the restart from a pipe); and where the packet cut
    # claimed more bytes than the pipe had left, it was a plain truncation before any look for a header
    out = io.BytesIO()
    remux(io.BytesIO(stream["data"]), out, repeat_header=True)
    data = out.getvalue()
    packets = _read(data)[1]
    frames = _video(packets)
    par = [p for p in packets if p.kind is PacketType.PARAMETERS][1]
    largest = max(frames[1:], key=lambda p: len(p.payload))
    cuts = [*range(par.offset + par.header_size + 1, par.offset + par.header_size + len(par.payload)),
            largest.offset + largest.header_size + 3]
    wrong = []
    for cut in cuts:
        for tail in (data, data[:frames[0].offset]):  # the stream again, or its header alone
            blob = data[:cut] + tail
            whole = sum(p.offset + p.header_size + len(p.payload) <= cut for p in frames)
            want = whole + (FRAMES if tail is data else 0)
            a, b = io.BytesIO(), io.BytesIO()
            sa, sb = remux(io.BytesIO(blob), a), remux("-", b, stdin=Pipe(blob))
            if a.getvalue() != b.getvalue() or {(sa.frames, sa.truncated), (sb.frames, sb.truncated)} != {(want, 1)}:
                wrong.append((cut, len(tail), want, sa.frames, sb.frames))
    assert not wrong


@pytest.mark.parametrize("case", ["then a header alone", "cut again", "a header alone, then a whole one"])
def test_cuts_in_a_row_are_each_said_once_at_the_same_byte_from_a_file_and_a_pipe(stream, tmp_path, caplog, case):
    # a stream that only had its header (an encode restarted and killed at once) had left the cut before
    # it unsaid from a pipe (truncated 0) and said as a plain truncation from a file; a pipe named a
    # later stream's cut by its offset within that stream (427 for 750)
    data, packets = stream["data"], _video(stream["packets"])
    first = stream["packets"][0].offset  # the header's size
    cut = packets[7].offset + 3
    blob, cuts = {"then a header alone": (data[:cut] + data[:first], [cut]),
                  "cut again": (data[:cut] + data[:packets[12].offset + 5] + data, [cut, cut + packets[12].offset + 5]),
                  "a header alone, then a whole one": (data[:cut] + data[:first] + data, [cut, cut + first])}[case]
    path = tmp_path / "cuts.gvc"
    path.write_bytes(blob)
    said, stats = [], []
    for src, kw in ((path, {}), ("-", {"stdin": Pipe(blob)})):
        caplog.clear()
        out = io.BytesIO()
        s = remux(src, out, **kw)
        stats.append((s.frames, s.truncated, s.damaged, out.getvalue()))
        said.append([int(m) for m in re.findall(r"is cut off at byte (\d+), where another stream begins", caplog.text)])
        assert caplog.text.count("is cut off") == len(cuts), caplog.text
    assert said == [cuts, cuts] and stats[0] == stats[1] and stats[0][1] == len(cuts)


def test_a_stream_of_another_kind_after_a_cut_off_one_is_refused(stream, tmp_path):
    clip = write_testsrc(tmp_path / "big.mp4", frames=3, size=(80, 48))
    big = tmp_path / "big.gvc"
    vidcodec.encode(clip, big, model="vaegan-tiny", quality=2)
    packets = _video(stream["packets"])
    mixed = tmp_path / "mixed.gvc"
    mixed.write_bytes(stream["data"][: packets[7].offset + 9] + big.read_bytes())
    for src, stdin in ((mixed, None), ("-", Pipe(mixed.read_bytes()))):
        with pytest.raises(InputError, match="width 80"):
            remux(src, tmp_path / "x.gvc", stdin=stdin)
        assert not (tmp_path / "x.gvc").exists()
    # and after a whole stream whose index is damaged (the footer's bytes then read as damage)
    data = bytearray(stream["data"])
    data[-30] ^= 0x01
    mixed.write_bytes(bytes(data) + big.read_bytes())
    with pytest.raises(InputError, match="width 80"):
        remux(mixed, tmp_path / "x.gvc")


def test_reading_stdin_from_the_output_is_refused(stream, tmp_path):
    victim = tmp_path / "v.gvc"
    victim.write_bytes(stream["data"])
    with open(victim, "rb") as f, pytest.raises(UsageError, match="also an input"):
        remux("-", victim, overwrite=True, stdin=f)
    with open(victim, "rb") as f, pytest.raises(UsageError, match="also an input"):
        remux(f, victim, overwrite=True)
    with open(victim, "rb") as f, open(victim, "ab") as out, pytest.raises(UsageError, match="also an input"):
        remux(victim, "-", stdout=out)  # remux x.gvc - >> x.gvc would read its own output for ever
    segs = tmp_path / "s%d.gvc"
    remux(stream["path"], segs, segment_time="0.5")
    with open(tmp_path / "s0.gvc", "rb") as f, pytest.raises(UsageError, match="also an input"):
        remux("-", segs, segment_time="0.5", overwrite=True, stdin=f)
    assert victim.read_bytes() == stream["data"] and (tmp_path / "s0.gvc").stat().st_size > 0
    with pytest.raises(UsageError, match="also an input"):  # before "exists": the message that helps
        remux([stream["path"], stream["path"]], stream["path"])


def test_the_header_says_the_longest_keyframe_interval_joined(tmp_path, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=8)
    paths = {}
    for gop in (1, 3, 0):
        paths[gop] = tmp_path / f"g{gop}.gvc"
        vidcodec.encode(clip, paths[gop], model="vaegan-tiny", quality=2, gop=gop or 1)
    h0 = _read(paths[0])[0]
    with container.GvcWriter(paths[0], dataclasses.replace(h0, gop=0)) as w:  # a writer that said "not fixed"
        for p in _read(paths[1])[1]:
            w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)
    assert _read(paths[1])[0].gop == 1
    for inputs, gop in (([1, 3], 3), ([3, 1], 3), ([1, 0, 3], 0)):
        out = io.BytesIO()
        remux([paths[g] for g in inputs], out)
        assert _read(out.getvalue())[0].gop == gop
    # a stream found after the header was written (cat): the header is rewritten at the end
    cat = tmp_path / "cat.gvc"
    cat.write_bytes(paths[1].read_bytes() + paths[3].read_bytes())
    out = tmp_path / "o.gvc"
    remux(cat, out)
    assert _read(out)[0].gop == 3


def test_a_lone_frame_without_a_frame_rate_is_followed_a_25th_of_a_second_later(stream, tmp_path):
    h = dataclasses.replace(stream["header"], frame_rate=(0, 0))
    key = _video(stream["packets"])[0]
    one = tmp_path / "one.gvc"
    with container.GvcWriter(one, h) as w:
        w.write_packet(key.kind, 1000, key.payload, 0, key.flags)
    out = io.BytesIO()
    remux([one, one], out)
    tb = Fraction(*h.time_base)
    assert [p.pts for p in _video(_read(out.getvalue())[1])] == [1000, 1000 + round(Fraction(1, 25) / tb)]


def test_stdout_opened_for_appending_leaves_the_frame_count_unknown(stream, tmp_path):
    from vidcodec import streamcopy

    f = tmp_path / "a.gvc"
    with open(f, "ab") as out:
        assert not streamcopy._seekable(out)
        remux(stream["path"], out, max_frames=3)
    assert _read(f)[0].frame_count == 0 and len(_video(_read(f)[1])) == 3
    with open(tmp_path / "w.gvc", "wb") as out:
        assert streamcopy._seekable(out)


def _damaged(stream, tmp_path, index: int, where: str = "payload") -> Path:
    """The stream with one byte of video packet ``index``'s payload (or header) flipped."""
    p = _video(stream["packets"])[index]
    data = bytearray(stream["data"])
    data[p.offset + (p.header_size if where == "payload" else 2)] ^= 0xFF
    path = tmp_path / f"d{index}{where}.gvc"
    path.write_bytes(bytes(data))
    return path


def test_time_counts_from_a_damaged_first_keyframe_and_damage_past_the_stretch_is_not_the_copys(stream, tmp_path):
    packets = _video(stream["packets"])
    tb = Fraction(*stream["header"].time_base)
    k = [i for i, p in enumerate(packets) if p.kind is PacketType.KEY][1]
    bad = _damaged(stream, tmp_path, 0)  # the first keyframe's payload: its GOP cannot decode
    for src, stdin in ((bad, None), ("-", Pipe(bad.read_bytes()))):
        s = remux(src, io.BytesIO(), start="0.05", stdin=stdin)
        assert Fraction(s.start).limit_denominator(1000) == (packets[k].pts - packets[0].pts) * tb  # not from 0.4
        assert s.dropped == k - 1 and s.damaged == 0  # the deltas after 0.05 were asked for; the key was not
    bad = _damaged(stream, tmp_path, k)  # the keyframe just after five frames asked for
    length = (packets[k].pts - packets[0].pts) * tb
    for kw in ({"duration": length}, {"max_frames": k}):
        s = remux(bad, io.BytesIO(), **kw)
        assert (s.frames, s.damaged, s.dropped) == (k, 0, 0)
    s = remux(bad, io.BytesIO())
    assert (s.damaged, s.dropped) == (1, [i for i, p in enumerate(packets) if p.kind is PacketType.KEY][2] - k - 1)
    # a stream whose only keyframes are damaged: an error about the damage, not about --start
    only = tmp_path / "only.gvc"
    only.write_bytes(_damaged(stream, tmp_path, 0).read_bytes()[: packets[k].offset])
    with pytest.raises(CorruptPacketError, match="damaged"):
        remux(only, tmp_path / "o.gvc")
    assert cli_main(["remux", str(only), str(tmp_path / "o.gvc"), "-q"]) == 2 and not (tmp_path / "o.gvc").exists()


def test_damage_between_streams_joined_with_cat_fails_the_copy_and_the_next_stream_is_found(stream, tmp_path):
    data = stream["data"]
    bad = bytearray(data)
    bad[20] ^= 0xFF  # the second stream's file header: that stream is lost, the third is read on
    cat = tmp_path / "cat.gvc"
    cat.write_bytes(data + bytes(bad) + data)
    outs = []
    for src, stdin in ((cat, None), ("-", Pipe(cat.read_bytes()))):
        out = io.BytesIO()
        s = remux(src, out, stdin=stdin)
        assert s.frames == 2 * FRAMES and s.damaged == 1
        outs.append(out.getvalue())
    assert outs[0] == outs[1]


def test_timestamps_that_go_on_are_kept_when_joining(stream, tmp_path):
    # a stream with a gap (a GOP missing): split, then joined again, gives its bytes back
    packets = stream["packets"]
    keys = [i for i, p in enumerate(packets) if p.kind is PacketType.KEY]
    gap = tmp_path / "gap.gvc"
    with container.GvcWriter(gap, stream["header"]) as w:
        for p in packets[: keys[1]] + packets[keys[2]:]:
            w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)
    s = remux(gap, tmp_path / "g%d.gvc", segment_time="0.3")
    back = io.BytesIO()
    remux([Path(n) for n in s.segments], back)
    assert len(s.segments) >= 2 and back.getvalue() == gap.read_bytes()


def test_audio_before_the_first_frame_is_kept_unless_cut(stream, tmp_path):
    h = dataclasses.replace(stream["header"], extensions={**stream["header"].extensions, container.EXT_AUDIO:
                                                         _av_header(tmp_path).extensions[container.EXT_AUDIO]})
    first = tmp_path / "afirst.gvc"
    audio = _audio_of(tmp_path)
    with container.GvcWriter(first, h) as w:
        w.write_packet(PacketType.KEY, -1024, audio[0].payload, container.AUDIO_STREAM)
        for p in stream["packets"]:
            w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)
    out = io.BytesIO()
    s = remux(first, out)
    assert out.getvalue() == first.read_bytes() and s.audio_packets == 1


def _av_stream(tmp_path: Path) -> Path:
    path = tmp_path / "avsrc.gvc"
    if not path.exists():
        vidcodec.encode(write_av_clip(tmp_path / "avsrc.mp4", frames=5), path, model="vaegan-tiny", quality=2)
    return path


def _av_header(tmp_path: Path) -> container.StreamHeader:
    return _read(_av_stream(tmp_path))[0]


def _audio_of(tmp_path: Path) -> list[container.Packet]:
    return [p for p in _read(_av_stream(tmp_path))[1] if p.stream_index == container.AUDIO_STREAM]


def test_a_short_stretch_after_start_copies_the_keyframes_frames_up_to_it(stream):
    tb = Fraction(*stream["header"].time_base)
    packets = _video(stream["packets"])
    start = (packets[4].pts - packets[0].pts) * tb + Fraction(1, 20)  # 0.45 s, in a GOP that began at 0
    s = remux(stream["path"], io.BytesIO(), start=start, duration="0.01")
    assert s.frames == 5 and s.start == 0.0


def test_a_file_with_a_stream_restarted_after_any_cut_keeps_every_complete_frame(tmp_path, tiny_model_dir):
    # an encode killed anywhere after its header and started again into the same file (with its header
    # repeated before keyframes, as on a pipe, or not): every complete frame of the first, all of the second
    clip = write_testsrc(tmp_path / "c.mp4", frames=6)
    second = tmp_path / "b.gvc"
    vidcodec.encode(clip, second, model="vaegan-tiny", quality=2, gop=3)
    b = second.read_bytes()
    for repeat in (False, True):
        first = tmp_path / "a.gvc"
        vidcodec.encode(clip, first, model="vaegan-tiny", quality=2, gop=3, repeat_header=repeat, overwrite=True)
        a = first.read_bytes()
        _, packets, r = _read(a)
        ends = [p.offset + p.header_size + len(p.payload) for p in _video(packets)]
        # (not a cut exactly where a parameters packet's payload begins: the restarted stream's header, the
        # same bytes, then completes that packet, which reads whole; its frames are then dropped as damage)
        ambiguous = {p.offset + p.header_size for p in packets if p.kind is PacketType.PARAMETERS}
        for cut in sorted(set(range(r.header_size, len(a), 3)) - ambiguous):
            s = remux(io.BytesIO(a[:cut] + b), io.BytesIO())
            assert (s.frames, s.damaged, s.dropped) == (sum(e <= cut for e in ends) + 6, 0, 0), (repeat, cut)


def test_a_join_that_fails_leaves_no_segment(stream, tmp_path):
    clip = write_testsrc(tmp_path / "big.mp4", frames=3, size=(80, 48))
    big = tmp_path / "big.gvc"
    vidcodec.encode(clip, big, model="vaegan-tiny", quality=2)
    cat = tmp_path / "cat.gvc"
    cat.write_bytes(stream["data"] + big.read_bytes())  # the second stream is found as the first is copied
    with pytest.raises(InputError, match="width 80"):
        remux(cat, tmp_path / "seg%03d.gvc", segment_time="0.5")
    assert not list(tmp_path.glob("seg*.gvc"))


def test_damage_only_after_the_stretch_or_the_frames_read_is_not_the_copys(stream, tmp_path):
    packets = _video(stream["packets"])
    tb = Fraction(*stream["header"].time_base)
    keys = [i for i, p in enumerate(packets) if p.kind is PacketType.KEY]
    k = keys[1]
    bad = _damaged(stream, tmp_path, k, where="header")  # the header of the keyframe after five frames
    length = (packets[k].pts - packets[0].pts) * tb
    for kw in ({"duration": length}, {"max_frames": k}, {"start": "0.2", "duration": length - Fraction(2, 10)}):
        s = remux(bad, io.BytesIO(), **kw)
        assert (s.damaged, s.dropped) == (0, 0), kw
    s = remux(bad, io.BytesIO())
    assert s.damaged == 1
    # the index's marker damaged: every frame the header counts was read, nothing is lost
    data = bytearray(stream["data"])
    data[data.rindex(container.INDEX_MARKER)] ^= 0xFF
    (tmp_path / "i.gvc").write_bytes(bytes(data))
    s = remux(tmp_path / "i.gvc", io.BytesIO())
    assert (s.frames, s.damaged) == (FRAMES, 0)
    # the first keyframe's header damaged: --start still counts from it (the index says where it was)
    first = _damaged(stream, tmp_path, 0, where="header")
    s = remux(first, io.BytesIO(), start=1)
    want = [p.pts for p in packets if (p.pts - packets[0].pts) * tb >= 1]
    assert s.start == 1.0 and s.frames == len(want)


def test_cli_options_may_stand_between_the_inputs_and_the_output(stream, tmp_path):
    out = tmp_path / "o%d.gvc"
    assert cli_main(["remux", str(stream["path"]), str(stream["path"]), "--segment-time", "1", str(out), "-q"]) == 0
    assert len(list(tmp_path.glob("o*.gvc"))) == 4  # 4 s joined, a keyframe every 0.5 s
    assert cli_main(["remux", str(stream["path"]), "--frames", "3", str(tmp_path / "p.gvc"), "-q"]) == 0
    assert len(_video(_read(tmp_path / "p.gvc")[1])) == 3


def test_inputs_that_are_pipes_by_name_missing_or_many_streams(stream, tmp_path):
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(stream["data"]))
    writer.start()
    out = io.BytesIO()
    assert remux(fifo, out).frames == FRAMES  # a named pipe (or /dev/stdin, <(...)) is read as it comes
    writer.join()
    assert out.getvalue() == stream["data"]
    with pytest.raises(InputError, match="cannot open"):
        remux(tmp_path / "missing.gvc", io.BytesIO())
    assert cli_main(["remux", str(tmp_path / "missing.gvc"), str(tmp_path / "o.gvc"), "-q"]) == 2
    # hundreds of streams one after another from a pipe (each read must not wrap all those before it)
    s = remux(stream["path"], tmp_path / "s%d.gvc", segment_time="0.5")
    many = b"".join(Path(n).read_bytes() for n in s.segments) * 80
    got = remux("-", io.BytesIO(), stdin=Pipe(many))
    assert got.frames == 80 * FRAMES and got.damaged == 0


def test_a_file_that_starts_mid_way_is_read_on_into_the_streams_after_it(tmp_path, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=12)
    live = tmp_path / "live.gvc"
    vidcodec.encode(clip, live, model="vaegan-tiny", quality=2, gop=4, repeat_header=True)
    whole = tmp_path / "whole.gvc"
    vidcodec.encode(clip, whole, model="vaegan-tiny", quality=2, gop=4)
    data = live.read_bytes()
    params = [p for p in _read(data)[1] if p.kind is PacketType.PARAMETERS]
    joined = data[params[1].offset - 5:] + whole.read_bytes()  # joined before its second parameters packet
    (tmp_path / "j.gvc").write_bytes(joined)
    for src, stdin in ((tmp_path / "j.gvc", None), ("-", Pipe(joined))):
        s = remux(src, io.BytesIO(), stdin=stdin)
        assert (s.frames, s.damaged) == (8 + 12, 0)


def test_a_repeated_header_keeps_its_frame_count_through_a_remux(tmp_path, tiny_model_dir):
    """Remuxed with --repeat-header to a file, each parameters packet had said 1 frame (the placeholder of
    the header rewritten at close): a reader joining there took the stream for one frame."""
    clip = write_testsrc(tmp_path / "c.mp4", frames=12)
    live = tmp_path / "live.gvc"
    vidcodec.encode(clip, live, model="vaegan-tiny", quality=2, gop=4, repeat_header=True)
    again = tmp_path / "again.gvc"
    remux(live, again, repeat_header=True)
    assert again.read_bytes() == live.read_bytes()  # a clean stream comes back byte for byte

    def counts(path):
        params = [p for p in _read(path.read_bytes())[1] if p.kind is PacketType.PARAMETERS]
        return [container.decode_header(bytes(p.payload)).frame_count for p in params]

    assert counts(again) == [12, 12, 12]
    cut = tmp_path / "cut.gvc"
    remux(live, cut, repeat_header=True, max_frames=6)
    assert counts(cut) == [0, 0]  # not known when the header is written: unknown, not a wrong count
    assert _read(cut.read_bytes())[0].frame_count == 6  # the file's own header: set at close
    assert sum(1 for _ in vidcodec.frames(cut)) == 6
    twice = tmp_path / "twice.gvc"  # one input holding two streams: 24 frames, not the first header's 12
    twice.write_bytes(live.read_bytes() * 2)
    remux(twice, tmp_path / "both.gvc", repeat_header=True)
    assert set(counts(tmp_path / "both.gvc")) == {0} and _read((tmp_path / "both.gvc").read_bytes())[0].frame_count == 24


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_output_gets_the_frame_count_it_cannot_have_rewritten(tmp_path, tiny_model_dir):
    """A path that is a named pipe (or /dev/stdout, >(...)) cannot seek back: its header had announced the
    placeholder 1 frame, and a decode of what came through wrote one picture and failed at the second."""
    import threading

    clip = write_testsrc(tmp_path / "c.mp4", frames=12)
    whole = tmp_path / "whole.gvc"
    vidcodec.encode(clip, whole, model="vaegan-tiny", quality=2, gop=4)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = bytearray()

    def drain():
        with open(fifo, "rb") as f:
            got.extend(f.read())

    t = threading.Thread(target=drain)
    t.start()
    remux(whole, str(fifo), overwrite=True)
    t.join(20)
    header, packets, _ = _read(bytes(got))
    assert header.frame_count == 12  # (was 1)
    params = [p for p in packets if p.kind is PacketType.PARAMETERS]  # a pipe's output is live: repeated
    assert params and all(container.decode_header(bytes(p.payload)).frame_count == 12 for p in params)


def test_a_damaged_repeated_header_is_no_new_stream_and_loses_no_frame(tmp_path, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=12)
    live = tmp_path / "live.gvc"
    vidcodec.encode(clip, live, model="vaegan-tiny", quality=2, gop=4, repeat_header=True)
    data = bytearray(live.read_bytes())
    params = [p for p in _read(bytes(data))[1] if p.kind is PacketType.PARAMETERS]
    for flip in (params[1].offset + 5, params[1].offset + params[1].header_size + 50):  # its header, its payload
        bad = bytearray(data)
        bad[flip] ^= 0xFF
        (tmp_path / "b.gvc").write_bytes(bytes(bad))
        for src, stdin in ((tmp_path / "b.gvc", None), ("-", Pipe(bytes(bad)))):
            s = remux(src, io.BytesIO(), stdin=stdin)
            assert (s.frames, s.damaged, s.dropped, s.truncated) == (12, 0, 0, 0), (flip, src)


def test_a_key_packet_twice_is_left_out_alone_and_a_stream_restarted_inside_loses_its_gop(stream, tmp_path):
    """A key packet right after itself (the same pts and payload) loses nothing: the copy is the stream's
    bytes again (its deltas were once left out up to the next keyframe). The first GOP again after frame
    6 is another matter: the deltas after it are left out to the next keyframe, as decode conceals them."""
    data, packets = stream["data"], stream["packets"]
    key = packets[0]
    end = key.offset + key.header_size + len(key.payload)
    twice = tmp_path / "twice.gvc"
    twice.write_bytes(data[:end] + data[key.offset:end] + data[end:])
    out = io.BytesIO()
    s = remux(twice, out)
    assert (s.frames, s.dropped, s.damaged) == (FRAMES, 0, 0)
    assert out.getvalue() == data
    earlier = data[packets[0].offset:packets[1].offset + packets[1].header_size + len(packets[1].payload)]
    cut = packets[6].offset + packets[6].header_size + len(packets[6].payload)
    restarted = tmp_path / "restarted.gvc"
    restarted.write_bytes(data[:cut] + earlier + data[cut:])
    s = remux(restarted, io.BytesIO())
    assert (s.frames, s.dropped) == (FRAMES - 3, 2 + 3)  # frames 7-9 left out, with the two packets again


def test_a_stream_cut_at_a_packets_end_is_warned_about_unless_another_stream_cut_it(stream, tmp_path, caplog):
    """No index and no truncated packet (an encoder killed between two packets): the README promises a
    warning, and none came. Where another stream's header follows (an encode restarted), the cut is said
    instead, once."""
    data, packets = stream["data"], stream["packets"]
    killed = tmp_path / "killed.gvc"
    killed.write_bytes(data[:packets[7].offset])
    s = remux(killed, tmp_path / "fixed.gvc")
    assert (s.frames, s.truncated) == (7, 0)
    assert f"7 frames (its header announces {FRAMES}) are copied from it, and indexed" in caplog.text
    caplog.clear()
    restarted = tmp_path / "restarted.gvc"
    restarted.write_bytes(data[:packets[7].offset] + data)
    s = remux(restarted, tmp_path / "joined.gvc")
    assert s.frames == 7 + FRAMES
    assert "cut off at byte" in caplog.text and "ends without the index" not in caplog.text
    caplog.clear()
    remux(stream["path"], tmp_path / "whole.gvc")
    assert "index" not in caplog.text
