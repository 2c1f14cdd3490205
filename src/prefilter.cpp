#include "prefilter.hpp"

#include <cstdlib>

namespace vidcodec {

namespace {
constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
}  // namespace

void temporal_denoise(const uint8_t *frame, const uint8_t *const *others, size_t n, size_t pixels,
                      const float *weights, uint8_t *out) {
    // One pixel at a time, its neighbours in order. (Neighbours outside and pixels inside, in tiles,
    // gave the same bytes but took 1.5x the time on the 2-core VM.)
    for (size_t p = 0; p < pixels; ++p) {
        const uint8_t *x = frame + 3 * p;
        float t0 = x[0], t1 = x[1], t2 = x[2], sum = 1.0f;
        for (size_t j = 0; j < n; ++j) {
            const uint8_t *y = others[j] + 3 * p;
            const int s = (y[0] - x[0]) + (y[1] - x[1]) + (y[2] - x[2]);
            const float w = weights[std::abs(s)];
            // Separate products and sums (the build turns off contraction into FMA), as numpy does.
            t0 += w * static_cast<float>(y[0]);
            t1 += w * static_cast<float>(y[1]);
            t2 += w * static_cast<float>(y[2]);
            sum += w;
        }
        const float v[3] = {t0 / sum, t1 / sum, t2 / sum};
        for (size_t c = 0; c < 3; ++c) {
            // A weighted mean of 0..255 lies in [0, 255]; adding and taking away 1.5 * 2^23 rounds a
            // float of that range half to even (the default rounding mode), as np.rint does.
            const float r = (v[c] + kRound) - kRound;
            out[3 * p + c] = static_cast<uint8_t>(r > 255.0f ? 255.0f : r);
        }
    }
}

}  // namespace vidcodec
