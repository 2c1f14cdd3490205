"""A .gvc stream over TCP and UDP (vidcodec/network.py): URLs, byte identity through each transport,
receivers that join late, stall or leave, lost datagrams, ends, and the CLI's errors."""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import socket
import threading
import time

import numpy as np
import pytest
from conftest import write_testsrc

import vidcodec
from vidcodec import api, cli, container, network
from vidcodec.errors import NetworkError, Stopped, UsageError


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_all(sock: socket.socket, out: bytearray) -> None:
    while chunk := sock.recv(1 << 16):
        out += chunk


def reader_thread(port: int) -> tuple[threading.Thread, bytearray, socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    got = bytearray()
    t = threading.Thread(target=read_all, args=(sock, got), daemon=True)
    t.start()
    return t, got, sock


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_model_dir):
    """A 12-frame tiny-model stream with a parameters packet before each of its 3 keyframes, its bytes
    as a file would hold them, its packets and its decoded frames."""
    d = tmp_path_factory.mktemp("net")
    clip = write_testsrc(d / "c.mp4", frames=12, size=(64, 48), rate=10)
    out = io.BytesIO()
    vidcodec.encode(clip, out, model="vaegan-tiny", quality=2, gop=4, repeat_header=True)
    data = out.getvalue()
    with container.GvcReader(io.BytesIO(data)) as r:
        header, packets = r.header, list(r)
    frames = [f.rgb for f in vidcodec.frames(io.BytesIO(data))]
    return {"clip": clip, "data": data, "header": header, "packets": packets, "frames": frames}


def rewrite(live: dict, out, before=None) -> None:
    """The live stream's packets written again through GvcWriter to ``out``; ``before(i)`` runs before
    packet i is written (the header's parameters packets come back by repeat_header)."""
    with container.GvcWriter(out, live["header"], repeat_header=True) as w:
        for i, p in enumerate(x for x in live["packets"] if x.kind is not container.PacketType.PARAMETERS):
            if before is not None:
                before(i)
            w.write_packet(p.kind, p.pts, p.payload, p.stream_index, p.flags)


def parameters_offsets(data: bytes) -> list[int]:
    with container.GvcReader(io.BytesIO(data)) as r:
        return [p.offset for p in r if p.kind is container.PacketType.PARAMETERS]


# ------------------------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(("url", "direction", "want"), [
    ("tcp://example.org:5000", "out", ("tcp", "example.org", 5000, False)),
    ("tcp://@:5000?listen", "out", ("tcp", "", 5000, True)),
    ("tcp://0.0.0.0:5000?listen=1", "in", ("tcp", "0.0.0.0", 5000, True)),
    ("tcp://127.0.0.1:5000?listen=0", "in", ("tcp", "127.0.0.1", 5000, False)),
    ("TCP://[::1]:5000", "in", ("tcp", "::1", 5000, False)),
    ("udp://@:1234", "in", ("udp", "", 1234, False)),
    ("udp://:1234", "in", ("udp", "", 1234, False)),
    ("udp://@239.1.1.1:1234", "in", ("udp", "239.1.1.1", 1234, False)),
    ("udp://239.1.1.1:1234?ttl=4&pkt_size=1316", "out", ("udp", "239.1.1.1", 1234, False)),
    ("tcp://@:0?listen", "out", ("tcp", "", 0, True)),
    ("udp://@:0", "in", ("udp", "", 0, False)),
])
def test_urls_parse_as_ffmpeg_writes_them(url, direction, want):
    ep = network.parse(url, direction)
    assert (ep.scheme, ep.host, ep.port, ep.listen) == want


@pytest.mark.parametrize(("url", "direction", "says"), [
    ("tcp://127.0.0.1", "out", "no port"),
    ("tcp://127.0.0.1:99999", "out", "out of range"),
    ("tcp://127.0.0.1:5000/x", "out", "no path"),
    ("tcp://@:5000", "out", "no host to send to"),
    ("tcp://:5000", "in", "no host to connect to"),
    ("tcp://127.0.0.1:0", "out", "port 0 only listens"),
    ("tcp://h:5000?pkt_size=1000", "out", "unknown option 'pkt_size'"),
    ("udp://h:5000?listen", "out", "unknown option 'listen'"),
    ("udp://@:5000?ttl=2", "in", "udp takes none"),
    ("udp://@:5000", "out", "no host to send to"),
    ("udp://user@h:5000", "out", "no user name"),
    ("tcp://@:5000?listen=maybe", "out", "listen is 1"),
    ("http://h:5000", "out", "tcp:// and udp:// only"),
    ("tcp://h:abc", "in", "the port must be a number from 0 to 65535"),
    ("udp://h:70000", "in", "out of range"),
])
def test_bad_urls_say_what_is_wrong(url, direction, says):
    with pytest.raises(UsageError, match=says):
        network.parse(url, direction)


@pytest.mark.parametrize(("typed", "meant"), [("tcp:/h:5000", "tcp://h:5000"), ("UDP:h:5000", "udp://h:5000")])
def test_a_url_short_of_its_slashes_is_named_as_the_url_it_was_meant_to_be(typed, meant, capsys, tmp_path):
    for argv in (["decode", typed, str(tmp_path / "o.y4m")], ["remux", typed, str(tmp_path / "o.gvc")],
                 ["info", typed]):
        assert cli.main(argv) == 2
        assert f"No such file or directory; did you mean {meant}?" in capsys.readouterr().err, argv[0]


