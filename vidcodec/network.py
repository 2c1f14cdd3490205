"""A .gvc stream over the network, as ffmpeg's ``tcp://`` and ``udp://`` protocols carry MPEG-TS.

Outputs (``vidcodec encode IN URL``):

- ``tcp://HOST:PORT``: connect to a receiver listening there (``vidcodec play tcp://@:PORT?listen``);
  the encode waits for it as for a pipe, and stops with an error if it goes away.
- ``tcp://HOST:PORT?listen``: serve. Wait for a first receiver, then send the stream to it and to every
  receiver that connects later, each from the next keyframe on (its parameters packet, which a network
  output always carries). A receiver that takes nothing for :data:`STALL_S` seconds while more than
  :data:`BACKLOG` bytes wait for it is moved on to the next keyframe; one that leaves is dropped; the
  encode goes on until its input ends. ``@`` or nothing for HOST listens on every address.
- ``udp://HOST:PORT``: datagrams of at most ``pkt_size`` bytes (default 1472, an Ethernet frame's
  payload) to a unicast, broadcast (``?broadcast=1``) or multicast (``?ttl=N``, default 1) address;
  a packet never shares a datagram with the next, so a lost datagram loses what the decoder then
  conceals, as for any damage, and the parameters packets let receivers join at any keyframe.

Inputs (``vidcodec decode|play|info|remux URL ...``):

- ``tcp://HOST:PORT``: connect to a sender that serves (``encode ... tcp://@:PORT?listen``).
- ``tcp://HOST:PORT?listen``: wait for one sender to connect (``encode ... tcp://HOST:PORT``).
- ``udp://@:PORT`` (or ``udp://:PORT``): receive what is sent to PORT on every address;
  ``udp://@GROUP:PORT`` joins a multicast group; ``udp://ADDR:PORT`` receives on that local address.

An input ends when its sender closes the connection (TCP), after a datagram that ends a stream (its
footer, UDP), or when nothing has come for ``timeout`` seconds once something has (the wait for a
first byte is not limited; Ctrl-C ends it). Port 0 (listening inputs and outputs) takes a free port,
which the log names.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import io
import ipaddress
import logging
import math
import os
import select
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from urllib.parse import parse_qs, urlsplit

from .container import _FOOTER, FOOTER_MAGIC, FOOTER_SIZE
from .errors import NetworkError, Stopped, UsageError
from .urls import is_url

log = logging.getLogger("vidcodec")

SCHEMES = ("tcp", "udp")
PKT_SIZE = 1472  # UDP payload of a 1500-byte Ethernet frame (ffmpeg's udp default)
MAX_PKT_SIZE = 65507  # the most one IPv4 UDP datagram carries
STALL_S = 2.0  # a receiver of a listening output that takes nothing this long is moved on
DROP_S = 30.0  # one moved on that still takes nothing this long is dropped
PROBE_S = 0.05  # how long a first receiver is watched for closing at once (a probe, not a viewer)
BACKLOG = 1 << 20  # bytes a listening output holds for a receiver before it waits for it
CONNECT_TIMEOUT_S = 10.0
_POLL_S = 0.25  # waits are cut into slices this long, so that Ctrl-C and SIGTERM are seen
_RCVBUF = 4 << 20  # a UDP receiver's socket buffer, where the system allows that much
FIFO_BYTES = 32 << 20  # a UDP receiver's queue: seconds of a stream at any usual rate
_SEND = getattr(socket, "MSG_NOSIGNAL", 0)  # a peer gone is an EPIPE error, never a SIGPIPE

_OPTIONS = {("tcp", "out"): {"listen"}, ("tcp", "in"): {"listen"},
            ("udp", "out"): {"pkt_size", "ttl", "broadcast", "bitrate", "burst_bits"}, ("udp", "in"): set()}
MAX_BITRATE = 100_000_000_000  # ?bitrate= at most (100 Gbit/s)


def si_number(text: str) -> float:
    """A number with ffmpeg's SI suffix for bit rates, k or K (10**3), M (10**6) or G (10**9): 500k,
    1.5M. ValueError for anything else (a lowercase m is milli to ffmpeg: refused, not read as mega)."""
    scale = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1:])
    return float(text[:-1]) * scale if scale is not None else float(text)


def is_network_url(value: object) -> bool:
    """Whether ``value`` is a ``tcp://`` or ``udp://`` URL, which vidcodec opens itself."""
    return isinstance(value, str) and value.split("://", 1)[0].lower() in SCHEMES and "://" in value


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``tcp://`` or ``udp://`` URL."""

    url: str
    scheme: str
    host: str  # "" for every address ("@" or nothing in the URL)
    port: int
    listen: bool = False
    options: dict[str, str] = field(default_factory=dict)

    def option(self, name: str, default: int, low: int, high: int, suffixes: bool = False) -> int:
        """An integer option from the URL's query, checked to be within [low, high] (``suffixes``: a number
        with k, M or G after it, as 1.5M for 1500000, as ffmpeg's bit rates: :func:`si_number`)."""
        text = self.options.get(name)
        if text is None:
            return default
        try:
            number = si_number(text) if suffixes else int(text)
            value = round(number) if math.isfinite(number) and abs(number) < 1e18 else None
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise UsageError(f"{self.url}: {name} must be a whole number from {low} to {high} (got {text!r})")
        return value


