// Elias-gamma / Elias-delta coding of signed 64-bit integers.
//
// Value mapping (zigzag, then +1 so that zero is codable):
//
//     z = (uint64)(v << 1) ^ (uint64)(v >> 63)      0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...
//     n = z + 1                                      0 -> 1, -1 -> 2, 1 -> 3, -2 -> 4, ...
//
// i.e. n = 2v + 1 for v >= 0 and n = -2v for v < 0. n ranges over [1, 2^64]:
// INT64_MAX -> 2^64 - 1 and INT64_MIN -> 2^64, which does not fit in 64 bits.
// The coders therefore carry z (= n - 1, always a uint64) and treat n as a
// 65-bit number whose top bit is set only for z = 2^64 - 1.
//
// With N = floor(log2 n) (0..64):
//   gamma(n) = N zero bits, then the N + 1 bits of n            (2N + 1 bits, at most 129)
//   delta(n) = gamma(N + 1), then the low N bits of n           (N + 2 floor(log2(N + 1)) + 1 bits,
//                                                                 at most 77)
// Bits are written most-significant first; the last byte is zero-padded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace vidcodec {

enum class EliasKind { Gamma, Delta };

// Thrown by elias_decode for any malformed input; the binding maps it to ValueError.
class EliasDecodeError : public std::runtime_error {
public:
    explicit EliasDecodeError(const std::string &what) : std::runtime_error(what) {}
};

// Encodes `count` values. Never fails: every int64 is codable.
std::vector<uint8_t> elias_encode(const int64_t *values, size_t count, EliasKind kind);

// Decodes exactly `count` values from `size` bytes. The input must be consumed
// entirely: what follows the last code may only be the zero padding of the last
// byte. Throws EliasDecodeError on garbage, truncation, trailing data, or a
// `count` the buffer cannot possibly hold (checked before allocating).
std::vector<int64_t> elias_decode(const uint8_t *data, size_t size, size_t count, EliasKind kind);

}  // namespace vidcodec