@pytest.mark.parametrize(("query", "says"), [("pkt_size=63", "pkt_size must be"), ("pkt_size=65508", "pkt_size"),
                                             ("pkt_size=x", "pkt_size"), ("ttl=0", "ttl must be"),
                                             ("ttl=256", "ttl must be"), ("broadcast=2", "broadcast must be"),
                                             ("bitrate=999", "bitrate must be"), ("bitrate=5X", "bitrate"),
                                             ("burst_bits=9000", "give \\?bitrate= too")])
def test_udp_options_are_checked(query, says):
    with pytest.raises(UsageError, match=says):
        network.open_output(f"udp://239.1.1.1:{free_port(socket.SOCK_DGRAM)}?{query}")


def test_ttl_is_for_multicast_groups():
    with pytest.raises(UsageError, match="ttl is for multicast"):
        network.open_output("udp://127.0.0.1:5000?ttl=3")


def test_is_network_url():
    assert network.is_network_url("tcp://h:1") and network.is_network_url("UDP://@:1")
    assert not network.is_network_url("rtsp://h/s") and not network.is_network_url("tcp.gvc")
    assert not network.is_network_url(b"tcp://h:1") and not network.is_network_url(None)


# ------------------------------------------------------------------------------------------------- TCP


def test_tcp_server_sends_the_file_bytes_and_a_late_receiver_joins_at_a_parameters_packet(live):
    port = free_port()
    ref = io.BytesIO()
    rewrite(live, ref)
    data = ref.getvalue()
    assert data[:len(live["data"]) - 64] == live["data"][:len(data) - 64]  # the same packets as the encode's
    joins = parameters_offsets(data)
    assert len(joins) == 3
    server = network.TcpServer(network.parse(f"tcp://127.0.0.1:{port}?listen", "out"), wait=False)
    first = reader_thread(port)
    server.wait_for_receiver()
    late: list = []

    def before(i):  # the second receiver connects after the first GOP's key and a delta were written
        if i == 2:
            late.append(reader_thread(port))

    rewrite(live, server, before)
    server.close()
    for t, _, sock in (first, late[0]):
        t.join(20)
        sock.close()
    assert bytes(first[1]) == data
    assert bytes(late[0][1]) == data[joins[1]:]  # from the second keyframe's parameters packet
    assert server.served == 2
    frames = [f.rgb for f in vidcodec.frames(io.BytesIO(bytes(late[0][1])))]
    assert len(frames) == 8 and all(np.array_equal(a, b) for a, b in zip(frames, live["frames"][4:], strict=True))


def test_a_receiver_that_leaves_is_dropped_and_the_others_go_on(live, caplog):
    port = free_port()
    ref = io.BytesIO()
    rewrite(live, ref)
    server = network.TcpServer(network.parse(f"tcp://127.0.0.1:{port}?listen", "out"), wait=False)
    stay = reader_thread(port)
    leave = socket.create_connection(("127.0.0.1", port))
    leave.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    server.wait_for_receiver()

    def before(i):
        if i == 1:
            server.flush()
            leave.close()
            time.sleep(0.05)

    with caplog.at_level(logging.INFO, "vidcodec"):
        rewrite(live, server, before)
        # a write to a connection reset by its peer fails on the first or second send
        server.write(b"")
        server.close()
    stay[0].join(20)
    assert bytes(stay[1]) == ref.getvalue()
    assert any("left" in r.message for r in caplog.records)


def test_a_receiver_that_takes_nothing_is_moved_on_without_holding_the_writer(live, caplog):
    port = free_port()
    server = network.TcpServer(network.parse(f"tcp://127.0.0.1:{port}?listen", "out"), wait=False,
                               stall=0.3, backlog=64 << 10)
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", port))
    healthy = reader_thread(port)
    server.wait_for_receiver()
    header = live["header"]
    blob = bytes(range(256)) * 1024  # 256 kB packets: the stuck receiver's buffers fill at once
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, "vidcodec"):
        with container.GvcWriter(server, header, repeat_header=True) as w:
            for i in range(40):
                kind = container.PacketType.KEY if i % 10 == 0 else container.PacketType.DELTA
                w.write_packet(kind, i * 1024, blob)
        server.close()
    elapsed = time.monotonic() - t0
    healthy[0].join(20)
    stuck.close()
    assert len(healthy[1]) > 40 * len(blob)  # every packet, whole
    with container.GvcReader(io.BytesIO(bytes(healthy[1]))) as r:
        assert sum(1 for p in r if p.kind is not container.PacketType.PARAMETERS) == 40
    warned = [r for r in caplog.records if "took nothing" in r.message]
    # moved on once: at the next keyframes its connection is still full, so it waits for a later one
    # without holding the writer again (it had held it a stall's time at every keyframe)
    assert len(warned) == 1
    assert elapsed < 0.3 * 40  # not a stall's wait for every packet


def test_tcp_sender_waits_for_the_receiver_and_says_when_it_is_gone(live):
    with pytest.raises(NetworkError, match="nothing listens at"):
        network.open_output(f"tcp://127.0.0.1:{free_port()}")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    out = network.open_output(f"tcp://127.0.0.1:{port}")
    conn, _ = listener.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()
    listener.close()
    time.sleep(0.05)
    with pytest.raises(NetworkError, match="closed the connection"):
        for _ in range(100):
            out.write(b"x" * 65536)
    out.close()


