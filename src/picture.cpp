#include "picture.hpp"

#include <vector>

namespace vidcodec {

namespace {

constexpr float kR = 0.299f, kG = 0.587f, kB = 0.114f;  // luma weights, float32 as numpy's
constexpr float kC1 = 0.01f * 0.01f, kC2 = 0.03f * 0.03f;
constexpr std::ptrdiff_t kBox = 8, kBefore = 4, kAfter = 3;
constexpr float kArea = 1.0f / 64.0f;

// Reflect-101 index into 0..n-1 (n >= 1): -1 -> 1, n -> n - 2.
std::ptrdiff_t reflect(std::ptrdiff_t i, std::ptrdiff_t n) {
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

// The sum of n floats in 8 interleaved float lanes (vectorizable; a fixed order, so a fixed result),
// the lanes then added in double.
double lane_sum(const float *v, size_t n) {
    float lanes[8] = {};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t k = 0; k < 8; ++k) lanes[k] += v[i + k];
    for (; i < n; ++i) lanes[i % 8] += v[i];
    double s = 0.0;
    for (float lane : lanes) s += static_cast<double>(lane);
    return s;
}

void luma_row(const Planes &p, size_t r, size_t w, float *out) {
    const float *a = p.data + static_cast<std::ptrdiff_t>(r) * p.rs, *g = a + p.cs, *b = g + p.cs;
    for (size_t x = 0; x < w; ++x) out[x] = (a[x] * kR + g[x] * kG) + b[x] * kB;
}

// The 8-wide box sums of n float rows of w values (row k at in + k * w) into out (same layout), the
// row reflected at both ends; `padded` has room for w + 7 values.
void horizontal(const float *in, size_t n, size_t w, float *padded, float *out) {
    const auto W = static_cast<std::ptrdiff_t>(w);
    for (size_t k = 0; k < n; ++k) {
        const float *v = in + k * w;
        for (std::ptrdiff_t i = 0; i < kBefore; ++i) padded[i] = v[reflect(i - kBefore, W)];
        for (size_t x = 0; x < w; ++x) padded[x + kBefore] = v[x];
        for (std::ptrdiff_t i = 0; i < kAfter; ++i) padded[W + kBefore + i] = v[reflect(W + i, W)];
        float *dst = out + k * w;
        for (size_t x = 0; x < w; ++x) {
            const float *p = padded + x;
            dst[x] = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
        }
    }
}

// Box sums of n planes, h x w: `row(r, dst)` writes source row r's n w-rows; `emit(y, sums)` gets output
// row y's n w-rows of sums. The horizontal sums of the 8 rows in the window are kept in a ring (a row is
// made once, or twice near a border where the window reflects it).
template <typename Row, typename Emit>
void box_rows(size_t n, size_t h, size_t w, Row row, Emit emit) {
    const auto H = static_cast<std::ptrdiff_t>(h);
    const size_t span = n * w;
    std::vector<float> line(span), padded(w + kBox - 1), ring(span * kBox), sums(span);
    auto fill = [&](std::ptrdiff_t r) {  // source row r (reflected) into its ring slot, r mod 8
        row(static_cast<size_t>(reflect(r, H)), line.data());
        horizontal(line.data(), n, w, padded.data(), ring.data() + static_cast<size_t>((r + kBox) % kBox) * span);
    };
    for (std::ptrdiff_t r = -kBefore; r < kAfter; ++r) fill(r);
    for (std::ptrdiff_t y = 0; y < H; ++y) {
        fill(y + kAfter);
        const float *s[kBox];
        for (std::ptrdiff_t i = 0; i < kBox; ++i) s[i] = ring.data() + static_cast<size_t>(i) * span;
        for (size_t j = 0; j < span; ++j)
            sums[j] = ((s[0][j] + s[1][j]) + (s[2][j] + s[3][j])) + ((s[4][j] + s[5][j]) + (s[6][j] + s[7][j]));
        emit(static_cast<size_t>(y), sums.data());
    }
}

}  // namespace

void ssim_reference(const Planes &x, size_t h, size_t w, float *out) {
    float *luma = out, *mean = out + h * w, *var = out + 2 * h * w;
    for (size_t r = 0; r < h; ++r) luma_row(x, r, w, luma + r * w);
    box_rows(
        2, h, w,
        [&](size_t r, float *dst) {
            const float *y = luma + r * w;
            for (size_t i = 0; i < w; ++i) dst[i] = y[i], dst[w + i] = y[i] * y[i];
        },
        [&](size_t y, const float *sums) {
            for (size_t i = 0; i < w; ++i) {
                const float m = sums[i] * kArea;
                mean[y * w + i] = m;
                var[y * w + i] = sums[w + i] * kArea - m * m;
            }
        });
}

std::pair<double, double> picture_errors(const Planes &picture, const Planes &x, const float *reference, size_t h,
                                         size_t w) {
    std::vector<float> terms(w);
    double sse = 0.0;
    for (std::ptrdiff_t c = 0; c < 3; ++c)
        for (size_t r = 0; r < h; ++r) {
            const float *a = picture.data + c * picture.cs + static_cast<std::ptrdiff_t>(r) * picture.rs;
            const float *b = x.data + c * x.cs + static_cast<std::ptrdiff_t>(r) * x.rs;
            for (size_t i = 0; i < w; ++i) {
                const float d = a[i] - b[i];
                terms[i] = d * d;
            }
            sse += lane_sum(terms.data(), w);
        }
    const float *yb = reference, *mb = reference + h * w, *vb = reference + 2 * h * w;
    double ssim = 0.0;
    box_rows(
        3, h, w,
        [&](size_t r, float *dst) {
            luma_row(picture, r, w, dst);
            const float *y = yb + r * w;
            for (size_t i = 0; i < w; ++i) {
                const float a = dst[i];
                dst[w + i] = a * a, dst[2 * w + i] = a * y[i];
            }
        },
        [&](size_t y, const float *sums) {
            const float *m = mb + y * w, *v = vb + y * w;
            for (size_t i = 0; i < w; ++i) {
                const float ma = sums[i] * kArea, va = sums[w + i] * kArea - ma * ma;
                const float cov = sums[2 * w + i] * kArea - ma * m[i];
                terms[i] = ((2.0f * ma * m[i] + kC1) * (2.0f * cov + kC2)) /
                           ((ma * ma + m[i] * m[i] + kC1) * (va + v[i] + kC2));
            }
            ssim += lane_sum(terms.data(), w);
        });
    const double n = static_cast<double>(h * w);
    return {sse / (3.0 * n), 1.0 - ssim / n};
}

}  // namespace vidcodec
