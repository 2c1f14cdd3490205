// Encoder kernels of VAE-GAN delta frames: residual contexts (format 3.0) and the block motion
// search and prediction (format 2.0). vidcodec/codec/context.py and vidcodec/codec/motion.py
// specify them in numpy; these are the same computations in one pass over memory, without the
// GIL. Contexts and predictions are integer arithmetic and identical to the numpy versions (the
// tests compare them); the search is an encoder choice (per-position errors in float, block sums in
// double).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace vidcodec {

// The format's context constants, handed over from Python (context.py is their one source).
struct ContextTables {
    const int32_t *act_lut;  // bucket of a 3x3 activity sum, index min(v, act_cap)
    int64_t act_cap;
    const int32_t *pred_lut;  // bucket of |prediction|, index min(v, pred_cap)
    int64_t pred_cap;
    const int32_t *neigh_lut;  // bucket of the four anchor neighbours' sum, index min(v, neigh_cap)
    int64_t neigh_cap;
    int32_t n_pred, n_neigh, n_anchor;
    int64_t magnitude_cap;  // |residual| counts at most this much in the activity sums
};

// Context index of every residual of k channels of h x w (context.contexts); with `offsets` (k x h x w,
// format 8.0's temporal part, context.temporal_offsets), plus those.
void delta_contexts(const int64_t *residuals, const int64_t *prediction, const int32_t *offsets, size_t k,
                    size_t h, size_t w, const ContextTables &t, int32_t *out);

// Histograms of n rows of `count` values each, clipped to [-span, span], per row and context:
// out (n, n_contexts, 2 span + 1) counts; `contexts` (n, count) in [0, n_contexts), or null for one.
void histograms(const int64_t *values, const int32_t *contexts, size_t n, size_t count, size_t n_contexts,
                int64_t span, int64_t *out);

// A delta candidate's integer residuals (FrameEncoder._residuals before its per-channel choice): with
// r = double(target) - double(prediction), d = round-half-even(clamp(r, -cap, cap)), and 0 where |r| <
// threshold (the dead zone). Per channel of k x plane: sq_r = sum r^2 (the error if the channel stays
// unchanged), sq_kept = sum (r - d)^2, nonzero = how many d are not 0. One pass instead of numpy's
// eight over float64 temporaries (sums in another order than numpy's: an encoder choice).
void delta_residuals(const float *target, const int64_t *prediction, size_t k, size_t plane, double threshold,
                     int64_t cap, int64_t *d, double *sq_r, double *sq_kept, int64_t *nonzero);

// Bits of the rows `rows` (m indices into n rows of `count` values each) under every one of `s`
// selectors: out (m, s) with out[i][j] the sum over row rows[i]'s values v, clamped to [-window,
// window], of cost[j][context][v + window] (cost is (s, n_contexts, 2 window + 1)); `contexts` (n,
// count) in [0, n_contexts). With `prediction` (n, count), each value is first oriented as format 9.0
// codes it (-v where the prediction is > 0). Each row's distinct (context, value) pairs are counted
// first, so the work is count + pairs * s, and the sums run in a fixed order.
void context_bits(const int64_t *values, const int32_t *contexts, const int64_t *prediction, size_t count,
                  const int64_t *rows, size_t m, const double *cost, size_t s, size_t n_contexts, int64_t window,
                  double *out);

// Block motion: `prev` (k, h, w) integers, vectors (rows, cols, 2) as (dx, dy) in 1/subpel latent pixels.
// Edge samples extend past the borders (as numpy's edge padding within motion.MARGIN).
void motion_predict(const int64_t *prev, size_t k, size_t h, size_t w, const int64_t *vectors, size_t block,
                    int64_t subpel, int64_t *out);

// The encoder's vectors (motion.search): integer shifts within `radius` latent pixels, then half and
// quarter refinement around each block's best; each block minimises the squared error of `target`
// (k, h, w) against the bilinear (unrounded) prediction plus lam times the vector's Elias-gamma bits.
void motion_search(const float *target, const int64_t *prev, size_t k, size_t h, size_t w, size_t block,
                   double lam, int64_t radius, int64_t subpel, int64_t max_vector, int64_t *vectors);


// The decoder's plan for one pass of one channel's context-coded residuals (context.decode_channel,
// formats 3.0-9.0): the pass's positions (x + y even for the first pass, odd for the second) in coding
// order, by table row and in raster order within a row, into `order`, and each row in use, in
// increasing order, with its count into `groups`. The context of a position: the 3x3 `activity` sum
// of the earlier channels' |residuals| and |prediction| bucketed; in the second pass also the four
// anchor neighbours' |values| in `decoded` (the first pass's, others zero); plus `temporal` (h x w,
// format 8.0's offsets) or else `temporal_scalar`. Its row: selector + shifts[context], clamped to
// 1..n_rows-1, plus n_rows where `oriented` and oriented_ctx[context] (format 9.0). Throws
// std::out_of_range for a context past n_all.
void delta_channel_pass(bool second, const int64_t *activity, const int64_t *prediction, const int32_t *temporal,
                        int32_t temporal_scalar, const int64_t *decoded, size_t h, size_t w, int64_t selector,
                        int64_t n_rows, bool oriented, const ContextTables &t, const int64_t *shifts,
                        const uint8_t *oriented_ctx, size_t n_all, std::vector<int64_t> &order,
                        std::vector<std::pair<int64_t, int64_t>> &groups);

// After a channel's two passes: its values turned back into residuals where `oriented` (-v where the
// prediction is > 0, format 9.0), in place, and the 3x3 sums of their magnitudes (zero outside) added
// to `activity` (h x w), the next channel's context.
void delta_channel_finish(int64_t *values, const int64_t *prediction, bool oriented, int64_t *activity, size_t h,
                          size_t w);

}  // namespace vidcodec
