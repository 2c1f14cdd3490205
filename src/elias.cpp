// Elias-gamma / Elias-delta coder; see elias.hpp for the value mapping and code layout.
#include "elias.hpp"

#include <bit>
#include <limits>

namespace vidcodec {
namespace {

constexpr uint64_t kAllOnes = std::numeric_limits<uint64_t>::max();

// Largest floor(log2(n)) of any codable n = 2^64, and the largest gamma-coded
// length field L = N + 1 that a delta code may carry.
constexpr unsigned kMaxLog2 = 64;
constexpr unsigned kMaxDeltaLength = kMaxLog2 + 1;
// floor(log2(kMaxDeltaLength)): the longest zero prefix of a valid delta code.
constexpr unsigned kMaxDeltaPrefix = std::bit_width(kMaxDeltaLength) - 1;

uint64_t zigzag(int64_t v) {
    const uint64_t sign_mask = v < 0 ? kAllOnes : 0;
    return (static_cast<uint64_t>(v) << 1) ^ sign_mask;
}

int64_t unzigzag(uint64_t z) {
    // Conversion of an out-of-range uint64 to int64 is modular since C++20.
    return static_cast<int64_t>((z >> 1) ^ (0 - (z & 1)));
}

// floor(log2(n)) for n = z + 1, which may be 2^64.
unsigned log2_of_successor(uint64_t z) {
    return z == kAllOnes ? kMaxLog2 : static_cast<unsigned>(std::bit_width(z + 1)) - 1;
}

// The N bits of n = z + 1 below its leading one, with N = floor(log2(n)).
// For n = 2^64 the sum wraps to 0, which is exactly its low 64 bits.
uint64_t mantissa(uint64_t z, unsigned log2_n) {
    return log2_n == 0 ? 0 : (z + 1) & (kAllOnes >> (64 - log2_n));
}

// Inverse of the two functions above: z = n - 1 from N and the mantissa.
uint64_t predecessor(unsigned log2_n, uint64_t mantissa_bits) {
    // n = 2^64 (only a zero mantissa is valid there, which the caller checks).
    if (log2_n == kMaxLog2) return kAllOnes;
    return ((uint64_t{1} << log2_n) | mantissa_bits) - 1;
}

size_t code_length(uint64_t z, EliasKind kind) {
    const unsigned log2_n = log2_of_successor(z);
    if (kind == EliasKind::Gamma) return 2 * size_t{log2_n} + 1;
    const unsigned length_log2 = static_cast<unsigned>(std::bit_width(log2_n + 1)) - 1;
    return size_t{log2_n} + 2 * size_t{length_log2} + 1;
}

void store_be64(uint8_t *out, uint64_t word) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(word >> (56 - 8 * i));
}

uint64_t load_be64(const uint8_t *in) {
    uint64_t word = 0;
    for (int i = 0; i < 8; ++i) word = (word << 8) | in[i];
    return word;
}

// MSB-first bit writer into a buffer sized exactly for the bits to come:
// full 64-bit words are stored as soon as they fill up, the tail by finish().
class BitWriter {
public:
    explicit BitWriter(uint8_t *out) : out_(out) {}

    // Appends the low `n` bits of `value`, n <= 64; the other bits must be zero.
    void put(uint64_t value, unsigned n) {
        if (n == 0) return;
        if (n < free_) {
            free_ -= n;
            acc_ |= value << free_;
            return;
        }
        const unsigned spill = n - free_;  // bits that go to the next word, 0..63
        acc_ |= value >> spill;
        store_be64(out_, acc_);
        out_ += 8;
        free_ = 64 - spill;
        acc_ = spill == 0 ? 0 : value << free_;
    }

    // Stores the pending bits, zero-padded to a whole byte.
    void finish() {
        const unsigned bytes = (64 - free_ + 7) / 8;
        for (unsigned i = 0; i < bytes; ++i) out_[i] = static_cast<uint8_t>(acc_ >> (56 - 8 * i));
    }

private:
    uint8_t *out_;
    uint64_t acc_ = 0;    // pending bits, left-aligned
    unsigned free_ = 64;  // unused low bits of acc_, 1..64
};

// MSB-first bit reader that never touches memory outside [data, data + size).
class BitReader {
public:
    BitReader(const uint8_t *data, size_t size) : data_(data), size_(size) {}

    // Consumes a run of zero bits and the one bit ending it; returns the run length.
    unsigned read_unary(unsigned max_zeros) {
        unsigned zeros = 0;
        for (;;) {
            refill();
            if (avail_ == 0) throw EliasDecodeError("truncated input (it ends inside a code prefix)");
            if (acc_ != 0) {
                // The first one bit lies within the buffered bits, since the bits below them are zero.
                const unsigned run = static_cast<unsigned>(std::countl_zero(acc_));
                zeros += run;
                if (zeros > max_zeros) throw prefix_too_long(max_zeros);
                consume(run + 1);
                return zeros;
            }
            zeros += avail_;  // every buffered bit is zero
            avail_ = 0;
            if (zeros > max_zeros) throw prefix_too_long(max_zeros);
        }
    }