def test_a_stop_ends_the_wait_for_a_first_receiver():
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    out = network.open_output(f"tcp://127.0.0.1:{free_port()}?listen", stop=stop)  # waits at its first write
    with pytest.raises(Stopped, match="waiting for a receiver"):
        out.write(b"x")
    out.close()
    assert time.monotonic() - t0 < 2


def test_a_port_in_use_is_named():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(NetworkError, match=f"port {port} is in use"):
            network.TcpServer(network.parse(f"tcp://127.0.0.1:{port}?listen", "out"), wait=False)


def test_tcp_input_connects_or_listens_and_ends_when_the_sender_closes(live):
    data = live["data"]
    with pytest.raises(NetworkError, match="nothing serves at"):
        network.open_input(f"tcp://127.0.0.1:{free_port()}")
    # connect to a server
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        conn.sendall(data)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    with network.open_input(f"tcp://127.0.0.1:{port}") as stream:
        assert stream.read() == data
        assert stream.raw.ended_by == "closed" and stream.name == f"tcp://127.0.0.1:{port}"
    server.close()
    # listen for a sender
    port = free_port()

    def send():
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", port))
                break
            except ConnectionRefusedError:
                time.sleep(0.02)
        s.sendall(data[:1000])
        time.sleep(0.1)
        s.sendall(data[1000:])
        s.close()

    threading.Thread(target=send, daemon=True).start()
    with network.open_input(f"tcp://127.0.0.1:{port}?listen") as stream:
        assert stream.read() == data


def test_a_silent_sender_ends_the_input_after_the_timeout(live, caplog):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    hold = threading.Event()

    def serve():
        conn, _ = server.accept()
        conn.sendall(live["data"][:500])
        hold.wait(10)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, "vidcodec"), network.open_input(f"tcp://127.0.0.1:{port}",
                                                                            timeout=0.3) as stream:
        assert stream.read() == live["data"][:500]
        assert stream.raw.ended_by == "timeout"
    assert time.monotonic() - t0 < 5
    assert any("nothing received for 0.3 s" in r.message for r in caplog.records)
    hold.set()
    server.close()
    with pytest.raises(UsageError, match="--timeout must be"):
        network.open_input("udp://@:0", timeout=-1)


@pytest.mark.parametrize("scheme", ["tcp", "udp"])
def test_leaving_a_decode_ends_its_wait_for_a_silent_sender(live, scheme):
    """With --timeout 0 a decode waits for ever for a sender that went silent; Ctrl-C (here: leaving the
    `with` early) had to wait too, as the parsing thread held the input's lock in that wait."""
    port = free_port(socket.SOCK_DGRAM if scheme == "udp" else socket.SOCK_STREAM)
    hold = threading.Event()

    def send():  # three packets, then silence with the connection open
        try:
            with network.open_output(f"{scheme}://127.0.0.1:{port}") as out:
                rewrite(live, out, before=lambda i: i == 3 and hold.wait(20))
        except NetworkError:  # TCP: the receiver has gone (what this test does)
            pass

    url = f"tcp://127.0.0.1:{port}?listen" if scheme == "tcp" else f"udp://@:{port}"
    sender = threading.Timer(0.5, send)
    sender.start()
    stream = network.open_input(url, timeout=0)
    t0 = None
    with vidcodec.frames(stream) as frames:
        next(frames)
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 2  # (waited: 5 s for the decode's threads, then until hold, 20 s)
    assert not stream.closed and stream.raw.ended_by is None  # the caller's, to read on
    hold.set()  # the sender goes on: a second decode of the same input joins at its next keyframe
    with vidcodec.frames(stream) as again:
        rest = [f.rgb for f in again]
    assert len(rest) == 8 and all(np.array_equal(a, b) for a, b in zip(rest, live["frames"][4:], strict=True))
    stream.close()
    sender.join()


# ------------------------------------------------------------------------------------------------- UDP


def test_udp_datagrams_never_span_two_packets_and_the_receiver_ends_at_the_footer(live):
    rx = network.open_input("udp://127.0.0.1:0")
    port = rx.raw.port
    out = network.open_output(f"udp://127.0.0.1:{port}?pkt_size=64")
    rewrite(live, out)
    out.close()
    sizes = []
    got = bytearray()
    while chunk := rx.raw.read(1 << 17):  # one datagram a read, its number taken off
        sizes.append(len(chunk))
        got += chunk
    rx.close()
    assert bytes(got) == live["data"]
    assert rx.raw.ended_by == "footer" and rx.raw.lost == 0
    assert max(sizes) == 64 - network.SEQ.size and out.datagrams == len(sizes)
    # every packet begins a datagram: the datagrams' starts include every packet's offset
    starts = set(np.cumsum([0, *sizes[:-1]]).tolist())
    with container.GvcReader(io.BytesIO(bytes(got))) as r:
        offsets = [p.offset for p in r]
    assert set(offsets) <= starts