def parse(url: str, direction: str) -> Endpoint:
    """Parse ``url`` for an output (``direction="out"``) or an input (``"in"``); UsageError naming what
    is wrong with it and what the URL should look like."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        if "could not be cast" in str(err):  # urllib's "Port could not be cast to integer value as 'abc'"
            err = ValueError("the port must be a number from 0 to 65535")
        raise UsageError(f"{url}: {err}; a network URL is tcp://HOST:PORT or udp://HOST:PORT") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError(f"{url}: vidcodec sends and receives .gvc streams over tcp:// and udp:// only")
    if port is None:
        raise UsageError(f"{url}: no port; give one, e.g. {scheme}://{parts.hostname or '@'}:5000")
    if parts.path not in ("", "/") or parts.fragment:
        raise UsageError(f"{url}: a {scheme} URL has no path; give {scheme}://HOST:PORT[?options]")
    host = parts.hostname or ""
    if host in ("@", "*"):
        host = ""
    if parts.username not in (None, "") or parts.password is not None:
        raise UsageError(f"{url}: a {scheme} URL takes no user name; give {scheme}://HOST:PORT")
    query = parse_qs(parts.query, keep_blank_values=True)
    options = {k: v[-1] for k, v in query.items()}
    known = _OPTIONS[(scheme, direction)]
    unknown = sorted(set(options) - known)
    if unknown:
        what = "an output" if direction == "out" else "an input"
        raise UsageError(f"{url}: unknown option {unknown[0]!r} for {what}; "
                         + (f"{scheme} takes {', '.join(sorted(known))}" if known else f"{scheme} takes none"))
    listen = False
    if "listen" in options:
        value = options.pop("listen").lower()
        if value not in ("", "1", "0", "true", "false", "yes", "no"):
            raise UsageError(f"{url}: listen is 1 (or nothing) to listen, 0 not to (got {value!r})")
        listen = value in ("", "1", "true", "yes")
    ep = Endpoint(url, scheme, host, port, listen, options)
    if port == 0 and not (listen or (scheme == "udp" and direction == "in")):
        raise UsageError(f"{url}: port 0 only listens (it takes a free port); give the port to "
                         f"{'send' if direction == 'out' else 'connect'} to")
    if not host and not listen and not (scheme == "udp" and direction == "in"):
        raise UsageError(f"{url}: no host to {'send' if direction == 'out' else 'connect'} to; give one "
                         f"({scheme}://192.168.1.20:{port}), or add ?listen to wait for the other side"
                         if scheme == "tcp" else f"{url}: no host to send to; give one (udp://192.168.1.20:{port}, "
                         f"a multicast group such as udp://239.1.1.1:{port})")
    return ep


def check_output(url: str, repeat_header: bool | None) -> None:
    """UsageError for an output URL :func:`open_output` would refuse, or for ``repeat_header=False``
    (a network output repeats the stream header before every keyframe, where its receivers join):
    checked by encode and remux before anything is opened."""
    parse(url, "out")
    if repeat_header is False:
        raise UsageError(f"{url}: a network output repeats the stream header before every keyframe, so that "
                         "receivers join there: leave repeat_header out")


def refuse_other_url(dst: object, verb: str) -> None:
    """UsageError for an output URL of a protocol vidcodec does not send over (http://, srt://, rtp://...):
    said as such, where it would otherwise be taken for a file path ("http:/host does not exist")."""
    if isinstance(dst, str) and is_url(dst) and not is_network_url(dst):
        raise UsageError(f"{verb} writes a .gvc stream to a path, - (stdout), tcp:// or udp://, not "
                         f"{dst.split(':', 1)[0]}://; serve a written file over HTTP, or pipe it: "
                         f"`vidcodec {verb} ... - | ...`")


class Pacer:
    """ffmpeg's ``-re``: :meth:`wait` returns when a timestamp's time has come, counted from the first
    one it was given, so that stored frames go out at their own pace, as a live source's would. A
    wait ends early once ``stop`` is set."""

    def __init__(self, time_base: Fraction, stop: threading.Event | None = None) -> None:
        self.time_base = time_base
        self.stop = stop
        self._clock: tuple[float, int] | None = None  # (wall time, pts) of the first timestamp

    def wait(self, pts: int) -> None:
        if self._clock is None:
            self._clock = (time.monotonic(), pts)
            return
        due = self._clock[0] + float((pts - self._clock[1]) * self.time_base)
        while (left := due - time.monotonic()) > 0 and not (self.stop is not None and self.stop.is_set()):
            time.sleep(min(left, 0.1))


def _addresses(ep: Endpoint, *, passive: bool) -> list[tuple]:
    """getaddrinfo's answers for ``ep`` (``passive``: to bind; every address where its host is empty)."""
    kind = socket.SOCK_STREAM if ep.scheme == "tcp" else socket.SOCK_DGRAM
    try:
        return socket.getaddrinfo(ep.host or None, ep.port, socket.AF_UNSPEC, kind, 0,
                                  socket.AI_PASSIVE if passive else 0)
    except socket.gaierror as err:
        raise NetworkError(f"{ep.url}: cannot resolve {ep.host!r} ({err.strerror or err}); check the host name") from None


def _bound(ep: Endpoint, kind: int) -> socket.socket:
    """A socket of ``kind`` bound to ``ep``'s address and port: for an empty host every address, IPv6
    and IPv4 (one dual-stack socket where the system has IPv6, else IPv4's); else the host's (IPv4
    first, as most senders use it). Only a TCP listener and a multicast receiver share their port
    (SO_REUSEADDR: a server restarted at once, several receivers of one group); two receivers of one
    unicast UDP port would split the datagrams between them, so the second is refused."""
    group = kind == socket.SOCK_DGRAM and _multicast(ep.host)
    if not ep.host and socket.has_ipv6:
        infos = [(socket.AF_INET6, kind, 0, "", ("::", ep.port)), (socket.AF_INET, kind, 0, "", ("0.0.0.0", ep.port))]
    else:
        infos = sorted(_addresses(ep, passive=True), key=lambda i: i[0] != socket.AF_INET)
    error: OSError | None = None
    for family, _, proto, _, addr in infos:
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as err:  # no IPv6 on this system
            error = err
            continue
        try:
            if kind == socket.SOCK_STREAM or group:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and not ep.host:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 senders too
            if group:  # bound to the group's address, it gets that group's datagrams only (not another
                try:  # group's on the same port, nor unicast ones), as ffmpeg binds it; where the system
                    sock.bind(addr)  # refuses that (Windows), its port
                except OSError:
                    sock.bind(("", ep.port) if family == socket.AF_INET else ("::", ep.port))
                return sock
            sock.bind(addr)
            return sock
        except OSError as err:
            sock.close()
            error = err
    assert error is not None
    if error.errno == errno.EADDRINUSE:
        raise NetworkError(f"{ep.url}: port {ep.port} is in use by another program (or another vidcodec); "
                           "choose another port") from None
    if error.errno == errno.EADDRNOTAVAIL:
        raise NetworkError(f"{ep.url}: {ep.host} is not an address of this machine; to listen on every "
                           f"address, give {ep.scheme}://@:{ep.port}") from None
    if error.errno == errno.EACCES:
        raise NetworkError(f"{ep.url}: ports below 1024 need administrator rights; choose a port from 1024 on") from None
    raise NetworkError(f"{ep.url}: cannot listen there: {error.strerror or error}") from None


def _connect(ep: Endpoint, refused: str) -> socket.socket:
    """A TCP connection to ``ep`` (each of its host's addresses in turn), or a NetworkError that says
    what went wrong: ``refused`` where nothing listens there."""
    try:
        return socket.create_connection((ep.host, ep.port), timeout=CONNECT_TIMEOUT_S)
    except ConnectionRefusedError:
        raise NetworkError(refused) from None
    except TimeoutError:
        raise NetworkError(f"{ep.url} did not answer within {CONNECT_TIMEOUT_S:g} s: check the host and that a "
                           "firewall lets the port through") from None
    except socket.gaierror as err:
        raise NetworkError(f"{ep.url}: cannot resolve {ep.host!r} ({err.strerror or err}); check the host "
                           "name") from None
    except OSError as err:
        raise NetworkError(f"cannot connect to {ep.url}: {err.strerror or err}") from None


def _multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


def _where(sock: socket.socket, ep: Endpoint) -> str:
    """The URL a bound socket listens at, with the port it was given (port 0 takes a free one, which is
    then logged as a warning: ``-q`` must not hide the one thing the other side needs)."""
    port = sock.getsockname()[1]
    shown = ep.host or "@"
    url = f"{ep.scheme}://{shown if ':' not in shown else '[' + shown + ']'}:{port}"
    if ep.port == 0:
        log.warning("%s: listening at %s (port %d, chosen by the system)", ep.url, url, port)
    return url


def _wait_readable(sock: socket.socket, seconds: float | None, stop: threading.Event | None = None) -> bool:
    """Wait until ``sock`` can be read (True) or ``seconds`` pass (False; None waits for ever), in short
    slices so that a signal (Ctrl-C, SIGTERM) is acted on, and ``stop`` (set by another thread: False)."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        if stop is not None and stop.is_set():
            return False
        left = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
        if left <= 0:
            return False
        readable, _, _ = select.select([sock], [], [], left)
        if readable:
            return True


# ---------------------------------------------------------------------------------------------- outputs


class _Output(io.RawIOBase):
    """What an output URL gives GvcWriter: a writable, non-seekable byte stream."""

    live = True  # GvcWriter repeats the stream header before every keyframe for it

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def isatty(self) -> bool:
        return False


class TcpSender(_Output):
    """``tcp://HOST:PORT``: one connection to a listening receiver; writes wait for it as for a pipe."""

    def __init__(self, ep: Endpoint) -> None:
        super().__init__()
        self.endpoint = ep
        sock = _connect(ep, f"nothing listens at {ep.url}: start the receiver first (`vidcodec play "
                            f"tcp://@:{ep.port}?listen` there), or serve with {ep.url}?listen and connect the "
                            "receiver to this machine")
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each packet out as it is written
        self._sock = sock
        log.info("sending to %s", ep.url)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return self._sock.send(data, _SEND)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            raise NetworkError(f"the receiver at {self.endpoint.url} closed the connection; the stream "
                               "ends there") from None

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)
            self._sock.close()
        super().close()