    // Reads an n-bit unsigned number, n <= 64.
    uint64_t read(unsigned n) {
        if (n <= kMaxChunk) return read_chunk(n);
        const uint64_t high = read_chunk(n - 32);
        return (high << 32) | read_chunk(32);
    }

    // True when all that is left is the zero padding of the last byte.
    bool at_end() const { return pos_ == size_ && avail_ < 8 && acc_ == 0; }

private:
    // refill() guarantees at least this many buffered bits unless the input ends.
    static constexpr unsigned kMaxChunk = 56;

    uint64_t read_chunk(unsigned n) {
        if (n == 0) return 0;
        refill();
        if (avail_ < n) throw EliasDecodeError("truncated input (it ends inside a code)");
        const uint64_t value = acc_ >> (64 - n);
        consume(n);
        return value;
    }

    void consume(unsigned n) {  // n <= avail_ <= 63
        acc_ <<= n;
        avail_ -= n;
    }

    // Tops acc_ up with whole bytes to 56..63 buffered bits, or to all that is left.
    void refill() {
        if (size_ - pos_ >= 8) {
            const unsigned bits = ((63 - avail_) / 8) * 8;
            if (bits == 0) return;
            acc_ |= (load_be64(data_ + pos_) >> (64 - bits)) << (64 - avail_ - bits);
            pos_ += bits / 8;
            avail_ += bits;
            return;
        }
        while (avail_ <= 55 && pos_ < size_) {
            acc_ |= uint64_t{data_[pos_++]} << (56 - avail_);
            avail_ += 8;
        }
    }

    static EliasDecodeError prefix_too_long(unsigned max_zeros) {
        return EliasDecodeError("invalid code: a prefix of more than " + std::to_string(max_zeros) +
                                " zero bits");
    }

    const uint8_t *data_;
    size_t size_;
    size_t pos_ = 0;      // next byte to load
    uint64_t acc_ = 0;    // buffered bits, left-aligned; the bits below them are zero
    unsigned avail_ = 0;  // number of buffered bits, 0..63
};

// Reads one code and returns z = n - 1.
uint64_t decode_one(BitReader &reader, EliasKind kind) {
    unsigned log2_n;
    if (kind == EliasKind::Gamma) {
        log2_n = reader.read_unary(kMaxLog2);
    } else {
        const unsigned length_log2 = reader.read_unary(kMaxDeltaPrefix);
        const uint64_t length = (uint64_t{1} << length_log2) | reader.read(length_log2);
        if (length > kMaxDeltaLength) {
            throw EliasDecodeError("invalid delta code: its length field says " + std::to_string(length) +
                                   " bits, more than 65");
        }
        log2_n = static_cast<unsigned>(length) - 1;
    }
    const uint64_t mantissa_bits = reader.read(log2_n);
    if (log2_n == kMaxLog2 && mantissa_bits != 0) throw EliasDecodeError("invalid code: value exceeds 2^64");
    return predecessor(log2_n, mantissa_bits);
}

}  // namespace

std::vector<uint8_t> elias_encode(const int64_t *values, size_t count, EliasKind kind) {
    size_t total_bits = 0;
    for (size_t i = 0; i < count; ++i) total_bits += code_length(zigzag(values[i]), kind);

    std::vector<uint8_t> out((total_bits + 7) / 8);
    BitWriter writer(out.data());
    for (size_t i = 0; i < count; ++i) {
        const uint64_t z = zigzag(values[i]);
        const unsigned log2_n = log2_of_successor(z);
        if (kind == EliasKind::Gamma) {
            writer.put(0, log2_n);  // N zeros, then n itself: its leading one, then N bits
            writer.put(1, 1);
        } else {
            const unsigned length = log2_n + 1;  // L = N + 1 as gamma(L), then the N bits
            const unsigned length_log2 = static_cast<unsigned>(std::bit_width(length)) - 1;
            writer.put(0, length_log2);
            writer.put(length, length_log2 + 1);
        }
        writer.put(mantissa(z, log2_n), log2_n);
    }
    writer.finish();
    return out;
}

std::vector<int64_t> elias_decode(const uint8_t *data, size_t size, size_t count, EliasKind kind) {
    // Every code takes at least one bit; refuse impossible counts before allocating.
    if (count > 0 && (count - 1) / 8 >= size) {
        throw EliasDecodeError("count " + std::to_string(count) + " exceeds what " + std::to_string(size) +
                               " bytes can hold (at most 8 values per byte)");
    }
    std::vector<int64_t> values(count);
    BitReader reader(data, size);
    for (size_t i = 0; i < count; ++i) {
        try {
            values[i] = unzigzag(decode_one(reader, kind));
        } catch (const EliasDecodeError &e) {
            throw EliasDecodeError("value " + std::to_string(i) + " of " + std::to_string(count) + ": " +
                                   e.what());
        }
    }
    if (!reader.at_end()) throw EliasDecodeError("trailing data after the last of " + std::to_string(count) +
                                                 " values");
    return values;
}

}  // namespace vidcodec
