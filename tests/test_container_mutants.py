"""Container tests written from a mutation-testing pass over vidcodec/container.py: each pins a rule of
docs/FORMAT.md (or of the reader/writer's documented behaviour) that a changed line could break without
any other test noticing (caps and their boundaries, resync onto the index chunk, the footer's checks,
layouts of every major, the writer's failure paths, the tags and code points of the header)."""

from __future__ import annotations

import io
import logging
import struct
import sys
import threading
import zlib

import pytest
from test_container import (
    PACKETS,
    Pipe,
    as_tuples,
    flip_bit,
    index_offset,
    leb128,
    make_header,
    packet_bytes,
    read_all,
    rewrite_header,
    write_stream,
)

from vidcodec import container
from vidcodec.container import (
    Damaged,
    GvcReader,
    GvcWriter,
    IndexEntry,
    KeyframeIndex,
    PacketType,
    decode_header,
    encode_header,
    probe,
)
from vidcodec.errors import (
    CorruptPacketError,
    FormatError,
    InputError,
    TruncatedStreamError,
    UsageError,
)

KEY, DELTA, PARAMETERS = PacketType.KEY, PacketType.DELTA, PacketType.PARAMETERS
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
MIB = 1 << 20


def finishes(fn, seconds: float = 10.0):
    """Run fn in a thread; fail (instead of hanging the suite) when it does not return in time."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 (re-raised in the caller)
            box["error"] = err

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"did not finish within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def escaped_13x_header(stream: int, kind: int, flags: int, zigzag: int, size: int, payload: bytes = b"") -> bytes:
    """A hand-built 13.x packet header with the escape byte (0, then stream, type, flags) and valid CRCs."""
    head = b"\xa7GVP" + bytes([0, stream, kind, flags]) + leb128(zigzag) + leb128(size)
    head += struct.pack("<H", zlib.crc32(payload) & 0xFFFF)
    return head + struct.pack("<H", zlib.crc32(head) & 0xFFFF)


# --- caps: "Readers check these before allocating or reading what a field announces" --------------------


def test_a_header_of_exactly_the_1_mib_cap_is_written_and_read_and_a_byte_more_is_refused() -> None:
    base = len(encode_header(make_header()))
    fill = MIB - base - 6  # one extension entry: tag u16, length u32, value
    header = make_header(extensions={7: bytes(fill)})
    data = encode_header(header)
    assert len(data) == MIB
    assert decode_header(data) == header
    stream, _ = write_stream(PACKETS[:2], header)
    with GvcReader(io.BytesIO(stream)) as r:
        assert r.header == header and as_tuples(list(r)) == PACKETS[:2]
    with pytest.raises(UsageError, match="1048576"):
        encode_header(make_header(extensions={7: bytes(fill + 1)}))
    # a prefix announcing 1 MiB + 1 is refused before anything is read
    over = data[:12] + struct.pack("<I", MIB + 1) + data[16:]
    with pytest.raises(FormatError, match=r"header size 1048577 is outside \[103, 1048576\]"):
        GvcReader(io.BytesIO(over))


def test_the_payload_size_cap_is_256_mib_inclusive() -> None:
    # A header announcing exactly 256 MiB is valid: the stream is then merely cut short. One byte more is
    # damage, found before reading the payload.
    data, offsets = write_stream()
    for size, error, match in ((256 * MIB, TruncatedStreamError, "inside the packet that starts"),
                               (256 * MIB + 1, CorruptPacketError, "claims a 268435457-byte payload")):
        bad = data[: offsets[1]] + escaped_13x_header(0, DELTA, 8, 2, size)
        source = Pipe(bad, chunk=1 << 30)
        with pytest.raises(error, match=match):
            list(GvcReader(source))
        assert source.largest_read <= MIB


@pytest.mark.parametrize("version", [container.FORMAT_VERSION, (12, 0), (11, 1)])
def test_the_longest_packet_header_a_layout_allows_is_parsed(version) -> None:
    # 10-byte pts (i64 min), 5-byte size (2**28): 27 bytes in 13.x, 29 in 12.x, 28 in 7.x-11.x, all escaped
    # or with the stream/type/flags bytes.
    data, offsets = write_stream(header=make_header(version=version))
    v13, v12 = version == container.FORMAT_VERSION, version == (12, 0)
    fields = bytes([0, 4, KEY, 0]) if v13 or v12 else bytes([4, KEY, 0])
    for size, error in ((256 * MIB, TruncatedStreamError), (256 * MIB + 1, CorruptPacketError)):
        head = b"\xa7GVP" + fields + leb128((1 << 64) - 1) + leb128(size)
        head += struct.pack("<H", 0) if v13 else struct.pack("<I", 0)
        head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
        assert len(head) == (27 if v13 else 29 if v12 else 28)
        with pytest.raises(error) as info:
            finishes(lambda head=head: list(GvcReader(io.BytesIO(data[: offsets[1]] + head + b"p" * 10))))
        if error is TruncatedStreamError:  # the header was whole: the payload is what is missing
            assert "inside the packet that starts" in str(info.value)
        else:
            assert "cap" in str(info.value)


def test_a_stepped_pts_that_leaves_the_i64_range_is_damage() -> None:
    header = make_header(time_base=(1, 12800), frame_rate=(25, 1))  # pts step 512
    data, offsets = write_stream(header=header)
    code = leb128(2 * (1 << 62))  # 2**62 steps of 512: far past 2**63
    head = b"\xa7GVP" + bytes([0x20 | KEY]) + code + leb128(0) + struct.pack("<H", 0)
    forged = data[: offsets[4]] + head + struct.pack("<H", zlib.crc32(head) & 0xFFFF) + data[offsets[4]:]
    with pytest.raises(CorruptPacketError, match="pts beyond 64 bits"):
        read_all(forged)
    items = read_all(forged, resync=True)
    assert isinstance(items[4], Damaged) and as_tuples(items) == PACKETS


@pytest.mark.parametrize("major", range(1, 16))
def test_every_readable_major_writes_its_own_packet_header_layout_and_reads_it_back(major) -> None:
    data, offsets = write_stream(header=make_header(version=(major, 0)))
    with GvcReader(io.BytesIO(data)) as r:
        assert r.version == (major, 0) and as_tuples(list(r)) == PACKETS
    kind, pts, payload = PACKETS[1]  # a delta
    got = data[offsets[1] : offsets[2]]
    if major <= 6:
        assert got == packet_bytes(kind, pts, payload, v6=True)
    elif major <= 11:
        assert got == packet_bytes(kind, pts, payload, v7=True)
    elif major == 12:
        assert got == packet_bytes(kind, pts, payload, v12=True)
    else:
        assert got == packet_bytes(kind, pts, payload, prev=PACKETS[0][1])


# --- pts ----------------------------------------------------------------------------------------------


def test_a_pts_step_of_2_is_a_step() -> None:
    # 30 fps in a 1/60 time base: S = 2, the smallest step; frames are coded in steps and read back whole.
    header = make_header(time_base=(1, 60), frame_rate=(30, 1))
    assert container.pts_step(header) == 2
    packets = [(KEY, 0, b"k"), (DELTA, 2, b"d"), (DELTA, 4, b""), (KEY, 6, b"k2"), (DELTA, 9, b"odd")]
    data, offsets = write_stream(packets, header)
    assert as_tuples(read_all(data)) == packets
    assert data[offsets[3] + 4] == 0x20 | KEY and data[offsets[3] + 5] == 2 * 3  # stepped: frame 3
    assert data[offsets[1]] == 0x20 | DELTA


def test_13x_deltas_carry_any_i64_pts_and_a_distance_past_64_bits_is_refused() -> None:
    packets = [(KEY, 0, b"a"), (DELTA, I64_MAX, b"b"), (KEY, 0, b"c"), (DELTA, I64_MIN, b"d"),
               (KEY, I64_MIN, b"e"), (DELTA, -1, b"f")]
    data, _ = write_stream(packets)
    assert as_tuples(read_all(data)) == packets
    writer = GvcWriter(io.BytesIO(), make_header())
    writer.write_packet(KEY, -1, b"")
    with pytest.raises(UsageError, match="within 2\\*\\*63"):
        writer.write_packet(DELTA, I64_MAX, b"")  # 2**63 past the frame before it


# --- record boundaries --------------------------------------------------------------------------------


@pytest.mark.parametrize(("tail", "error"), [(b"\x01", CorruptPacketError), (b"\x03", CorruptPacketError),
                                             (b"\x42", CorruptPacketError), (b"\x0a", TruncatedStreamError),
                                             (b"\xa7G", TruncatedStreamError)])
def test_a_stray_byte_after_the_last_packet_is_damage_unless_it_can_start_a_header(tail, error) -> None:
    # FORMAT.md: at a record boundary only a sync marker, the index marker or a byte with type bits 2 and
    # stream bits 0 (a stream-0 delta's header) may start; a prefix of them the data ends inside is a
    # truncation (a stray line feed, 0A, is one), anything else is damage.
    data, _ = write_stream()
    with pytest.raises(error):
        read_all(data[: index_offset(data)] + tail)


def test_resync_after_damage_in_the_last_packet_ends_cleanly_at_the_index_chunk() -> None:
    data, offsets = write_stream()
    at = index_offset(data)
    damaged = flip_bit(data, offsets[8] + 5)  # the last key's pts: its header fails its CRC
    reader = GvcReader(io.BytesIO(damaged), resync=True)
    items = list(reader)
    assert as_tuples(items) == PACKETS[:8]
    assert items[-1] == Damaged(offsets[8], at - offsets[8], items[-1].reason)  # type: ignore[union-attr]
    assert reader.closed_cleanly and reader.trailing_at is None
    reader = GvcReader(Pipe(damaged), resync=True)  # the same on a pipe
    assert as_tuples(list(reader)) == PACKETS[:8] and reader.closed_cleanly


@pytest.mark.parametrize("version", [container.FORMAT_VERSION, (12, 0)])
def test_escaped_packet_headers_read_back_in_12x_and_13x(version) -> None:
    # Fields the packet byte cannot hold (stream >= 4, a flag past bit 2) escape; a stream-0 delta that
    # escapes keeps its sync marker.
    packets = [(0, KEY, 0), (0, DELTA, 8), (4, KEY, 0), (0, DELTA, 0x80), (5, DELTA, 1)]
    out = io.BytesIO()
    with GvcWriter(out, make_header(version=version)) as writer:
        offsets = [writer.write_packet(kind, 10 * i, b"p%d" % i, stream_index=s, flags=f)
                   for i, (s, kind, f) in enumerate(packets)]
    data = out.getvalue()
    got = read_all(data)
    assert [(p.stream_index, p.kind, p.flags, p.pts) for p in got] == [
        (s, kind, f, 10 * i) for i, (s, kind, f) in enumerate(packets)]
    assert data[offsets[1] : offsets[1] + 8] == b"\xa7GVP" + bytes([0, 0, DELTA, 8])
    # escaping fields the packet byte holds is damage in 12.x as in 13.x
    head = b"\xa7GVP" + bytes([0, 0, KEY, 0]) + b"\x02\x00"
    head += struct.pack("<H", 0) if version == container.FORMAT_VERSION else struct.pack("<I", 0)
    forged = data[: offsets[2]] + head + struct.pack("<H", zlib.crc32(head) & 0xFFFF) + data[offsets[2]:]
    with pytest.raises(CorruptPacketError, match="escapes fields"):
        read_all(forged)


def test_a_parameters_packet_is_described_by_its_packet_byte_not_escaped() -> None:
    header = make_header()
    out = io.BytesIO()
    with GvcWriter(out, header, repeat_header=True) as writer:
        writer.write_packet(KEY, 0, b"k")
    data = out.getvalue()
    start = len(encode_header(header))
    assert data[start : start + 5] == b"\xa7GVP" + bytes([PARAMETERS])
    # an escaped one is damage (one encoding per header)
    payload = encode_header(header)
    forged = data[:start] + escaped_13x_header(0, PARAMETERS, 0, 0, len(payload), payload) + payload
    with pytest.raises(CorruptPacketError, match="escapes fields"):
        read_all(forged)


# --- index and footer ---------------------------------------------------------------------------------


def test_the_index_is_used_only_where_it_ends_at_the_footer() -> None:
    # FORMAT.md: the index is used only if index offset + 24 + 16 K + 20 equals the stream size.
    data, _ = write_stream()
    spaced = data[:-20] + b"\0" * 16 + data[-20:]  # bytes between the index chunk and the footer
    reader = GvcReader(io.BytesIO(spaced))
    assert reader.index() is None and reader.index_damaged


def test_an_index_of_exactly_the_entry_cap_is_used(monkeypatch) -> None:
    monkeypatch.setattr(container, "MAX_INDEX_ENTRIES", 3)  # PACKETS has 3 keys
    data, offsets = write_stream()
    reader = GvcReader(io.BytesIO(data))
    index = reader.index()
    assert index is not None and [e.offset for e in index.entries] == [offsets[0], offsets[4], offsets[8]]
    assert as_tuples(list(reader)) == PACKETS and reader.closed_cleanly


def test_an_index_entry_for_a_smallest_key_packet_right_before_the_index_is_valid() -> None:
    # The last packet is a key with a one-byte pts and no payload: 11 bytes, ending where the index starts.
    packets = [*PACKETS[:4], (KEY, 5, b"")]
    data, offsets = write_stream(packets)
    assert index_offset(data) - offsets[4] == 11
    reader = GvcReader(io.BytesIO(data))
    index = reader.index()
    assert index is not None and index.entries[-1] == IndexEntry(5, offsets[4])
    assert not reader.index_damaged


def test_a_stream_without_packets_closes_with_an_empty_index() -> None:
    data, _ = write_stream([])
    reader = GvcReader(io.BytesIO(data))
    assert reader.index() == KeyframeIndex(0, ())
    assert list(reader) == [] and reader.closed_cleanly
    info = probe(io.BytesIO(data))
    assert info["index_present"] and info["index_frame_count"] == 0


def test_the_index_of_a_stream_that_another_follows_is_the_one_read_at_its_end() -> None:
    data, offsets = write_stream()
    reader = GvcReader(io.BytesIO(data + data))  # cat a.gvc a.gvc
    assert as_tuples(list(reader)) == PACKETS and reader.trailing_at == len(data)
    index = reader.index()
    assert index is not None and [e.offset for e in index.entries] == [offsets[0], offsets[4], offsets[8]]
    info = probe(io.BytesIO(data + data))
    assert info["bytes"] == len(data) and info["trailing_at"] == len(data)


def test_a_pipe_of_two_streams_says_so_and_one_kept_open_after_its_stream_does_not_hold_the_reader() -> None:
    """`cat a.gvc b.gvc | vidcodec decode -`: the second stream's bytes come after the first's footer, not
    always by then in the reader's buffer; it once said nothing from a pipe (a file was warned about). A
    writer that keeps its pipe open after a whole stream is waited for TRAILING_WAIT_S at most."""
    import os
    import time

    data, _ = write_stream()
    for tail, keep_open in ((data, False), (b"", True)):
        r, w = os.pipe()

        def write(tail=tail, w=w, keep_open=keep_open) -> None:
            os.write(w, data)
            time.sleep(0.05)  # the footer read before the rest comes
            os.write(w, tail)
            if keep_open:
                time.sleep(2)
            os.close(w)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            with os.fdopen(r, "rb") as src:
                t = time.monotonic()
                reader = GvcReader(src)
                assert as_tuples(list(reader)) == PACKETS
                took = time.monotonic() - t
                assert reader.trailing_at == (len(data) if tail else None)
        finally:
            writer.join()
        if keep_open:
            assert took < 1.5


def test_the_index_is_the_same_however_often_it_is_asked_for() -> None:
    data, _ = write_stream()
    reader = GvcReader(io.BytesIO(data))
    first = reader.index()
    assert first is not None and reader.index() == first


def test_a_seek_from_the_first_keyframe_counts_from_its_pts() -> None:
    late = [(kind, pts + 1000, payload) for kind, pts, payload in PACKETS]  # keys at 1000, 5000, 9000
    data, offsets = write_stream(late)
    reader = GvcReader(io.BytesIO(data))
    assert reader.seek_to_keyframe(4000, from_first=True) == IndexEntry(5000, offsets[4])
    assert reader.first_key_pts == 1000
    assert as_tuples(list(reader)) == late[4:]
    assert reader.seek_to_keyframe(4000) == IndexEntry(1000, offsets[0])  # in the stream's own time


def test_a_seek_through_a_valid_index_does_not_scan_the_stream(caplog) -> None:
    data, offsets = write_stream()
    reader = GvcReader(io.BytesIO(data))
    with caplog.at_level(logging.INFO, logger="vidcodec"):
        assert reader.seek_to_keyframe(5000) == IndexEntry(4000, offsets[4])
    assert "does not match" not in caplog.text and "scanning" not in caplog.text
    assert as_tuples(list(reader)) == PACKETS[4:]


# --- live sources and joining -------------------------------------------------------------------------


def test_a_join_that_finds_packets_but_no_parameters_packet_says_so() -> None:
    data, offsets = write_stream()  # no parameters packets: nothing to join at
    with pytest.raises(FormatError, match="joined mid-way, but no stream header"):
        GvcReader(Pipe(data[offsets[1] :]))


def test_a_join_looks_for_the_parameters_packet_in_the_first_64_mib_only() -> None:
    header = make_header()
    out = io.BytesIO()
    with GvcWriter(out, header, repeat_header=True) as writer:
        writer.write_packet(KEY, 0, b"k")
    live = out.getvalue()[len(encode_header(header)) :]  # parameters packet, key, index, footer
    with GvcReader(Pipe(bytes(64 * MIB - 1) + live, chunk=MIB)) as r:  # starts inside the span: joined
        assert r.joined_at == 64 * MIB - 1 and r.header == header and as_tuples(list(r)) == [(KEY, 0, b"k")]
    with pytest.raises(FormatError, match="no stream header .* follows within 64 MiB"):
        GvcReader(Pipe(bytes(64 * MIB) + live, chunk=MIB))  # starts at 64 MiB: past it


# --- writer failure paths -----------------------------------------------------------------------------


class FlakySink(io.BytesIO):
    """A seekable destination whose write fails once, the ``fail_at``-th write (0: the first) after it
    is armed (at once unless ``armed`` is False), taking part of the bytes; then it works again."""

    def __init__(self, fail_at: int = 0, *, armed: bool = True) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.calls: int | None = 0 if armed else None

    def arm(self) -> None:
        self.calls = 0

    def write(self, data) -> int:
        if self.calls is not None:
            self.calls += 1
            if self.calls == self.fail_at + 1:
                super().write(bytes(data)[:3])  # part of it went out
                raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_destination_that_fails_on_the_header_raises_and_is_left_open() -> None:
    sink = FlakySink()
    with pytest.raises(OSError, match="No space"):
        GvcWriter(sink, make_header())
    assert not sink.closed  # file objects passed in are never closed by the writer


def test_after_a_failed_write_nothing_more_is_written_even_if_the_destination_recovers() -> None:
    # The docstring: after an exception from writing to the destination itself nothing more is written
    # (no index after a cut packet), and readers report a truncation.
    sink = FlakySink(1, armed=False)
    with pytest.raises(OSError), GvcWriter(sink, make_header()) as writer:
        for i, (kind, pts, payload) in enumerate(PACKETS):
            if i == 3:
                sink.arm()  # the 4th packet's header goes out, its payload fails
            writer.write_packet(kind, pts, payload)
    data = sink.getvalue()
    assert b"\xa7GVI" not in data and not data.endswith(b"\xa7GVE")
    with pytest.raises(TruncatedStreamError):
        read_all(data)
    with pytest.raises(UsageError, match="failed"):
        writer.write_packet(KEY, 0, b"")


def test_a_failure_writing_the_index_at_the_end_of_a_clean_with_block_is_raised() -> None:
    sink = FlakySink(armed=False)
    with pytest.raises(OSError, match="No space"), GvcWriter(sink, make_header()) as writer:
        for kind, pts, payload in PACKETS:
            writer.write_packet(kind, pts, payload)
        sink.arm()  # close() at the end of the block fails writing the index


def test_a_reused_file_object_ends_where_the_stream_ends() -> None:
    data, _ = write_stream()
    out = io.BytesIO(b"\xff" * (len(data) + 5000))  # an earlier, longer file's bytes
    with GvcWriter(out, make_header()) as writer:
        for kind, pts, payload in PACKETS:
            writer.write_packet(kind, pts, payload)
    assert out.getvalue() == data


# --- header values and extension tags -----------------------------------------------------------------


def test_header_values_at_and_past_their_field_widths() -> None:
    u32 = (1 << 32) - 1
    header = make_header(time_base=(u32, u32), frame_rate=(u32, u32), gop=u32, quality=255)
    assert decode_header(encode_header(header)) == header
    for field, value in (("time_base", (1 << 32, 1)), ("frame_rate", (1, 1 << 32)), ("gop", 1 << 32),
                         ("quality", -1), ("quality", 256)):
        with pytest.raises(UsageError, match=field):
            make_header(**{field: value})


def test_colour_matrix_and_range_take_the_documented_code_points() -> None:
    data, _ = write_stream(PACKETS[:1])
    for value in (0, 1, 2, *range(4, 15)):  # FORMAT.md: 3 and >= 15 invalid
        assert GvcReader(io.BytesIO(rewrite_header(data, 61, "<B", value))).header.colour_matrix == value
    for value in (0, 1, 2):
        assert GvcReader(io.BytesIO(rewrite_header(data, 62, "<B", value))).header.colour_range == value
    for offset, value in ((61, 3), (61, 15), (62, 3)):
        with pytest.raises(FormatError, match="invalid file header"):
            GvcReader(io.BytesIO(rewrite_header(data, offset, "<B", value)))


def test_extension_tags_and_the_audio_stream_are_the_documented_numbers() -> None:
    assert (container.EXT_AUDIO, container.EXT_SAMPLE_ASPECT, container.EXT_SUBPEL, container.EXT_CHROMA,
            container.EXT_COLOUR, container.AUDIO_STREAM) == (1, 2, 3, 4, 5, 1)


def test_extension_entries_are_read_by_their_tags() -> None:
    from fractions import Fraction

    sid = bytes(range(8))
    h = make_header(extensions={2: struct.pack("<II", 64, 45), 3: sid, 4: b"\x02\x00", 5: b"\x01\x02"})
    assert container.sample_aspect(h) == Fraction(64, 45)
    assert container.subpel_table(h) == sid.hex()
    assert container.source_chroma(h) == (2, 0)  # 4:1:1: each value 0 ... 2
    assert container.source_chroma(make_header(extensions={4: b"\x02\x02"})) == (2, 2)
    assert container.source_chroma(make_header(extensions={4: b"\x03\x00"})) is None
    assert container.colour_description(h) == (1, 2)
    assert container.subpel_table(make_header(extensions={3: sid}, version=(10, 0))) == sid.hex()
    assert container.subpel_table(make_header(extensions={3: sid}, version=(9, 1))) is None  # before 10.0


def test_probe_reports_every_stream_the_header_entries_and_the_bytes() -> None:
    sid = bytes(range(8))
    header = make_header(extensions={3: sid, 4: b"\x01\x01"})
    out = io.BytesIO()
    with GvcWriter(out, header) as writer:
        for kind, pts, payload in PACKETS:
            writer.write_packet(kind, pts, payload)
        writer.write_packet(KEY, 5, b"\0\0\0\0aac", stream_index=container.AUDIO_STREAM)
    data = out.getvalue()
    info = probe(io.BytesIO(data))
    assert info["packet_count"] == 10 and info["streams"] == {0: 9, 1: 1}
    assert info["packets"]["audio"]["count"] == 1 and info["packets"]["key"]["count"] == 3
    h = info["header"]
    assert (h["source_chroma"], h["subpel_table"], h["sample_aspect_ratio"]) == ("4:2:0", sid.hex(), "1:1")
    assert info["bytes"] == len(data)
    assert probe(Pipe(data))["bytes"] == len(data)  # a pipe: every byte it gave


# --- sources ------------------------------------------------------------------------------------------


def test_sources_that_are_not_readable_binary_files_are_usage_errors(tmp_path) -> None:
    data, _ = write_stream()
    with pytest.raises(UsageError, match=r"io\.BytesIO\(data\)"):
        GvcReader(data)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="binary file object"):
        GvcReader(io.StringIO("text"))  # type: ignore[arg-type]
    closed = io.BytesIO(data)
    closed.close()
    with pytest.raises(UsageError, match="closed file"):
        GvcReader(closed)
    with open(tmp_path / "w.gvc", "wb") as f, pytest.raises(UsageError, match="writing only"):
        GvcReader(f)


def test_stdin_that_is_a_terminal_is_an_input_error(monkeypatch) -> None:
    class Tty(io.BytesIO):
        def isatty(self) -> bool:
            return True

    class Stdin:
        buffer = Tty()

    monkeypatch.setattr(sys, "stdin", Stdin())
    with pytest.raises(InputError, match="stdin is a terminal"):
        container.stdin_stream()