def test_udp_bitrate_paces_a_burst_and_sends_the_same_datagrams():
    """?bitrate= (with k/M suffixes, as ffmpeg's): a 60 kB burst at 2 Mbit/s takes about 0.24 s, at
    least the time its bits need less the burst allowed at once, and is the same datagrams in the same
    order as unpaced (where it once left all at once, which a small socket buffer or a switch drops)."""
    data = os.urandom(60_000)
    got = {}
    for query in ("", "?bitrate=2M&burst_bits=12k"):
        rx = network.open_input("udp://127.0.0.1:0")
        out = network.open_output(f"udp://127.0.0.1:{rx.raw.port}{query}")
        t = time.monotonic()
        out.write(data)
        out.flush()
        took = time.monotonic() - t
        out.close()
        rx.raw.timeout = 0.5  # no footer in these bytes: the input ends when they stop coming
        chunks = []
        while chunk := rx.raw.read(1 << 17):
            chunks.append(chunk)
        rx.close()
        got[query] = (chunks, took, out)
    chunks, took, out = got["?bitrate=2M&burst_bits=12k"]
    assert (out.bitrate, out.burst_bits) == (2_000_000, 12_000)
    assert chunks == got[""][0] and b"".join(chunks) == data
    bits = 8 * (len(data) + network.SEQ.size * out.datagrams)
    assert took >= (bits - out.burst_bits) / out.bitrate * 0.95 and out.waited > 0
    assert got[""][1] < took / 4  # the unpaced burst: all at once


def test_a_paced_udp_output_closes_at_once_and_once():
    """?bitrate=1000 paces a datagram over 12 s: close() (a Ctrl-C's too) sends the rest unpaced; a close
    interrupted inside its flush still leaves the output closed (the finalizer's close once paced again,
    then failed on the closed socket). ?bitrate= takes ffmpeg's 1.5M; a lowercase m (milli) is refused."""
    rx = network.open_input("udp://127.0.0.1:0")
    out = network.open_output(f"udp://127.0.0.1:{rx.raw.port}?bitrate=1000&burst_bits=8")
    out.write(b"x" * 100)
    t = time.monotonic()
    out.close()
    assert time.monotonic() - t < 1.0 and out.closed
    rx.close()
    out = network.open_output(f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}?bitrate=1000")
    out.write(b"x" * 100)

    def interrupted(size):
        raise KeyboardInterrupt

    out._datagram = interrupted
    with pytest.raises(KeyboardInterrupt):
        out.close()
    assert out.closed
    out.close()  # nothing more: no pacing, no error
    assert network.open_output(f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}?bitrate=1.5M").bitrate == 1_500_000
    with pytest.raises(UsageError, match="bitrate must be"):
        network.open_output(f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}?bitrate=5m")


def test_what_an_interrupted_paced_write_left_goes_out_in_datagrams_of_at_most_pkt_size():
    # a Ctrl-C inside a paced write leaves more than a datagram's payload: close() had sent it as one
    # datagram (17 068 bytes against a pkt_size of 1472; "Message too long" past 64 KiB)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.5)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    out = network.open_output(f"udp://127.0.0.1:{rx.getsockname()[1]}?bitrate=100000000")
    paced, calls = out._pace, []

    def pace(bits):
        calls.append(bits)
        if len(calls) == 3:
            raise KeyboardInterrupt
        paced(bits)

    out._pace = pace
    with pytest.raises(KeyboardInterrupt):
        out.write(b"x" * 20000)
    out.close()
    sizes = []
    with contextlib.suppress(socket.timeout):
        while True:
            sizes.append(len(rx.recv(1 << 17)))
    rx.close()
    assert max(sizes) <= out.pkt_size and sum(sizes) == 20000 + len(sizes) * network.SEQ.size, sizes


def test_a_send_refused_at_close_is_the_error_said_not_the_closed_sockets():
    # a broadcast address without ?broadcast=1 (EACCES): io's close() flushed the bytes once more, into the
    # socket closed by then, and "Bad file descriptor" replaced the error that says what to do
    class Refusing:
        def __init__(self, sock):
            self.sock, self.open = sock, True

        def sendto(self, data, addr):
            raise OSError(errno.EACCES if self.open else errno.EBADF, "refused")

        def close(self):
            self.open = False
            self.sock.close()

    out = network.open_output(f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}")
    out._sock = Refusing(out._sock)
    out.write(b"x" * 100)
    with pytest.raises(NetworkError, match=r"sending to a broadcast address needs \?broadcast=1"):
        out.close()
    assert out.closed


