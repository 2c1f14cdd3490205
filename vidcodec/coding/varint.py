"""Unsigned LEB128 integers (format 7.0: lengths in payloads and packet headers): 7 bits a byte, low
bits first, the top bit set on every byte but the last; signed values (packet timestamps) zigzag-mapped
first (0, −1, 1, −2, … → 0, 1, 2, 3, …).

Writers write the shortest form; readers refuse longer forms (a last byte of zero after the first),
values past the field's maximum and codes cut short, so every value has exactly one encoding.
"""

from __future__ import annotations

from ..errors import CoderError

MAX_VALUE = (1 << 32) - 1  # lengths
MAX_U64 = (1 << 64) - 1  # zigzag-mapped i64 timestamps


class CutShort(CoderError):
    """The data ended inside a varint (a truncated record, not necessarily a damaged one)."""


def max_bytes(limit: int) -> int:
    """The longest code of a value ``≤ limit``."""
    return max(1, -(-limit.bit_length() // 7))


def encode(value: int, limit: int = MAX_VALUE) -> bytes:
    """The shortest LEB128 code of ``0 ≤ value ≤ limit``."""
    if not 0 <= value <= limit:
        raise ValueError(f"varint value {value} outside 0 … {limit}")
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def decode(data: bytes | memoryview, pos: int = 0, what: str = "length", limit: int = MAX_VALUE) -> tuple[int, int]:
    """The value whose code starts at ``data[pos]`` and the position after it; ``what`` names the field
    in the :class:`CoderError` that a damaged code raises (message ``... cut short`` when the data ends
    inside the code)."""
    value = 0
    for i in range(max_bytes(limit)):
        if pos + i >= len(data):
            raise CutShort(f"{what} cut short: the packet payload is truncated or damaged")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if (i and not byte) or value > limit:
                raise CoderError(f"{what} is not a valid varint: the packet is damaged")
            return value, pos + i + 1
    raise CoderError(f"{what} is longer than {max_bytes(limit)} bytes: the packet is damaged")


def zigzag(value: int) -> int:
    """Signed → unsigned: 0, −1, 1, −2 … → 0, 1, 2, 3 …"""
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value: int) -> int:
    """The inverse of :func:`zigzag`."""
    return value >> 1 if not value & 1 else -((value + 1) >> 1)
