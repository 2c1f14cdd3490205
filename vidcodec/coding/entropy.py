"""Entropy coding of integer symbols with fixed integer tables: ANS (constriction) or Elias.

Payload section written by :class:`SymbolWriter` (all integers little-endian)::

    ans:   u32 n_words | n_words × u32 ANS words | u32 n_escapes | Elias-gamma(escaped values)
    elias: u32 n_values | u32 n_bytes | Elias-gamma(all values)

With ``compact=True`` (format 7.0 ANS sections) the words are stored as bytes without the zero
bytes that end the last (most significant) word, and their count and ``n_escapes`` are LEB128
varints (:mod:`.varint`)::

    ans (7.0): varint n_bytes | the words' bytes, trailing zeros dropped | varint n_escapes | Elias-gamma(...)

A frame's section thus spends 2 or 3 bytes on its lengths instead of 8, and 1.6 bytes fewer on its
last word on average (bikes, levels 1-5).

With ``lean=True`` (format 12.0 mode 0 sections, always last in their payload) the section is the
words' bytes alone, to the end of the payload (no count), and the escaped values travel in the ANS
stream, popped before every other symbol: a flag (no escapes: probability 65535/65536, a
hundred-thousandth of a bit), then if set their count and values, each number as its bit length
(uniform over 0..26) and the bits below its leading one (uniform, 16 at a time)::

    ans (12.0): the words' bytes, trailing zeros dropped

Symbols outside a table's range are coded as the table's escape symbol and their values
follow, in coding order, in the escape section (Elias-gamma of the signed value): nothing is
clipped. The ANS coder is a stack, so the writer encodes in reverse and the reader pops in
the order the writer was fed.

With ``coder="elias"`` the same calls write/read every symbol with Elias-gamma instead (the
seed's method); the tables are then not used.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import constriction
import numpy as np

from ..errors import CoderError, UsageError
from . import elias, varint
from .tables import TOTAL, IntTables

CODERS = ("ans", "elias")
_ESCAPE_FLAG = np.array([TOTAL - 1, 1], np.int32)  # 12.0: "this section has escapes" is rare
_NUMBER_LENGTHS = 27  # 12.0 escape numbers have at most 26 bits (counts, zigzag values up to 2**25)
_CHUNK = 16
_MAX_WORDS = 1 << 26  # 256 MiB of ANS words: beyond any sane frame
MAX_ESCAPE = 1 << 24  # |escaped value| cap (docs/FORMAT.md); real latents stay in the hundreds


def _beyond_cap(values: np.ndarray) -> bool:
    return bool(values.size) and bool(((values > MAX_ESCAPE) | (values < -MAX_ESCAPE)).any())


@lru_cache(maxsize=4096)
def _categorical(freqs: bytes) -> constriction.stream.model.Categorical:
    # The probabilities are integers / 2**16, exact in float64; constriction's (non-perfect)
    # quantization of them is deterministic integer-exact Rust code, identical on every machine.
    p = np.frombuffer(freqs, dtype=np.int32).astype(np.float64) / TOTAL
    return constriction.stream.model.Categorical(p, perfect=False)


def _model(tables: IntTables, row: int) -> constriction.stream.model.Categorical:
    return _categorical(tables.freqs[row, : tables.sizes[row]].tobytes())


def _freqs_model(freqs: np.ndarray) -> constriction.stream.model.Categorical:
    return _categorical(np.asarray(freqs, np.int32).tobytes())


def _check_coder(coder: str) -> None:
    if coder not in CODERS:
        raise UsageError(f"unknown coder {coder!r}: choose one of {', '.join(CODERS)}")


class SymbolWriter:
    """Collects symbol arrays with their tables and produces one payload section."""

    def __init__(self, coder: str = "ans", compact: bool = False, lean: bool = False) -> None:
        _check_coder(coder)
        self.coder = coder
        self.compact = compact
        self.lean = lean
        self._ops: list[tuple[np.ndarray, object]] = []
        self._plain: list[np.ndarray] = []
        self._escapes: list[np.ndarray] = []

    def put(self, tables: IntTables, row: int, symbols: np.ndarray) -> None:
        """Queue ``symbols`` (any integer array, flattened) coded with table ``row``."""
        values = np.asarray(symbols, dtype=np.int64).ravel()
        if self.coder == "elias":
            self._plain.append(values)
            return
        idx = values - int(tables.offsets[row])
        esc = int(tables.sizes[row]) - 1
        outside = (idx < 0) | (idx >= esc)
        if outside.any():
            if _beyond_cap(values[outside]):
                raise ValueError(f"symbols beyond ±{MAX_ESCAPE} cannot be coded: clamp them first")
            self._escapes.append(values[outside])
            idx = np.where(outside, esc, idx)
        self._ops.append((idx.astype(np.int32), _model(tables, row)))

    def put_uniform(self, size: int, symbols: np.ndarray) -> None:
        """Queue symbols in [0, size) with a uniform distribution (side information)."""
        self._put_side(symbols, size, lambda: constriction.stream.model.Uniform(size), "uniform symbols out of range")

    def put_freqs(self, freqs: np.ndarray, symbols: np.ndarray) -> None:
        """Queue symbols in [0, len(freqs)) coded with the integer frequencies ``freqs`` (summing to
        2**16, none zero; no escape). With the Elias coder they are written as plain values."""
        self._put_side(symbols, len(freqs), lambda: _freqs_model(freqs), "symbols outside their frequency table")

    def _put_side(self, symbols: np.ndarray, size: int, model, error: str) -> None:
        """Queue side information in [0, size) (ValueError ``error`` otherwise) with ``model()``."""
        values = np.asarray(symbols, dtype=np.int64).ravel()
        if values.size and (values.min() < 0 or values.max() >= size):
            raise ValueError(error)
        if self.coder == "elias":
            self._plain.append(values)
        else:
            self._ops.append((values.astype(np.int32), model()))

    def finish(self) -> bytes:
        """The coded section; the writer must not be used afterwards."""
        if self.coder == "elias":
            values = np.concatenate(self._plain) if self._plain else np.zeros(0, np.int64)
            data = elias.encode(values, "gamma")
            return struct.pack("<II", values.size, len(data)) + data
        ans = constriction.stream.stack.AnsCoder()
        for idx, model in reversed(self._ops):
            ans.encode_reverse(idx, model)
        escapes = np.concatenate(self._escapes) if self._escapes else np.zeros(0, np.int64)
        if self.lean:  # popped first: the flag, then the count and the values in order
            for value in escapes[::-1]:
                _push_number(ans, varint.zigzag(int(value)))
            if escapes.size:
                _push_number(ans, int(escapes.size))
            ans.encode_reverse(np.array([int(escapes.size > 0)], np.int32), _freqs_model(_ESCAPE_FLAG))
        words = ans.get_compressed().astype("<u4")
        if self.compact or self.lean:
            # constriction never ends a stream with a zero word (its head is nonzero), so at most three
            # zero bytes go, and the reader restores the words by padding to a multiple of four.
            data = words.tobytes().rstrip(b"\0")
            if len(data) < 4 * len(words) - 3:
                raise ValueError("the ANS coder ended its words with a zero word")
            if self.lean:
                return data
        esc_data = elias.encode(escapes, "gamma") if escapes.size else b""
        if self.compact:
            return b"".join([varint.encode(len(data)), data, varint.encode(escapes.size), esc_data])
        return b"".join(
            [struct.pack("<I", len(words)), words.tobytes(), struct.pack("<I", escapes.size), esc_data]
        )


class SymbolReader:
    """Reads back what :class:`SymbolWriter` wrote, call for call."""

    def __init__(self, data: bytes | memoryview, coder: str = "ans", compact: bool = False,
                 lean: bool = False, most_symbols: int | None = None) -> None:
        """``most_symbols``: the most symbols the section can hold (bounds a 12.0 section's escape count,
        else twice its size in bytes does)."""
        _check_coder(coder)
        self.coder = coder
        data = memoryview(data)
        if lean and coder == "ans":
            self._open_lean_ans(data, most_symbols)
            return
        if compact and coder == "ans":
            self._open_compact_ans(data)
            return
        if len(data) < 4:
            raise CoderError("symbol section too short: the packet payload is truncated or damaged")
        n = struct.unpack_from("<I", data, 0)[0]
        if self.coder == "elias":
            if len(data) < 8:
                raise CoderError("Elias section too short: the packet payload is truncated or damaged")
            nbytes = struct.unpack_from("<I", data, 4)[0]
            if 8 + nbytes > len(data) or n > 8 * nbytes:
                raise CoderError("Elias section longer than the payload: the packet is damaged")
            self._plain = elias.decode(bytes(data[8 : 8 + nbytes]), n, "gamma")
            self._plain_pos = 0
            self.consumed = 8 + nbytes
            return
        self._open_ans(data, n, 4)

    def _open_lean_ans(self, data: memoryview, most_symbols: int | None) -> None:
        """Read a format 12.0 ANS section: the words' bytes to the end; the escapes are popped first."""
        if len(data) > 4 * _MAX_WORDS:
            raise CoderError("ANS section longer than the cap: the packet is damaged")
        self._start(self._ans_words(bytes(data)), np.zeros(0, np.int64), len(data))
        try:
            if self._ans.decode(_freqs_model(_ESCAPE_FLAG), 1)[0]:
                count = _pop_number(self._ans)
                # each escape takes more than half a byte (its length alone is log2(27) bits), and is
                # one of the section's symbols
                most = 2 * len(data) if most_symbols is None else min(2 * len(data), most_symbols)
                if not 1 <= count <= most:
                    raise CoderError(f"{count} escapes claimed by a {len(data)}-byte section: the packet is damaged")
                escapes = np.array([varint.unzigzag(_pop_number(self._ans)) for _ in range(count)], np.int64)
                if _beyond_cap(escapes):
                    raise CoderError(f"escaped value beyond ±{MAX_ESCAPE}: the packet is damaged")
                self._escapes = escapes
        except CoderError:
            raise
        except Exception as e:
            raise CoderError(f"ANS data ended early or is damaged: {e}") from e

    def _ans_words(self, raw: bytes) -> np.ndarray:
        """ANS words from their bytes without the trailing zeros (7.0 and 12.0 sections)."""
        if raw.endswith(b"\0"):
            raise CoderError("ANS bytes end in a zero byte (writers drop them): the packet is damaged")
        return np.frombuffer(raw + bytes(-len(raw) % 4), dtype="<u4").astype(np.uint32)

    def _open_compact_ans(self, data: memoryview) -> None:
        """Read a format 7.0 ANS section: byte count, word bytes without trailing zeros, escapes."""
        n, pos = varint.decode(data, 0, "ANS byte count")
        if n > 4 * _MAX_WORDS or pos + n + 1 > len(data):
            raise CoderError("ANS section longer than the payload: the packet is damaged")
        words = self._ans_words(bytes(data[pos : pos + n]))
        self._open_escapes(data, words, *varint.decode(data, pos + n, "escape count"))

    def _open_ans(self, data: memoryview, n: int, pos: int) -> None:
        """Read an ANS section (formats before 7.0) whose ``n`` words start at ``pos``."""
        if n > _MAX_WORDS or pos + 4 * n + 4 > len(data):
            raise CoderError("ANS section longer than the payload: the packet is damaged")
        words = np.frombuffer(data[pos : pos + 4 * n], dtype="<u4").astype(np.uint32)
        pos += 4 * n
        n_esc = struct.unpack_from("<I", data, pos)[0]
        self._open_escapes(data, words, n_esc, pos + 4)

    def _open_escapes(self, data: memoryview, words: np.ndarray, n_esc: int, pos: int) -> None:
        """Read the escape list (``n_esc`` values from ``pos``) and start the ANS decoder on ``words``."""
        if n_esc > 8 * (len(data) - pos):
            raise CoderError("escape count larger than its section can hold: the packet is damaged")
        rest = bytes(data[pos:])
        self._start(words, elias.decode(rest, n_esc, "gamma") if n_esc else np.zeros(0, np.int64), len(data))

    def _start(self, words: np.ndarray, escapes: np.ndarray, consumed: int) -> None:
        """Check the escaped values and start the ANS decoder on ``words``; ``consumed``: the section's
        size (an ANS section runs to the end of the data it is given)."""
        if _beyond_cap(escapes):
            raise CoderError(f"escaped value beyond ±{MAX_ESCAPE}: the packet is damaged")
        self._escapes = escapes
        self._esc_pos = 0
        self.consumed = consumed
        try:
            self._ans = constriction.stream.stack.AnsCoder(words)
        except Exception as e:  # constriction rejects malformed word streams (e.g. a zero head)
            raise CoderError(f"invalid ANS data: {e}") from e

    def get(self, tables: IntTables, row: int, count: int) -> np.ndarray:
        """Pop ``count`` symbols coded with table ``row``; returns int64 values."""
        if self.coder == "elias":
            return self._elias(count)
        try:
            idx = self._ans.decode(_model(tables, row), count).astype(np.int64)
        except Exception as e:
            raise CoderError(f"ANS data ended early or is damaged: {e}") from e
        values = idx + int(tables.offsets[row])
        esc = int(tables.sizes[row]) - 1
        where = np.flatnonzero(idx == esc)
        if where.size:
            end = self._esc_pos + where.size
            if end > self._escapes.size:
                raise CoderError("more escape symbols than escaped values: the packet is damaged")
            values[where] = self._escapes[self._esc_pos : end]
            self._esc_pos = end
        return values

    def get_uniform(self, size: int, count: int) -> np.ndarray:
        """Pop ``count`` uniformly coded symbols in [0, size)."""
        return self._get_side(size, count, lambda: constriction.stream.model.Uniform(size))

    def get_freqs(self, freqs: np.ndarray, count: int) -> np.ndarray:
        """Pop ``count`` symbols coded with :meth:`SymbolWriter.put_freqs` and the same ``freqs``."""
        return self._get_side(len(freqs), count, lambda: _freqs_model(freqs))

    def _get_side(self, size: int, count: int, model) -> np.ndarray:
        """Pop ``count`` side-information symbols in [0, size) coded with ``model()``."""
        if self.coder == "elias":
            values = self._elias(count)
            if values.size and (values.min() < 0 or values.max() >= size):
                raise CoderError("side information out of range: the packet is damaged")
            return values
        try:
            return self._ans.decode(model(), count).astype(np.int64)
        except Exception as e:
            raise CoderError(f"ANS data ended early or is damaged: {e}") from e

    def _elias(self, count: int) -> np.ndarray:
        end = self._plain_pos + count
        if end > self._plain.size:
            raise CoderError("Elias section holds fewer values than the frame needs: the packet is damaged")
        out = self._plain[self._plain_pos : end]
        self._plain_pos = end
        return out