class Lossy:
    """A UDP socket that drops the datagrams whose numbers (from 0) are in ``drop``."""

    def __init__(self, sock, drop):
        self.sock, self.drop, self.n, self.sent = sock, drop, 0, []

    def sendto(self, data, addr):
        if self.n not in self.drop:
            self.sock.sendto(data, addr)
        self.sent.append(data)
        self.n += 1

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("pkt_size", [64, 1472])
def test_a_lost_datagram_is_damage_even_where_it_held_whole_packets(live, pkt_size):
    """The stream has no packet counter: without the datagrams' numbers a delta lost whole (one small
    packet, one datagram) went unnoticed, and the frames after it decoded on the wrong picture, one
    frame early."""
    rx = network.open_input("udp://127.0.0.1:0", timeout=2)
    out = network.open_output(f"udp://127.0.0.1:{rx.raw.port}?pkt_size={pkt_size}")
    deltas = [p for p in live["packets"] if p.kind is container.PacketType.DELTA]
    lost = deltas[1]  # frame 2: its datagram (the delta's header and payload, whole) is lost
    starts = []

    def before(i):
        starts.append(out.datagrams)

    out._sock = Lossy(out._sock, drop=set())
    rewrite(live, out, before)
    out.close()
    index = [p for p in live["packets"] if p.kind is not container.PacketType.PARAMETERS].index(lost)
    drop = {starts[index]}
    assert starts[index + 1] - starts[index] == 1  # the delta is one datagram, alone
    rx.close()
    rx = network.open_input("udp://127.0.0.1:0", timeout=2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for n, d in enumerate(out._sock.sent):
            if n not in drop:
                tx.sendto(d, ("127.0.0.1", rx.raw.port))
    frames = list(vidcodec.frames(rx))
    assert rx.raw.lost == 1 and rx.raw.ended_by == "footer"
    rx.close()
    assert len(frames) == 12
    assert [f.concealed for f in frames] == [False, False, True, True] + [False] * 8
    assert all(np.array_equal(f.rgb, g) for f, g in zip(frames[:2] + frames[4:], live["frames"][:2] + live["frames"][4:],
                                                            strict=True))


def test_late_and_restarted_datagrams(live):
    rx = network.open_input("udp://127.0.0.1:0", timeout=0.5)
    port = rx.raw.port
    def seq(n, sender=7):
        return network.SEQ.pack(sender, n)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for n, payload in [(65534, b"ab"), (65535, b"cd"), (0, b"ef"), (65535, b"XX"), (3, b"gh"),
                           (1000, b"ij"), (1001, b"kl")]:
            tx.sendto(seq(n) + payload, ("127.0.0.1", port))
    got = rx.read()
    rx.close()
    # 65535 again: late (dropped); 3 after 0: two lost; 1000 after 3: ahead, 996 lost
    assert got == b"abcdef" + network.LOSS_MARK + b"gh" + network.LOSS_MARK + b"ijkl"
    assert rx.raw.lost == 2 + 996 and rx.raw.late == 1
    rx = network.open_input("udp://127.0.0.1:0", timeout=0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for n, payload in [(5000, b"ab"), (100, b"cd"), (101, b"ef")]:  # far behind: a new sender
            tx.sendto(seq(n) + payload, ("127.0.0.1", rx.raw.port))
    assert rx.read() == b"ab" + network.LOSS_MARK + b"cdef"
    rx.close()
    # a new sender (an encoder started again: a new header, a timeline from 0) ends the input, even where
    # its numbers happen to be just behind the old one's
    rx = network.open_input("udp://127.0.0.1:0", timeout=5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for n in range(10, 15):
            tx.sendto(seq(n, 1) + b"a", ("127.0.0.1", rx.raw.port))
        for n in range(8, 8 + network._RESTART + 2):
            tx.sendto(seq(n, 2) + b"b", ("127.0.0.1", rx.raw.port))
    t0 = time.monotonic()
    assert rx.read() == b"aaaaa" and rx.raw.ended_by == "new sender" and time.monotonic() - t0 < 4
    rx.close()
    # a stray datagram (another address) in the middle is dropped; one before the stream gives way to it
    rx = network.open_input("udp://127.0.0.1:0", timeout=0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stray:
        stray.sendto(b"hello world", ("127.0.0.1", rx.raw.port))
        time.sleep(0.05)
        for n in range(20):
            tx.sendto(seq(n, 3) + bytes([65 + n]), ("127.0.0.1", rx.raw.port))
            if n == 10:
                time.sleep(0.05)
                stray.sendto(seq(n + 1, 3) + b"?", ("127.0.0.1", rx.raw.port))  # even with a fitting number
                time.sleep(0.05)
    got = rx.read()
    rx.close()
    assert got == b"o world" + network.LOSS_MARK + bytes(range(65, 85))  # ("hell": its 4 bytes of numbers)
    assert rx.raw.foreign == 1 and rx.raw.ended_by == "timeout"


def test_udp_receiver_joins_mid_stream(live):
    rx = network.open_input("udp://127.0.0.1:0", timeout=2)
    joins = parameters_offsets(live["data"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        data = live["data"][joins[1] - 100:]  # the tail of a delta, then the second keyframe on
        for n, i in enumerate(range(0, len(data), 1000)):
            tx.sendto(network.SEQ.pack(1, n + 7) + data[i:i + 1000], ("127.0.0.1", rx.raw.port))
    frames = [f.rgb for f in vidcodec.frames(rx)]
    rx.close()
    assert len(frames) == 8 and all(np.array_equal(a, b) for a, b in zip(frames, live["frames"][4:], strict=True))


# ------------------------------------------------------------------------------------- encode and the CLI


def test_encode_serves_and_decode_receives_the_same_frames(live, tmp_path):
    port = free_port()
    done: list = []

    def encode():
        done.append(vidcodec.encode(live["clip"], f"tcp://127.0.0.1:{port}?listen", model="vaegan-tiny",
                                    quality=2, gop=4))

    t = threading.Thread(target=encode, daemon=True)
    t0 = time.perf_counter()
    t.start()
    time.sleep(2.5)  # the encoder waits for its first receiver
    for _ in range(200):  # it listens once its input is open
        try:
            frames = [f.rgb for f in vidcodec.frames(f"tcp://127.0.0.1:{port}")]
            break
        except NetworkError:
            time.sleep(0.05)
    t.join(60)
    assert done and done[0].frames == 12 and done[0].bytes == len(live["data"])
    # the summary's time (and fps) is the encoder's, less the wait for a receiver
    assert done[0].seconds < time.perf_counter() - t0 - 1.0
    assert len(frames) == 12 and all(np.array_equal(a, b) for a, b in zip(frames, live["frames"], strict=True))
    with pytest.raises(UsageError, match="repeats the stream header"):
        vidcodec.encode(live["clip"], "udp://127.0.0.1:9", model="vaegan-tiny", repeat_header=False)


def test_cli_encodes_to_udp_and_remux_records_it(live, tmp_path, capsys):
    port = free_port(socket.SOCK_DGRAM)
    rec = tmp_path / "rec.gvc"
    code: list = []
    t = threading.Thread(target=lambda: code.append(cli.main(["remux", f"udp://127.0.0.1:{port}", str(rec),
                                                               "--timeout", "5", "-q"])), daemon=True)
    t.start()
    time.sleep(0.5)  # the receiver binds its port
    assert cli.main(["encode", str(live["clip"]), f"udp://127.0.0.1:{port}", "--model", "vaegan-tiny",
                     "--quality", "2", "--gop", "4", "-q"]) == 0
    t.join(30)
    assert code == [0]
    assert [f.rgb.tobytes() for f in vidcodec.frames(rec)] == [f.tobytes() for f in live["frames"]]
    with container.GvcReader(rec) as r:
        assert r.index() is not None and len(r.index().entries) == 3


def test_cli_decode_and_info_read_a_listening_input(live, tmp_path, capsys):
    for verb in ("decode", "info"):
        port = free_port()

        def send(port=port):
            out = None
            for _ in range(200):
                try:
                    out = network.open_output(f"tcp://127.0.0.1:{port}")
                    break
                except NetworkError:
                    time.sleep(0.02)
            rewrite(live, out)
            out.close()

        t = threading.Thread(target=send, daemon=True)
        t.start()
        args = [verb, f"tcp://127.0.0.1:{port}?listen"] + ([str(tmp_path / "o.y4m"), "-q"] if verb == "decode"
                                                              else ["--json"])
        assert cli.main(args) == 0
        t.join(20)
    assert (tmp_path / "o.y4m").stat().st_size > 12 * 64 * 48 * 3 // 2
    assert '"frames": 12' in capsys.readouterr().out


@pytest.mark.parametrize(("verb", "out", "says"), [
    ("decode", "exists.y4m", "exists; use -y"),
    ("decode", "out.avi", "cannot write '.avi' files"),
    ("decode", "missing/x.mkv", "does not exist"),
    ("remux", "exists.gvc", "exists; use -y"),
    ("remux", "out.mp4", "remux copies .gvc streams"),
    ("play", "exists.y4m", "exists; use -y"),
    ("play", "out.avi", "--to writes y4m"),
    ("play", os.devnull, "--to writes y4m"),
    ("remux", "seg%03d.mp4", "remux copies .gvc streams"),
])
def test_a_listening_input_waits_only_once_the_output_is_checked(verb, out, says, tmp_path, capsys):
    """These had waited for a sender, and failed once it had connected (the sender then failed too)."""
    (tmp_path / "exists.y4m").touch()
    (tmp_path / "exists.gvc").touch()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}?listen"
    argv = [verb, url, "--to", str(tmp_path / out)] if verb == "play" else [verb, url, str(tmp_path / out)]

    def unblock() -> None:  # should the receiver wait after all, a sender of one byte ends the test
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"x")

    late = threading.Timer(8, unblock)
    late.start()
    t0 = time.monotonic()
    try:
        assert cli.main(argv) == 2
    finally:
        late.cancel()
    assert time.monotonic() - t0 < 5 and says in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "says"), [
    (["decode", "a.gvc", "tcp://h:5000"], "decode writes pictures to files or - .stdout., not tcp://h:5000"),
    (["remux", "a.gvc", "x.gvc", "--re", "--segment-time", "2"], "--segment-time writes"),
    (["play", "a.gvc", "--to", "udp://h:5000"], "play writes pictures"),
    (["info", "a.gvc", "--timeout", "3"], "--timeout is for tcp:// and udp:// inputs"),
    (["decode", "http://h/a.gvc", "o.y4m"], "not http://; pipe the stream in: curl"),
    (["remux", "udp://@:5000", "tcp://h:1?listen", "o.gvc"], "one input at a time"),
    (["remux", "udp://@:5000", "-", "o.gvc"], "one input at a time"),
    (["decode", "tcp://h:5000", "o.y4m", "--follow"], "--follow is for a file"),
    (["decode", "tcp://:5000", "o.y4m"], "no host to connect to"),
])
def test_cli_refuses_what_the_network_cannot_do(argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert __import__("re").search(says, err), err


def test_cli_connection_refused_is_exit_1_with_what_to_do(live, capsys):
    port = free_port()
    assert cli.main(["decode", f"tcp://127.0.0.1:{port}", "-", "-q"]) == 1
    assert "start the sender first" in capsys.readouterr().err
    assert cli.main(["encode", str(live["clip"]), f"tcp://127.0.0.1:{port}", "--model", "vaegan-tiny", "-q"]) == 1
    assert "start the receiver first" in capsys.readouterr().err


def test_api_frames_refuses_follow_on_a_url():
    with pytest.raises(UsageError, match="follow= is for a file"):
        list(api.frames("tcp://127.0.0.1:9", follow=True))


def test_remux_serves_a_stored_stream_at_its_own_pace(live, tmp_path):
    """``remux IN URL --re``: ffmpeg's -re; 12 frames at 10 fps go out over 1.1 s, and a receiver gets the
    stream's frames."""
    stored = tmp_path / "s.gvc"
    stored.write_bytes(live["data"])
    port = free_port()
    stats: list = []
    t0 = time.monotonic()
    t = threading.Thread(target=lambda: stats.append(vidcodec.remux(stored, f"tcp://127.0.0.1:{port}?listen",
                                                                    realtime=True)), daemon=True)
    t.start()
    for _ in range(200):
        try:
            frames = [f.rgb for f in vidcodec.frames(f"tcp://127.0.0.1:{port}")]
            break
        except NetworkError:
            time.sleep(0.02)
    t.join(20)
    assert time.monotonic() - t0 >= 1.1
    assert stats[0].frames == 12 and stats[0].keyframes == 3
    assert all(np.array_equal(a, b) for a, b in zip(frames, live["frames"], strict=True)) and len(frames) == 12
    # without --re, over UDP, as fast as it sends; the receiver ends at the footer
    rx = network.open_input("udp://127.0.0.1:0", timeout=2)
    assert cli.main(["remux", str(stored), f"udp://127.0.0.1:{rx.raw.port}", "-q"]) == 0
    got = rx.read()
    rx.close()
    with container.GvcReader(io.BytesIO(got)) as r:  # the same packets, and the stored stream's frame count
        same = [(p.kind, p.pts, p.payload) for p in r if p.kind is not container.PacketType.PARAMETERS]
        assert same == [(p.kind, p.pts, p.payload) for p in live["packets"]
                        if p.kind is not container.PacketType.PARAMETERS]
        assert r.header.frame_count == 12  # (all of it is sent; an encode's header has its source's count too)
    with pytest.raises(UsageError, match="repeats the stream header"):
        vidcodec.remux(stored, "udp://127.0.0.1:9", repeat_header=False)
    with pytest.raises(UsageError, match="realtime must be"):
        vidcodec.remux(stored, tmp_path / "x.gvc", realtime=1)


def test_udp_queue_holds_a_burst_and_drops_what_overflows_it_as_damage():
    raw = network.UdpInput(network.parse("udp://127.0.0.1:0", "in"), timeout=0.5, fifo=10 * 102 + 7)
    rx = io.BufferedReader(raw)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for n in range(30):  # 30 datagrams of 102 bytes at once, nobody reading: 10 fit the queue
            tx.sendto(network.SEQ.pack(1, n) + bytes([n]) * 98, ("127.0.0.1", raw.port))
        time.sleep(0.3)
        tx.sendto(network.SEQ.pack(1, 30) + b"end", ("127.0.0.1", raw.port))
        time.sleep(0.2)
    got = rx.read()
    rx.close()
    assert raw.overruns == 20
    assert got == b"".join(bytes([n]) * 98 for n in range(10)) + network.LOSS_MARK + b"end"
    assert raw.lost == 20 and raw.ended_by == "timeout"


def test_encode_realtime_reads_at_the_inputs_pace_and_writes_the_same_stream(live):
    out = io.BytesIO()
    t0 = time.monotonic()
    vidcodec.encode(live["clip"], out, model="vaegan-tiny", quality=2, gop=4, repeat_header=True, realtime=True)
    assert time.monotonic() - t0 >= 1.1  # 12 frames at 10 fps: the last one 1.1 s after the first
    assert out.getvalue() == live["data"]
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    stats = vidcodec.encode(live["clip"], io.BytesIO(), model="vaegan-tiny", quality=2, gop=4, realtime=True,
                            stop=stop)
    assert time.monotonic() - t0 < 1.0 and 1 <= stats.frames < 12  # a stop ends the paced read early
    with pytest.raises(UsageError, match="realtime must be"):
        vidcodec.encode(live["clip"], io.BytesIO(), realtime="yes")


def footer_cut_sizes(live) -> list[int]:
    """The pkt_sizes from 64 to 140 at which the live stream's footer is cut between two datagrams."""
    cut = []
    for size in range(64, 141):
        out = network.UdpSender(network.parse(f"udp://127.0.0.1:9?pkt_size={size}", "out"))
        out._sock.close()
        out._sock = Lossy(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), drop=set(range(10**6)))
        rewrite(live, out)
        out.close()
        if len(out._sock.sent[-1]) - network.SEQ.size < container.FOOTER_SIZE:
            cut.append(size)
    return cut


def test_udp_end_is_found_where_the_footer_is_cut_between_two_datagrams(live):
    """The index and footer are cut at the datagram size too: a footer begun in one datagram and ended
    in the next was never seen, and the receiver waited for its timeout (or for ever)."""
    sizes = footer_cut_sizes(live)
    assert len(sizes) >= 3
    for pkt_size in sizes[:3] + [64]:
        check_udp_end(live, pkt_size)


def check_udp_end(live, pkt_size):
    rx = network.open_input("udp://127.0.0.1:0", timeout=30)
    out = network.open_output(f"udp://127.0.0.1:{rx.raw.port}?pkt_size={pkt_size}")
    rewrite(live, out)
    out.close()
    t0 = time.monotonic()
    assert rx.read() == live["data"]
    assert rx.raw.ended_by == "footer" and time.monotonic() - t0 < 10
    rx.close()


def test_two_receivers_of_one_udp_port_are_refused_and_dual_stack_listening():
    first = network.open_input("udp://@:0")
    try:
        with pytest.raises(NetworkError, match="is in use"):
            network.open_input(f"udp://@:{first.raw.port}")
    finally:
        first.close()
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    server = network.TcpServer(network.parse("tcp://@:0?listen", "out"), wait=False)
    try:
        for host in ("127.0.0.1", "::1"):
            try:
                sock = socket.create_connection((host, server.port), timeout=5)
            except OSError as err:
                if host == "::1":
                    pytest.skip(f"no IPv6 loopback here ({err})")
                raise
            sock.close()
    finally:
        server.close()


def test_a_listening_encode_checks_its_settings_before_waiting_for_a_receiver(live):
    t0 = time.monotonic()
    with pytest.raises(UsageError, match="quality"):
        vidcodec.encode(live["clip"], f"tcp://127.0.0.1:{free_port()}?listen", model="vaegan-tiny", quality=99)
    assert time.monotonic() - t0 < 20


RST = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close() resets the connection


def test_a_half_closed_receiver_is_served_and_one_that_sends_bytes_gets_the_whole_stream(live):
    """A receiver that closes its sending side (`nc HOST PORT < /dev/null`) still reads: it had been
    dropped as a probe. One that sends bytes gets the whole stream (its unread bytes had made the
    server's close a reset, cutting the end)."""
    port = free_port()
    server = network.TcpServer(network.parse(f"tcp://127.0.0.1:{port}?listen", "out"), wait=False, lazy=True)
    half = reader_thread(port)
    half[2].shutdown(socket.SHUT_WR)
    chatty = reader_thread(port)
    chatty[2].sendall(b"GET / HTTP/1.0\r\n\r\n" * 100)
    time.sleep(0.1)  # both wait in the listener's queue with their ends of file and bytes
    rewrite(live, server)
    server.close()
    half[0].join(20)
    chatty[0].join(20)
    assert bytes(half[1]) == live["data"] and bytes(chatty[1]) == live["data"]


def test_one_ctrl_c_ends_the_wait_for_a_first_receiver(live):
    """The lazy wait happens before the header's write, whose signal-holding had made it take two."""
    import signal

    server = network.TcpServer(network.parse(f"tcp://127.0.0.1:{free_port()}?listen", "out"), wait=False, lazy=True)
    threading.Timer(0.3, lambda: __import__("os").kill(__import__("os").getpid(), signal.SIGINT)).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        container.GvcWriter(server, live["header"], repeat_header=True)
    assert time.monotonic() - t0 < 5
    server.close()


def test_a_listening_input_waits_past_a_probe(live):
    port = free_port()

    def send():
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port)).close()  # the probe
                break
            except ConnectionRefusedError:
                time.sleep(0.02)
        time.sleep(0.2)
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(live["data"])
        s.close()

    threading.Thread(target=send, daemon=True).start()
    with network.open_input(f"tcp://127.0.0.1:{port}?listen") as stream:
        assert stream.read() == live["data"]


