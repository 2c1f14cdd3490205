// Delta-frame encoder kernels; see delta.hpp.
#include "delta.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <initializer_list>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <vector>

namespace vidcodec {
namespace {

// min(|v|, cap) without branches: |v| as unsigned (INT64_MIN is 2^63, past any cap). Indexing a
// bucket table with it made the context kernel twice as fast as a clamp of a signed |v| did.
uint64_t capped_magnitude(int64_t v, uint64_t cap) {
    const uint64_t m = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    return std::min(m, cap);
}

// Floor division and modulo for a positive divisor (Python's divmod).
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

size_t clamp_index(int64_t i, size_t n) {
    return static_cast<size_t>(std::clamp<int64_t>(i, 0, static_cast<int64_t>(n) - 1));
}

// Elias-gamma bits of one signed component (the codes' mapping: 2x + 1 for x >= 0, -2x below).
int64_t gamma_bits(int64_t x) {
    const uint64_t n = x >= 0 ? static_cast<uint64_t>(2 * x + 1) : static_cast<uint64_t>(-2 * x);
    return 2 * static_cast<int64_t>(std::bit_width(n)) - 1;
}

// Vertical 3-sums of a zero-bordered (h + 2) x (w + 2) plane into `vsum` (h rows of w + 2); the caller
// adds three neighbours of a row (vsum[x] + vsum[x + 1] + vsum[x + 2] is position x's 3x3 box).
void vertical3(const std::vector<int32_t> &padded, size_t h, size_t pw, std::vector<int32_t> &vsum) {
    for (size_t y = 0; y < h; ++y) {
        const int32_t *up = padded.data() + y * pw, *mid = up + pw, *down = mid + pw;
        int32_t *v = vsum.data() + y * pw;
        for (size_t x = 0; x < pw; ++x) v[x] = up[x] + mid[x] + down[x];
    }
}

}  // namespace

void delta_contexts(const int64_t *residuals, const int64_t *prediction, const int32_t *offsets, size_t k,
                    size_t h, size_t w, const ContextTables &t, int32_t *out) {
    // Planes with a zero border of one sample, so that the neighbourhood sums need no edge tests.
    const size_t pw = w + 2, plane = h * w;
    const uint64_t act_cap = static_cast<uint64_t>(t.act_cap), pred_cap = static_cast<uint64_t>(t.pred_cap),
                   neigh_cap = static_cast<uint64_t>(t.neigh_cap), mag_cap = static_cast<uint64_t>(t.magnitude_cap);
    std::vector<int32_t> a((h + 2) * pw, 0), before((h + 2) * pw, 0), vsum(h * pw, 0);
    for (size_t c = 0; c < k; ++c) {
        const int64_t *r = residuals + c * plane;
        for (size_t y = 0; y < h; ++y) {
            int32_t *row = a.data() + (y + 1) * pw + 1;
            const int64_t *ry = r + y * w;
            for (size_t x = 0; x < w; ++x) row[x] = static_cast<int32_t>(capped_magnitude(ry[x], mag_cap));
        }
        // 3x3 sums of the earlier channels' magnitudes (none before the first): vertical, then horizontal.
        if (c) vertical3(before, h, pw, vsum);
        for (size_t y = 0; y < h; ++y) {
            const int32_t *v = vsum.data() + y * pw;
            const int32_t *up = a.data() + y * pw, *mid = up + pw, *down = mid + pw;
            const int64_t *p = prediction + c * plane + y * w;
            const int32_t *add = offsets ? offsets + c * plane + y * w : nullptr;
            int32_t *o = out + c * plane + y * w;
            for (size_t x = 0; x < w; ++x) {
                const uint64_t box = c ? static_cast<uint64_t>(v[x] + v[x + 1] + v[x + 2]) : 0;
                int32_t ctx = t.act_lut[std::min(box, act_cap)] * t.n_pred + t.pred_lut[capped_magnitude(p[x], pred_cap)];
                if ((x + y) & 1) {  // every edge neighbour of a non-anchor (x + y odd) is an anchor
                    const uint64_t n = static_cast<uint64_t>(up[x + 1] + down[x + 1] + mid[x] + mid[x + 2]);
                    ctx = t.n_anchor + ctx * t.n_neigh + t.neigh_lut[std::min(n, neigh_cap)];
                }
                o[x] = add ? ctx + add[x] : ctx;
            }
        }
        if (c + 1 < k)
            for (size_t i = 0; i < a.size(); ++i) before[i] += a[i];
    }
}

void delta_residuals(const float *target, const int64_t *prediction, size_t k, size_t plane, double threshold,
                     int64_t cap, int64_t *d, double *sq_r, double *sq_kept, int64_t *nonzero) {
    const double hi = static_cast<double>(cap);
    for (size_t c = 0; c < k; ++c) {
        const float *t = target + c * plane;
        const int64_t *p = prediction + c * plane;
        int64_t *out = d + c * plane;
        double all = 0.0, kept = 0.0;
        int64_t count = 0;
        for (size_t i = 0; i < plane; ++i) {
            const double r = static_cast<double>(t[i]) - static_cast<double>(p[i]);
            int64_t v = 0;
            if (std::fabs(r) >= threshold) {  // false for NaN too: a NaN residual stays 0
                v = static_cast<int64_t>(std::nearbyint(std::clamp(r, -hi, hi)));  // half to even
                count += v != 0;
            }
            out[i] = v;
            const double e = r - static_cast<double>(v);
            all += r * r;
            kept += e * e;
        }
        sq_r[c] = all;
        sq_kept[c] = kept;
        nonzero[c] = count;
    }
}

void context_bits(const int64_t *values, const int32_t *contexts, const int64_t *prediction, size_t count,
                  const int64_t *rows, size_t m, const double *cost, size_t s, size_t n_contexts, int64_t window,
                  double *out) {
    const size_t bins = static_cast<size_t>(2 * window + 1), stride = n_contexts * bins;
    std::vector<int64_t> hist(stride, 0);
    std::vector<size_t> touched;
    for (size_t i = 0; i < m; ++i) {
        const size_t at = static_cast<size_t>(rows[i]) * count;
        const int64_t *v = values + at;
        const int32_t *c = contexts + at;
        const int64_t *p = prediction ? prediction + at : nullptr;
        touched.clear();
        for (size_t q = 0; q < count; ++q) {
            const int64_t value = p && p[q] > 0 ? -v[q] : v[q];
            const size_t key =
                static_cast<size_t>(c[q]) * bins + static_cast<size_t>(std::clamp(value, -window, window) + window);
            if (hist[key]++ == 0) touched.push_back(key);
        }
        std::sort(touched.begin(), touched.end());  // a fixed order of the sums, whatever the values' order
        double *row = out + i * s;
        for (size_t j = 0; j < s; ++j) {
            const double *table = cost + j * stride;
            double bits = 0.0;
            for (size_t key : touched) bits += static_cast<double>(hist[key]) * table[key];
            row[j] = bits;
        }
        for (size_t key : touched) hist[key] = 0;
    }
}

void histograms(const int64_t *values, const int32_t *contexts, size_t n, size_t count, size_t n_contexts,
                int64_t span, int64_t *out) {
    const size_t bins = static_cast<size_t>(2 * span + 1);
    std::fill_n(out, n * n_contexts * bins, int64_t{0});
    for (size_t row = 0; row < n; ++row) {
        const int64_t *v = values + row * count;
        int64_t *hist = out + row * n_contexts * bins;
        if (contexts == nullptr) {
            for (size_t i = 0; i < count; ++i) ++hist[std::clamp(v[i], -span, span) + span];
        } else {
            const int32_t *ctx = contexts + row * count;
            for (size_t i = 0; i < count; ++i)
                ++hist[static_cast<size_t>(ctx[i]) * bins + static_cast<size_t>(std::clamp(v[i], -span, span) + span)];
        }
    }
}

void motion_predict(const int64_t *prev, size_t k, size_t h, size_t w, const int64_t *vectors, size_t block,
                    int64_t subpel, int64_t *out) {
    const size_t rows = (h + block - 1) / block, cols = (w + block - 1) / block, plane = h * w;
    const int64_t s = subpel, half = s * s / 2;
    // The weights sum to s*s; motion._sample rounds by a floor division, a shift when s*s is a power of two.
    const bool pow2 = std::has_single_bit(static_cast<uint64_t>(s * s));
    const int shift = std::countr_zero(static_cast<uint64_t>(s * s));
    std::vector<size_t> xa(block), xb(block), ya(block), yb(block);
    for (size_t br = 0; br < rows; ++br)
        for (size_t bc = 0; bc < cols; ++bc) {
            const int64_t dx = vectors[2 * (br * cols + bc)], dy = vectors[2 * (br * cols + bc) + 1];
            const int64_t iy = floor_div(dy, s), fy = dy - iy * s, ix = floor_div(dx, s), fx = dx - ix * s;
            const size_t y0 = br * block, bh = std::min(h, y0 + block) - y0;
            const size_t x0 = bc * block, bw = std::min(w, x0 + block) - x0;
            // Source rows and columns of the block's samples, clamped to the edges (edge padding).
            for (size_t i = 0; i < bh; ++i) {
                const int64_t sy = static_cast<int64_t>(y0 + i) + iy;
                ya[i] = clamp_index(sy, h) * w, yb[i] = clamp_index(sy + 1, h) * w;
            }
            for (size_t j = 0; j < bw; ++j) {
                const int64_t sx = static_cast<int64_t>(x0 + j) + ix;
                xa[j] = clamp_index(sx, w), xb[j] = clamp_index(sx + 1, w);
            }
            for (size_t c = 0; c < k; ++c) {
                const int64_t *src = prev + c * plane;
                int64_t *dst = out + c * plane + y0 * w + x0;
                for (size_t i = 0; i < bh; ++i) {
                    const int64_t *r0 = src + ya[i], *r1 = src + yb[i];
                    int64_t *o = dst + i * w;
                    if (fx == 0 && fy == 0) {
                        for (size_t j = 0; j < bw; ++j) o[j] = r0[xa[j]];
                        continue;
                    }
                    for (size_t j = 0; j < bw; ++j) {
                        int64_t acc = (s - fy) * ((s - fx) * r0[xa[j]] + fx * r0[xb[j]]);
                        if (fy) acc += fy * ((s - fx) * r1[xa[j]] + fx * r1[xb[j]]);
                        o[j] = pow2 ? (acc + half) >> shift : floor_div(acc + half, s * s);
                    }
                }
            }
        }
}

void motion_search(const float *target, const int64_t *prev, size_t k, size_t h, size_t w, size_t block,
                   double lam, int64_t radius, int64_t subpel, int64_t max_vector, int64_t *vectors) {
    const size_t rows = (h + block - 1) / block, cols = (w + block - 1) / block, plane = h * w;
    const int64_t s = subpel;
    // `prev` with edge padding wide enough for every in-range vector (and the bilinear's extra sample).
    const int64_t margin = max_vector / s + 2;
    const size_t pw = w + 2 * static_cast<size_t>(margin), ph = h + 2 * static_cast<size_t>(margin);
    std::vector<float> padded(k * ph * pw);
    for (size_t c = 0; c < k; ++c)
        for (size_t y = 0; y < ph; ++y)
            for (size_t x = 0; x < pw; ++x)
                padded[(c * ph + y) * pw + x] = static_cast<float>(
                    prev[c * plane + clamp_index(static_cast<int64_t>(y) - margin, h) * w +
                         clamp_index(static_cast<int64_t>(x) - margin, w)]);
    auto sample_row = [&](size_t c, int64_t y, int64_t x) {
        return padded.data() + (c * ph + static_cast<size_t>(y + margin)) * pw + static_cast<size_t>(x + margin);
    };

    // Per-pixel squared error, summed over the channels, of rows y0..y1-1 and columns x0..x1-1
    // moved by (dx, dy): long inner loops over x that the compiler vectorizes.
    std::vector<float> err(plane);
    auto error_map = [&](int64_t dx, int64_t dy, size_t y0, size_t y1, size_t x0, size_t x1) {
        const int64_t iy = floor_div(dy, s), ix = floor_div(dx, s);
        const float fy = static_cast<float>(dy - iy * s) / static_cast<float>(s);
        const float fx = static_cast<float>(dx - ix * s) / static_cast<float>(s);
        const size_t n = x1 - x0;
        for (size_t y = y0; y < y1; ++y) std::fill_n(err.data() + y * w + x0, n, 0.0f);
        for (size_t c = 0; c < k; ++c)
            for (size_t y = y0; y < y1; ++y) {
                const int64_t sy = static_cast<int64_t>(y) + iy, sx = static_cast<int64_t>(x0) + ix;
                const float *a = sample_row(c, sy, sx), *b = sample_row(c, sy + 1, sx);
                const float *t = target + c * plane + y * w + x0;
                float *e = err.data() + y * w + x0;
                if (fx == 0 && fy == 0) {
                    for (size_t i = 0; i < n; ++i) {
                        const float d = t[i] - a[i];
                        e[i] += d * d;
                    }
                } else if (fy == 0) {
                    for (size_t i = 0; i < n; ++i) {
                        const float d = t[i] - (a[i] * (1 - fx) + a[i + 1] * fx);
                        e[i] += d * d;
                    }
                } else {
                    for (size_t i = 0; i < n; ++i) {
                        const float p = (a[i] * (1 - fx) + a[i + 1] * fx) * (1 - fy) + (b[i] * (1 - fx) + b[i + 1] * fx) * fy;
                        const float d = t[i] - p;
                        e[i] += d * d;
                    }
                }
            }
    };
    auto block_cost = [&](size_t br, size_t bc, int64_t dx, int64_t dy) {
        const size_t y0 = br * block, y1 = std::min(h, y0 + block), x0 = bc * block, x1 = std::min(w, x0 + block);
        double e = 0;
        for (size_t y = y0; y < y1; ++y)
            for (size_t x = x0; x < x1; ++x) e += static_cast<double>(err[y * w + x]);
        return e + lam * static_cast<double>(gamma_bits(dx) + gamma_bits(dy));
    };

    const size_t n_blocks = rows * cols;
    std::vector<double> best(n_blocks);
    std::vector<int64_t> bx(n_blocks, 0), by(n_blocks, 0);
    error_map(0, 0, 0, h, 0, w);
    for (size_t b = 0; b < n_blocks; ++b) best[b] = block_cost(b / cols, b % cols, 0, 0);
    // Integer shifts, scored on the whole latent; a candidate wins only when strictly better.
    for (int64_t dy = -radius * s; dy <= radius * s; dy += s)
        for (int64_t dx = -radius * s; dx <= radius * s; dx += s) {
            if (!dx && !dy) continue;
            error_map(dx, dy, 0, h, 0, w);
            for (size_t b = 0; b < n_blocks; ++b) {
                const double e = block_cost(b / cols, b % cols, dx, dy);
                if (e < best[b]) best[b] = e, bx[b] = dx, by[b] = dy;
            }
        }
    // Half, then quarter steps around each block's best, scored per centre (the blocks that share a
    // best vector). Each block only ever sees its own centre's candidates, so the
    // result is the per-block search's.
    for (const int64_t step : {s / 2, s / 4}) {
        if (step < 1) continue;
        struct Centre {
            int64_t x, y;
            size_t r0, r1, c0, c1;
            std::vector<size_t> members;
        };
        std::vector<Centre> centres;
        for (size_t b = 0; b < n_blocks; ++b) {
            const size_t r = b / cols, c = b % cols;
            auto it = std::find_if(centres.begin(), centres.end(),
                                   [&](const Centre &z) { return z.x == bx[b] && z.y == by[b]; });
            if (it == centres.end()) {
                centres.push_back({bx[b], by[b], r, r + 1, c, c + 1, {}});
                it = centres.end() - 1;
            }
            it->r0 = std::min(it->r0, r), it->r1 = std::max(it->r1, r + 1);
            it->c0 = std::min(it->c0, c), it->c1 = std::max(it->c1, c + 1);
            it->members.push_back(b);
        }
        for (int64_t oy = -step; oy <= step; oy += step)
            for (int64_t ox = -step; ox <= step; ox += step) {
                if (!ox && !oy) continue;
                for (const Centre &z : centres) {
                    const int64_t ux = z.x + ox, uy = z.y + oy;
                    if (std::max(std::llabs(ux), std::llabs(uy)) > max_vector) continue;
                    // The bounding box in one map when the members fill at least half of it, else
                    // each member block on its own.
                    const bool dense = 2 * z.members.size() >= (z.r1 - z.r0) * (z.c1 - z.c0);
                    if (dense)
                        error_map(ux, uy, z.r0 * block, std::min(h, z.r1 * block), z.c0 * block,
                                  std::min(w, z.c1 * block));
                    for (const size_t b : z.members) {
                        const size_t r = b / cols, c = b % cols;
                        if (!dense)
                            error_map(ux, uy, r * block, std::min(h, (r + 1) * block), c * block,
                                      std::min(w, (c + 1) * block));
                        const double e = block_cost(r, c, ux, uy);
                        if (e < best[b]) best[b] = e, bx[b] = ux, by[b] = uy;
                    }
                }
            }
    }
    for (size_t b = 0; b < n_blocks; ++b) vectors[2 * b] = bx[b], vectors[2 * b + 1] = by[b];
}


void delta_channel_pass(bool second, const int64_t *activity, const int64_t *prediction, const int32_t *temporal,
                        int32_t temporal_scalar, const int64_t *decoded, size_t h, size_t w, int64_t selector,
                        int64_t n_rows, bool oriented, const ContextTables &t, const int64_t *shifts,
                        const uint8_t *oriented_ctx, size_t n_all, std::vector<int64_t> &order,
                        std::vector<std::pair<int64_t, int64_t>> &groups) {
    const uint64_t act_cap = static_cast<uint64_t>(t.act_cap), pred_cap = static_cast<uint64_t>(t.pred_cap),
                   neigh_cap = static_cast<uint64_t>(t.neigh_cap);
    const uint64_t no_cap = std::numeric_limits<uint64_t>::max();
    const size_t n_table_rows = static_cast<size_t>(2 * n_rows);
    std::vector<int64_t> rows, at;
    rows.reserve(h * w / 2 + 1);
    at.reserve(h * w / 2 + 1);
    std::vector<int64_t> counts(n_table_rows, 0);
    for (size_t y = 0; y < h; ++y) {
        for (size_t x = (y + (second ? 1 : 0)) & 1; x < w; x += 2) {
            const size_t p = y * w + x;
            const uint64_t act = std::min(static_cast<uint64_t>(activity[p]), act_cap);
            int64_t ctx = int64_t{t.act_lut[act]} * t.n_pred + t.pred_lut[capped_magnitude(prediction[p], pred_cap)];
            if (second) {  // the four edge neighbours, all anchors (zero outside)
                uint64_t n = 0;
                if (y > 0) n += capped_magnitude(decoded[p - w], no_cap);
                if (y + 1 < h) n += capped_magnitude(decoded[p + w], no_cap);
                if (x > 0) n += capped_magnitude(decoded[p - 1], no_cap);
                if (x + 1 < w) n += capped_magnitude(decoded[p + 1], no_cap);
                ctx = t.n_anchor + ctx * t.n_neigh + t.neigh_lut[std::min(n, neigh_cap)];
            }
            ctx += temporal ? temporal[p] : temporal_scalar;
            if (ctx < 0 || static_cast<size_t>(ctx) >= n_all) throw std::out_of_range("context index out of range");
            int64_t row = std::clamp(selector + shifts[ctx], int64_t{1}, n_rows - 1);
            if (oriented && oriented_ctx[ctx]) row += n_rows;
            rows.push_back(row);
            at.push_back(static_cast<int64_t>(p));
            ++counts[static_cast<size_t>(row)];
        }
    }
    // A counting sort by row, stable: raster order within each row.
    std::vector<int64_t> start(n_table_rows, 0);
    int64_t sum = 0;
    groups.clear();
    for (size_t r = 0; r < n_table_rows; ++r) {
        start[r] = sum;
        sum += counts[r];
        if (counts[r]) groups.emplace_back(static_cast<int64_t>(r), counts[r]);
    }
    order.assign(at.size(), 0);
    for (size_t i = 0; i < at.size(); ++i) order[static_cast<size_t>(start[static_cast<size_t>(rows[i])]++)] = at[i];
}

void delta_channel_finish(int64_t *values, const int64_t *prediction, bool oriented, int64_t *activity, size_t h,
                          size_t w) {
    const uint64_t no_cap = std::numeric_limits<uint64_t>::max();
    if (oriented)
        for (size_t p = 0; p < h * w; ++p)
            if (prediction[p] > 0) values[p] = -values[p];
    // activity += box3(|values|): each magnitude to its 3x3 neighbourhood
    for (size_t y = 0; y < h; ++y)
        for (size_t x = 0; x < w; ++x) {
            const int64_t m = static_cast<int64_t>(capped_magnitude(values[y * w + x], no_cap));
            if (!m) continue;
            for (size_t yy = y ? y - 1 : 0; yy <= std::min(y + 1, h - 1); ++yy)
                for (size_t xx = x ? x - 1 : 0; xx <= std::min(x + 1, w - 1); ++xx) activity[yy * w + xx] += m;
        }
}

}  // namespace vidcodec