def _discard(sock: socket.socket) -> None:
    """Read and drop what a receiver sent (it has nothing to say; bytes left unread make the final close
    a reset, which throws away the end of the stream it had not read yet)."""
    for _ in range(64):
        if not sock.recv(65536):
            return


def _end(sock: socket.socket) -> None:
    """Close a receiver's connection after the last byte, cleanly: what it sent is read first."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    with contextlib.suppress(OSError):
        _discard(sock)
    sock.close()


class _Receiver:
    """One receiver connected to a listening output."""

    def __init__(self, sock: socket.socket, addr: tuple, joined: bool) -> None:
        self.sock = sock
        host = addr[0].removeprefix("::ffff:")  # an IPv4 peer of a dual-stack socket
        self.name = f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
        self.pending = bytearray()
        self.joined = joined  # False: waiting for the next join point (a parameters packet)
        self.sent = 0  # bytes it took
        self.cut = False  # moved on after it took part of the stream: a loss mark goes before the join
        self.progress = time.monotonic()  # when it last took bytes (or had none waiting)


class TcpServer(_Output):
    """``tcp://HOST:PORT?listen``: a live server; see the module's description."""

    def __init__(self, ep: Endpoint, *, wait: bool = True, stall: float = STALL_S, backlog: int = BACKLOG,
                 stop: threading.Event | None = None, lazy: bool = False) -> None:
        """``wait``: wait for a first receiver now; ``lazy``: at the first write instead (an encode has
        checked its model and settings by then, so a receiver never connects to a stream that fails
        before its first byte); ``stop`` ends either wait."""
        super().__init__()
        self.endpoint = ep
        self.stall = stall
        self.backlog = backlog
        self._stop = stop
        self._lazy = lazy
        self._listener = _bound(ep, socket.SOCK_STREAM)
        self._listener.listen(16)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.url = _where(self._listener, ep)
        self._receivers: list[_Receiver] = []
        self._written = 0
        self.served = 0  # receivers connected so far
        self.waited = 0.0  # seconds spent waiting for a first receiver
        if wait and not lazy:
            try:
                self.wait_for_receiver(stop)
            except BaseException:
                self._listener.close()
                raise

    def wait_for_receiver(self, stop: threading.Event | None = None) -> None:
        """Wait (without limit) until a receiver connects and stays connected (a probe that connects and
        closes at once, as `nc -z` or a health check does, is not one); Stopped when ``stop`` is set
        first (the encode's first Ctrl-C)."""
        self._lazy = False
        self._accept()
        self._prune(PROBE_S)
        if self._receivers:
            return
        log.info("waiting for a receiver at %s (`vidcodec play tcp://THIS-HOST:%d` there)", self.url, self.port)
        t0 = time.perf_counter()
        try:
            while not self._receivers:
                if stop is not None and stop.is_set():
                    raise Stopped(f"{self.url}: stopped while waiting for a receiver")
                if _wait_readable(self._listener, _POLL_S):
                    self._accept()
                    self._prune(PROBE_S)
        finally:
            self.waited += time.perf_counter() - t0

    def _prune(self, wait: float = 0.0) -> None:
        """Drop the receivers not taking the stream yet (waiting for a keyframe, or for the first byte)
        whose connection was reset, watching them for up to ``wait`` seconds. One that closed its
        sending side (an end of file: `nc HOST PORT < /dev/null`, a probe's close) may still read,
        and is only known to be gone when a send to it fails."""
        idle = [r for r in self._receivers if not r.pending and (not r.joined or self._written == 0)]
        if not idle:
            return
        with contextlib.suppress(InterruptedError, ValueError, OSError):
            readable, _, _ = select.select([r.sock for r in idle], [], [], wait)
            for r in idle:
                if r.sock in readable:
                    try:
                        _discard(r.sock)
                        gone = False
                    except (BlockingIOError, InterruptedError):
                        gone = False
                    except OSError:  # reset
                        gone = True
                    if gone:
                        self._drop(r, "left before it was sent anything")

    def _accept(self) -> None:
        while True:
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # e.g. ECONNABORTED: a receiver that left before it was taken
                log.debug("accept failed: %s", err)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            receiver = _Receiver(sock, addr, joined=self._written == 0)
            self._receivers.append(receiver)
            self.served += 1
            log.info("receiver %s connected%s", receiver.name,
                     "" if receiver.joined else "; it joins at the next keyframe")

    def gvc_begin(self) -> None:
        """Called by GvcWriter before it writes the stream header, outside its signal-holding write: a
        lazy server waits for its first receiver here, so one Ctrl-C or SIGTERM ends the wait."""
        if self._lazy:
            self.wait_for_receiver(self._stop)

    def join_point(self) -> None:
        """Called by GvcWriter before a parameters packet: receivers waiting for one begin here, but for
        one moved on that still takes nothing (its connection's buffer still full): it waits for a later
        one without holding anybody, and is dropped after :data:`DROP_S` seconds of that."""
        self._accept()
        self._prune()
        cut = [r for r in self._receivers if not r.joined and r.cut]
        writable: list = []
        if cut:
            with contextlib.suppress(InterruptedError, ValueError, OSError):
                _, writable, _ = select.select([], [r.sock for r in cut], [], 0)
        now = time.monotonic()
        for r in list(self._receivers):
            if r.joined:
                continue
            if r.cut and r.sock not in writable:
                if now - r.progress >= DROP_S:
                    self._drop(r, f"took nothing for {DROP_S:g} s: dropped")
                continue
            r.joined = True
            r.progress = now
            if r.cut:  # what it missed is damage to its reader, even if it took whole packets only
                r.pending += LOSS_MARK
                r.cut = False

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._lazy:
            self.wait_for_receiver(self._stop)
        self._accept()
        self._prune()
        now = time.monotonic()
        for r in self._receivers:
            if r.joined:
                if not r.pending:
                    r.progress = now
                r.pending += data
        self._written += len(data)
        self._send()
        self._hold(lambda r: len(r.pending) > self.backlog)
        return len(data)

    def flush(self) -> None:
        self._send()

    def _send(self) -> None:
        for r in list(self._receivers):
            while r.pending:
                try:
                    sent = r.sock.send(r.pending, _SEND)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as err:  # reset, broken pipe: it left
                    self._drop(r, f"left ({err.strerror or err})")
                    break
                del r.pending[:sent]
                r.sent += sent
                r.progress = time.monotonic()

    def _drop(self, r: _Receiver, why: str) -> None:
        log.info("receiver %s %s", r.name, why)
        with contextlib.suppress(ValueError):
            self._receivers.remove(r)
        _end(r.sock)

    def _hold(self, behind: Callable[[_Receiver], bool]) -> None:
        """Wait while a receiver is ``behind``, sending as it takes; one that has taken nothing for
        ``stall`` seconds is moved on to the next keyframe."""
        while True:
            late = [r for r in self._receivers if r.pending and behind(r)]
            now = time.monotonic()
            for r in late:
                if now - r.progress >= self.stall:
                    log.warning("receiver %s took nothing for %g s: it skips to the next keyframe", r.name,
                                self.stall)
                    r.pending.clear()
                    r.joined = False
                    r.cut = r.sent > 0
            late = [r for r in late if r.joined]
            if not late:
                return
            with contextlib.suppress(InterruptedError):
                select.select([], [r.sock for r in late], [], min(_POLL_S, self.stall))
            self._send()

    def close(self) -> None:
        """Send what each receiver still waits for (moving on from one that takes nothing for
        ``stall`` seconds), then end every connection."""
        if self.closed:
            return
        try:
            self._send()
            self._hold(lambda r: True)
        finally:
            for r in self._receivers:
                _end(r.sock)
            self._receivers.clear()
            self._listener.close()
            super().close()


