// Encoder-side temporal prefilter (vidcodec/codec/prefilter.py specifies it in numpy; this is the same
// float32 arithmetic in one pass over memory, without the GIL, and gives the same bytes).
#pragma once

#include <cstddef>
#include <cstdint>

namespace vidcodec {

constexpr size_t kDenoiseWeights = 766;  // one per |sum of R, G, B differences|, 0..765

// `frame` and each of the n `others` are `pixels` RGB triples (uint8). For every pixel and every
// other frame, s = the sum over R, G, B of (other - frame), in -765..765, and that frame's weight is
// weights[|s|] (kDenoiseWeights float32 values); the frame itself weighs 1. Out = the weighted mean
// per channel, rounded half to even and clamped to 0..255. Accumulated in float32 in the order given.
void temporal_denoise(const uint8_t *frame, const uint8_t *const *others, size_t n, size_t pixels,
                      const float *weights, uint8_t *out);

}  // namespace vidcodec