@lru_cache(maxsize=64)
def _uniform(size: int) -> constriction.stream.model.Uniform:
    return constriction.stream.model.Uniform(size)


def _push_number(ans, n: int) -> None:
    """Push ``n`` (0 <= n < 2**26) so that :func:`_pop_number` pops it: its bit length, then the bits
    below its leading one, 16 at a time from the lowest (a stack: pushed in the reverse order)."""
    length = n.bit_length()
    if length >= _NUMBER_LENGTHS:
        raise ValueError(f"{n} is too large for an escape number (at most {_NUMBER_LENGTHS - 1} bits)")
    rest, bits = n - (1 << (length - 1)) if length else 0, max(length - 1, 0)
    chunks = [((rest >> k) & ((1 << _CHUNK) - 1), min(_CHUNK, bits - k)) for k in range(0, bits, _CHUNK)]
    for value, width in reversed(chunks):
        ans.encode_reverse(np.array([value], np.int32), _uniform(1 << width))
    ans.encode_reverse(np.array([length], np.int32), _uniform(_NUMBER_LENGTHS))


def _pop_number(ans) -> int:
    """The number :func:`_push_number` pushed."""
    length = int(ans.decode(_uniform(_NUMBER_LENGTHS), 1)[0])
    if not length:
        return 0
    bits, rest = length - 1, 0
    for k in range(0, bits, _CHUNK):
        width = min(_CHUNK, bits - k)
        rest |= int(ans.decode(_uniform(1 << width), 1)[0]) << k
    return (1 << bits) + rest