SEQ = struct.Struct("<HH")  # a UDP datagram's sender and sequence number, before its share of the stream
LOSS_MARK = b"\x04"  # a byte no packet header can begin with (type bits 0, not the escape): damage
_LATE = 64  # a datagram this many or fewer behind the next expected is late (dropped); more: a new start
_SETTLED = 4  # a UDP receiver follows its first sender once it has taken this many datagrams from it
_RESTART = 8  # another sender's datagrams in a row, none of the followed one's between: a new stream


class UdpSender(_Output):
    """``udp://HOST:PORT``: datagrams of at most ``pkt_size`` bytes, each a 16-bit sender number (random,
    one a sender) and a 16-bit sequence number (:data:`SEQ`, counting on from a random start), then the
    next bytes of the stream; a flush (after
    every packet) sends the rest, so no datagram holds the end of one packet and the start of the next.
    The numbers tell a receiver where datagrams were lost, which a whole packet lost at its bounds would
    not (the stream has no packet counter): see docs/FORMAT.md, "Sending a stream over UDP".

    ``?bitrate=N`` (bits a second, as ffmpeg's udp output) paces the datagrams: a keyframe's burst
    goes out at that rate instead of all at once, which a receiver's socket buffer or a switch may not
    hold; up to ``?burst_bits=`` bits (default one datagram) go out at once. The writes wait for the
    pace, so the rate must stay above the stream's own (a stream that needs more falls behind)."""

    def __init__(self, ep: Endpoint) -> None:
        super().__init__()
        self.endpoint = ep
        self.pkt_size = ep.option("pkt_size", PKT_SIZE, 64, MAX_PKT_SIZE)
        self.bitrate = ep.option("bitrate", 0, 1000, MAX_BITRATE, suffixes=True) if "bitrate" in ep.options else 0
        if "burst_bits" in ep.options and not self.bitrate:
            raise UsageError(f"{ep.url}: burst_bits is for a paced output: give ?bitrate= too")
        self.burst_bits = ep.option("burst_bits", 8 * self.pkt_size, 8, MAX_BITRATE, suffixes=True)
        self._credit = float(self.burst_bits)  # bits that may go out now (a token bucket)
        self._credit_at = time.monotonic()
        self.waited = 0.0  # seconds the pacing held the writes
        self._unpaced = False  # closing: the rest goes at once
        self._payload = self.pkt_size - SEQ.size
        self._sender = int.from_bytes(os.urandom(2), "little")
        self._seq = int.from_bytes(os.urandom(2), "little")
        infos = _addresses(ep, passive=False)
        family, kind, proto, _, addr = min(infos, key=lambda i: i[0] != socket.AF_INET)
        self._sock = socket.socket(family, kind, proto)
        self._addr = addr
        if ep.option("broadcast", 0, 0, 1):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if _multicast(ep.host):
            ttl = ep.option("ttl", 1, 1, 255)
            if family == socket.AF_INET:
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
            else:
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
        elif "ttl" in ep.options:
            raise UsageError(f"{ep.url}: ttl is for multicast groups (224.0.0.0 to 239.255.255.255)")
        self._buffer = bytearray()
        self.datagrams = 0
        log.info("sending to %s in datagrams of at most %d bytes", ep.url, self.pkt_size)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        while len(self._buffer) >= self._payload:
            self._datagram(self._payload)
        return len(data)

    def flush(self) -> None:
        while self._buffer:  # (more than a datagram's payload only after a write interrupted mid-way)
            self._datagram(min(len(self._buffer), self._payload))

    def _pace(self, bits: int) -> None:
        """Wait until ``bits`` more may go out at ``bitrate`` (none without one, or once closing)."""
        if not self.bitrate or self._unpaced:
            return
        cap = max(self.burst_bits, bits)  # a datagram larger than the burst still goes, at the pace
        now = time.monotonic()
        self._credit = min(cap, self._credit + (now - self._credit_at) * self.bitrate)
        self._credit_at = now
        if self._credit < bits:
            time.sleep((bits - self._credit) / self.bitrate)
            later = time.monotonic()
            self.waited += later - now
            self._credit = min(cap, self._credit + (later - now) * self.bitrate)
            self._credit_at = later
        self._credit -= bits

    def _datagram(self, size: int) -> None:
        self._pace(8 * (size + SEQ.size))
        try:
            self._sock.sendto(SEQ.pack(self._sender, self._seq) + self._buffer[:size], self._addr)
        except OSError as err:
            if err.errno == errno.EACCES:
                raise NetworkError(f"{self.endpoint.url}: sending to a broadcast address needs "
                                   "?broadcast=1") from None
            if err.errno not in (errno.ECONNREFUSED, errno.ENOBUFS):  # no receiver yet; a full queue: lost
                raise NetworkError(f"cannot send to {self.endpoint.url}: {err.strerror or err}") from None
        self.datagrams += 1
        self._seq = (self._seq + 1) & 0xFFFF
        del self._buffer[:size]

    def close(self) -> None:
        if self.closed:
            return
        try:
            # the rest (less than a datagram, but after a write interrupted mid-way), unpaced: a close while
            # interrupted (Ctrl-C) must not wait
            # out the pace (a datagram at ?bitrate=1000 is 12 s)
            self._unpaced = True
            self.flush()
        finally:
            self._buffer.clear()  # what the flush could not send: io's close() flushes once more, into the
            self._sock.close()  # closed socket (its "Bad file descriptor" had replaced the flush's error)
            super().close()  # closed even when the flush failed: a second close (the finalizer's) does nothing