def test_receivers_that_leave_before_their_keyframe_are_let_go_at_once(live):
    port = free_port()
    server = network.TcpServer(network.parse(f"tcp://127.0.0.1:{port}?listen", "out"), wait=False)
    keep = reader_thread(port)
    server.wait_for_receiver()
    counts = []

    def before(i):
        if i == 1:
            for _ in range(5):
                s = socket.create_connection(("127.0.0.1", port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
                s.close()
            time.sleep(0.1)
        if i == 2:
            counts.append(len(server._receivers))

    rewrite(live, server, before)
    server.close()
    keep[0].join(20)
    assert counts == [1]  # the five that reset were dropped at the next write, not kept until the keyframe


def test_port_0_says_which_port_even_when_quiet(caplog):
    with caplog.at_level(logging.WARNING, "vidcodec"):
        rx = network.open_input("udp://@:0")
    rx.close()
    assert any(f":{rx.raw.port} (port {rx.raw.port}, chosen by the system)" in r.message for r in caplog.records)


def test_remux_reads_a_url_in_python_too(live, tmp_path):
    rx_port = free_port(socket.SOCK_DGRAM)
    got: list = []
    t = threading.Thread(target=lambda: got.append(vidcodec.remux(f"udp://127.0.0.1:{rx_port}", tmp_path / "r.gvc")),
                         daemon=True)
    t.start()
    time.sleep(0.5)
    out = network.open_output(f"udp://127.0.0.1:{rx_port}")
    rewrite(live, out)
    out.close()
    t.join(20)
    assert got and got[0].frames == 12
    with pytest.raises(UsageError, match="only one input can be stdin, a network URL"):
        vidcodec.remux(["udp://@:1", "tcp://h:2"], tmp_path / "x.gvc")
    with pytest.raises(UsageError, match="a network output is one stream"):
        vidcodec.remux(tmp_path / "r.gvc", "udp://h:5000", segment_time=2)


@pytest.mark.parametrize("url", ["http://127.0.0.1:19060/x.gvc", "srt://host:9000", "rtp://239.0.0.1:5004"])
def test_outputs_of_protocols_vidcodec_does_not_send_over_are_refused_as_such(tmp_path, url, clip):
    from vidcodec import api, streamcopy

    with pytest.raises(UsageError, match=rf"encode writes a .gvc stream to a path, - \(stdout\), tcp:// or udp://, "
                                         rf"not {url.split(':')[0]}://"):
        api.encode(clip, url)
    with pytest.raises(UsageError, match="remux writes a .gvc stream to a path"):
        streamcopy.remux([clip], url)
    assert not (tmp_path / "http:").exists()