def open_output(url: str, *, stop: threading.Event | None = None) -> _Output:
    """The output a ``tcp://`` or ``udp://`` URL names, opened (a listening one waits for its first
    receiver at its first write; ``stop``, when set, ends that wait with
    :class:`~vidcodec.errors.Stopped`); close it to end the stream (receivers then see its end)."""
    ep = parse(url, "out")
    if ep.scheme == "udp":
        return UdpSender(ep)
    return TcpServer(ep, stop=stop, lazy=True) if ep.listen else TcpSender(ep)


# ----------------------------------------------------------------------------------------------- inputs


class _Input(io.RawIOBase):
    """A network input as a readable, non-seekable raw stream; see the module's description for its end."""

    def __init__(self, ep: Endpoint, timeout: float) -> None:
        super().__init__()
        if not 0 <= timeout < float("inf"):
            raise UsageError(f"--timeout must be a number of seconds, 0 (wait for ever) or more (got {timeout})")
        self.endpoint = ep
        self.timeout = timeout
        self.received = 0  # bytes
        self.ended_by: str | None = None  # "closed", "footer", "timeout", "new sender", "stopped"
        self._abort = threading.Event()

    def abort(self) -> None:
        """End the input as seen by a read waiting for data in another thread (which then returns
        at once, the end of the stream), so that closing it need not wait for the sender: a
        decode's parsing thread holds the buffered reader's lock while it waits."""
        self._abort.set()

    def resume(self) -> None:
        """Undo :meth:`abort` once the read it ended is over: the input is the caller's, who may read on
        (another ``frames()`` of it joins at its next parameters packet)."""
        self._abort.clear()
        if self.ended_by == "stopped":
            self.ended_by = None

    @property
    def name(self) -> str:
        """The URL, for messages."""
        return self.endpoint.url

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def _wait_ended(self) -> None:
        """A wait for data came back empty: stopped by :meth:`abort`, or nothing came for the timeout."""
        if self._abort.is_set():
            self.ended_by = self.ended_by or "stopped"
            return
        self.ended_by = "timeout"
        log.warning("%s: nothing received for %g s: taken as the stream's end (--timeout)", self.endpoint.url,
                    self.timeout)


class TcpInput(_Input):
    """``tcp://HOST:PORT`` (connect to a serving sender) or ``tcp://HOST:PORT?listen`` (wait for one)."""

    def __init__(self, ep: Endpoint, timeout: float) -> None:
        super().__init__(ep, timeout)
        if ep.listen:
            listener = _bound(ep, socket.SOCK_STREAM)
            try:
                listener.listen(1)
                self.port = listener.getsockname()[1]
                log.info("waiting for a sender at %s (`vidcodec encode IN tcp://THIS-HOST:%d` there)",
                         _where(listener, ep), self.port)
                while True:
                    _wait_readable(listener, None)
                    sock, addr = listener.accept()
                    # a probe (a health check) connects and closes without a byte: wait for a sender
                    readable, _, _ = select.select([sock], [], [], PROBE_S)
                    try:
                        closed = bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
                    except OSError:
                        closed = True
                    if not closed:
                        break
                    log.info("%s connected and closed without sending: still waiting for a sender",
                             addr[0].removeprefix("::ffff:"))
                    sock.close()
                log.info("sender %s connected", addr[0].removeprefix("::ffff:"))
            finally:
                listener.close()
        else:
            sock = _connect(ep, f"nothing serves at {ep.url}: start the sender first (`vidcodec encode IN "
                                f"tcp://@:{ep.port}?listen` there), or wait for it here with {ep.url}?listen")
        sock.setblocking(False)
        self._sock = sock

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.ended_by is not None:
            return 0
        while True:
            try:
                n = self._sock.recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                if not _wait_readable(self._sock, (self.timeout or None) if self.received else None, self._abort):
                    self._wait_ended()
                    return 0
                continue
            except (ConnectionResetError, ConnectionAbortedError):
                log.warning("%s: the sender reset the connection", self.endpoint.url)
                n = 0
            if n == 0:
                self.ended_by = self.ended_by or "closed"
                return 0
            self.received += n
            return n

    def close(self) -> None:
        if not self.closed:
            self._sock.close()
        super().close()


def ends_stream(data: bytes | bytearray | memoryview) -> bool:
    """Whether ``data`` ends with a .gvc footer that passes its CRC (a closed stream's last bytes)."""
    if len(data) < FOOTER_SIZE:
        return False
    tail = bytes(data[-FOOTER_SIZE:])
    if tail[-len(FOOTER_MAGIC):] != FOOTER_MAGIC:
        return False
    return zlib.crc32(tail[: _FOOTER.size]) == struct.unpack_from("<I", tail, _FOOTER.size)[0]


class UdpInput(_Input):
    """``udp://@:PORT``, ``udp://@GROUP:PORT`` (multicast) or ``udp://ADDR:PORT``: the datagrams of a
    :class:`UdpSender`, in the order they come. Where their sequence numbers say some were lost, a
    :data:`LOSS_MARK` byte stands in for them: damage the reader sees even where the datagrams lost
    held whole packets, and the decoder conceals up to the next keyframe. A datagram that comes after
    a later one is dropped (late, or a duplicate); one far behind begins anew, after a loss mark; one
    from another sender (its number differs: an encoder started again) ends the input.

    A thread takes the datagrams off the socket as they come into a queue of up to ``fifo`` bytes (as
    ffmpeg's udp input has its circular buffer): a keyframe's burst, or a decoder that falls behind for
    a while, no longer overflows the system's socket buffer; datagrams that would overflow the queue
    are dropped (``overruns``; damage, as any loss)."""

    def __init__(self, ep: Endpoint, timeout: float, fifo: int = FIFO_BYTES) -> None:
        super().__init__(ep, timeout)
        sock = _bound(ep, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        if _multicast(ep.host):
            group = ipaddress.ip_address(ep.host)
            try:
                if group.version == 4:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                                    group.packed + socket.inet_aton("0.0.0.0"))
                else:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group.packed + struct.pack("@I", 0))
            except OSError as err:
                sock.close()
                raise NetworkError(f"{ep.url}: cannot join the multicast group: {err.strerror or err}") from None
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._datagram = b""
        self._at = 0
        self._last = False  # the datagram held ends the stream (its footer)
        self._tail = b""  # the last FOOTER_SIZE bytes received
        self._expect: int | None = None  # the next sequence number
        self._source: tuple | None = None  # (address, sender number) of the sender followed
        self._taken = 0  # datagrams taken from it
        self._rival: tuple | None = None  # (another sender, its datagrams in a row)
        self.foreign = 0  # datagrams dropped as another sender's
        self.lost = 0  # datagrams missing where the numbers skipped
        self.late = 0  # datagrams dropped as late or repeated
        self.overruns = 0  # datagrams dropped because the queue was full
        self.fifo = fifo
        self._queue: collections.deque[bytes] = collections.deque()
        self._queued = 0  # bytes in the queue
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="vidcodec-udp", daemon=True)
        self._thread.start()
        log.info("receiving at %s", _where(sock, ep))

    def _drain(self) -> None:
        """The receiving thread: datagrams off the socket into the queue, until close()."""
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(MAX_PKT_SIZE + 1)
            except (BlockingIOError, InterruptedError):
                with contextlib.suppress(OSError, ValueError):
                    select.select([self._sock], [], [], 0.05)  # short: close() waits for this thread
                continue
            except OSError as err:  # ECONNREFUSED from an earlier send's ICMP on some systems; closed
                if self._stop.is_set():
                    return
                log.debug("recv: %s", err)
                continue
            if len(data) <= SEQ.size:
                continue
            with self._ready:
                if self._queued + len(data) > self.fifo:
                    self.overruns += 1
                    continue
                self._queue.append((addr[:2], data))
                self._queued += len(data)
                self._ready.notify()

    def _next(self) -> tuple[tuple, bytes] | None:
        """The next datagram from the queue; None once nothing came for the timeout (after a first one)."""
        wait = (self.timeout or None) if self.received else None
        deadline = None if wait is None else time.monotonic() + wait
        with self._ready:
            while not self._queue:
                if self._abort.is_set():
                    return None
                left = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
                if left <= 0:
                    return None
                self._ready.wait(left)
            addr, data = self._queue.popleft()
            self._queued -= len(data)
            return addr, data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._at == len(self._datagram):
            if self._last or self.ended_by is not None:
                self.ended_by = self.ended_by or "footer"
                return 0
            while True:
                got = self._next()
                if got is None:
                    self._wait_ended()
                    return 0
                data = self._in_order(*got)
                if self.ended_by is not None:
                    return 0
                if data:
                    break
            self._datagram, self._at = data, 0
            self.received += len(data)
            # the footer may begin in the datagram before (the index and footer are cut at pkt_size too)
            self._tail = (self._tail + data)[-FOOTER_SIZE:]
            self._last = ends_stream(self._tail)
        n = min(len(buffer), len(self._datagram) - self._at)
        buffer[:n] = self._datagram[self._at:self._at + n]
        self._at += n
        return n

    def _in_order(self, addr: tuple, datagram: bytes) -> bytes:
        """A datagram's share of the stream, after a loss mark where datagrams are missing before it;
        empty for one that is late or from another sender (its address or sender number differs). The
        first sender is followed; another one replaces it while the first has given fewer than
        :data:`_SETTLED` datagrams (a stray datagram, or the tail of a sender that stopped), and ends
        the input once it has sent :data:`_RESTART` in a row with none of the first's between (an
        encoder started again: a new stream, whose timeline from 0 a decoder would read as the first
        one's frames out of order); a few stray ones are dropped."""
        sender, seq = SEQ.unpack_from(datagram)
        data = datagram[SEQ.size:]
        source = (addr, sender)
        if self._source is not None and source != self._source:
            if self._taken < _SETTLED:
                log.info("%s: following the datagrams of %s:%d instead of the few from %s:%d", self.endpoint.url,
                         *addr, *self._source[0])
                self._source, self._expect, self._taken = source, None, 0
                data = LOSS_MARK + data if self.received else data
            else:
                self._rival = (source, self._rival[1] + 1 if self._rival and self._rival[0] == source else 1)
                if self._rival[1] >= _RESTART:
                    log.warning("%s: datagrams from another sender (an encoder started again?): the stream "
                                "received ends here; receive again for the new one", self.endpoint.url)
                    self.ended_by = "new sender"
                else:
                    self.foreign += 1
                    if self.foreign == 1:
                        log.warning("%s: datagrams from %s:%d, not the sender followed: dropped",
                                    self.endpoint.url, *addr)
                return b""
        self._source = source
        self._rival = None
        self._taken += 1
        if self._expect is None or seq == self._expect:
            self._expect = (seq + 1) & 0xFFFF
            return data
        ahead = (seq - self._expect) & 0xFFFF
        behind = (self._expect - seq) & 0xFFFF
        if behind <= _LATE:
            self.late += 1
            log.debug("%s: datagram %d came late (expected %d): dropped", self.endpoint.url, seq, self._expect)
            return b""
        if ahead < 0x8000:
            self.lost += ahead
            log.info("%s: %d datagram(s) lost", self.endpoint.url, ahead)
        else:
            log.info("%s: the datagrams' numbers went back by %d: taken as a new start", self.endpoint.url, behind)
        self._expect = (seq + 1) & 0xFFFF
        return LOSS_MARK + data

    def close(self) -> None:
        if not self.closed:
            self._stop.set()
            self._thread.join()
            self._sock.close()
            if self.overruns:
                log.warning("%s: %d datagram(s) dropped: the decoder fell more than %d MiB behind the sender",
                            self.endpoint.url, self.overruns, self.fifo >> 20)
        super().close()


DEFAULT_TIMEOUT_S = 15.0


def open_input(url: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> io.BufferedReader:
    """A ``tcp://`` or ``udp://`` input as a buffered binary stream (read it with any vidcodec reader:
    ``vidcodec.frames(open_input(url))``); ``timeout``: seconds without data, once data came, that end
    it (0: never). A listening input waits here for its sender. Close it (``with open_input(url) as f:``)."""
    ep = parse(url, "in")
    raw = UdpInput(ep, timeout) if ep.scheme == "udp" else TcpInput(ep, timeout)
    return _Reader(raw, buffer_size=1 << 16)


class _Reader(io.BufferedReader):
    """open_input's stream: closing it first ends a read waiting in another thread (:meth:`_Input.abort`),
    which holds the reader's lock, so that a Ctrl-C or a ``with`` left early need not wait for the sender."""

    def close(self) -> None:
        if isinstance(self.raw, _Input):
            self.raw.abort()
        super().close()

