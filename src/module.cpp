// nanobind module vidcodec._native: the Elias coders over numpy int64 arrays, and the delta-frame
// encoder kernels (residual contexts, block motion). Use vidcodec.coding.elias, vidcodec.codec.context
// and vidcodec.codec.motion, which validate arguments and raise vidcodec's own errors.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "delta.hpp"
#include "elias.hpp"
#include "picture.hpp"
#include "prefilter.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using Int64Input = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Int64Output = nb::ndarray<nb::numpy, int64_t, nb::ndim<1>>;

vidcodec::EliasKind parse_kind(const std::string &kind) {
    if (kind == "gamma") return vidcodec::EliasKind::Gamma;
    if (kind == "delta") return vidcodec::EliasKind::Delta;
    throw std::invalid_argument("kind must be 'gamma' or 'delta', not '" + kind + "'");  // -> ValueError
}

nb::bytes encode(const Int64Input &values, const std::string &kind) {
    const vidcodec::EliasKind parsed = parse_kind(kind);
    std::vector<uint8_t> out;
    {
        nb::gil_scoped_release unlocked;
        out = vidcodec::elias_encode(values.data(), values.shape(0), parsed);
    }
    return nb::bytes(out.data(), out.size());
}

Int64Output decode(const nb::bytes &data, size_t count, const std::string &kind) {
    const vidcodec::EliasKind parsed = parse_kind(kind);
    // The decoded vector becomes the numpy array's buffer; the capsule frees it with the array.
    auto values = std::make_unique<std::vector<int64_t>>();
    {
        nb::gil_scoped_release unlocked;  // `data` is immutable and kept alive by the caller
        *values = vidcodec::elias_decode(static_cast<const uint8_t *>(data.data()), data.size(), count, parsed);
    }
    nb::capsule owner(values.get(), [](void *p) noexcept { delete static_cast<std::vector<int64_t> *>(p); });
    std::vector<int64_t> *buffer = values.release();
    return Int64Output(buffer->data(), {buffer->size()}, owner);
}

using Int64Planes = nb::ndarray<const int64_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using Int32Planes = nb::ndarray<const int32_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using FloatPlanes = nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using Int32Lut = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using Int64Vectors = nb::ndarray<const int64_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;

// A new numpy array of `shape` whose buffer a capsule frees with the array.
template <typename T, size_t N>
nb::ndarray<nb::numpy, T, nb::ndim<N>> owned(std::vector<T> *buffer, const size_t (&shape)[N]) {
    nb::capsule owner(buffer, [](void *p) noexcept { delete static_cast<std::vector<T> *>(p); });
    return nb::ndarray<nb::numpy, T, nb::ndim<N>>(buffer->data(), N, shape, owner);
}

void check_lut(const Int32Lut &lut, const char *name) {
    if (lut.shape(0) == 0) throw std::invalid_argument(std::string(name) + " is empty");
}

nb::ndarray<nb::numpy, int32_t, nb::ndim<3>> contexts(const Int64Planes &residuals, const Int64Planes &prediction,
                                                      const std::optional<Int32Planes> &offsets,
                                                      const Int32Lut &act, const Int32Lut &pred,
                                                      const Int32Lut &neigh, int32_t n_pred, int32_t n_neigh,
                                                      int32_t n_anchor, int64_t magnitude_cap) {
    for (size_t i = 0; i < 3; ++i)
        if (residuals.shape(i) != prediction.shape(i) || (offsets && residuals.shape(i) != offsets->shape(i)))
            throw std::invalid_argument("residuals, prediction and context offsets differ in shape");
    check_lut(act, "act");
    check_lut(pred, "pred");
    check_lut(neigh, "neigh");
    const size_t k = residuals.shape(0), h = residuals.shape(1), w = residuals.shape(2);
    const vidcodec::ContextTables t{act.data(), static_cast<int64_t>(act.shape(0)) - 1, pred.data(),
                                    static_cast<int64_t>(pred.shape(0)) - 1, neigh.data(),
                                    static_cast<int64_t>(neigh.shape(0)) - 1, n_pred, n_neigh, n_anchor,
                                    magnitude_cap};
    auto out = std::make_unique<std::vector<int32_t>>(k * h * w);
    {
        nb::gil_scoped_release unlocked;
        vidcodec::delta_contexts(residuals.data(), prediction.data(), offsets ? offsets->data() : nullptr, k, h, w,
                                 t, out->data());
    }
    const size_t shape[3] = {k, h, w};
    return owned(out.release(), shape);
}

using Int64Plane = nb::ndarray<const int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Int64PlaneOut = nb::ndarray<int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Int32Plane = nb::ndarray<const int32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Int64Lut = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using BoolLut = nb::ndarray<const bool, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

std::tuple<Int64Output, std::vector<std::pair<int64_t, int64_t>>> channel_pass(
    bool second, const Int64Plane &activity, const Int64Plane &prediction, const std::optional<Int32Plane> &temporal,
    int32_t temporal_scalar, const Int64Plane &decoded, int64_t selector, int64_t n_rows, bool oriented,
    const Int32Lut &act, const Int32Lut &pred, const Int32Lut &neigh, int32_t n_pred, int32_t n_neigh,
    int32_t n_anchor, const Int64Lut &shifts, const BoolLut &oriented_ctx) {
    const size_t h = activity.shape(0), w = activity.shape(1);
    for (const auto *plane : {&prediction, &decoded})
        if (plane->shape(0) != h || plane->shape(1) != w) throw std::invalid_argument("planes differ in shape");
    if (temporal && (temporal->shape(0) != h || temporal->shape(1) != w))
        throw std::invalid_argument("temporal offsets differ in shape");
    if (shifts.shape(0) != oriented_ctx.shape(0)) throw std::invalid_argument("shifts and oriented differ in length");
    if (n_rows < 2) throw std::invalid_argument("n_rows must be at least 2");
    check_lut(act, "act");
    check_lut(pred, "pred");
    check_lut(neigh, "neigh");
    const vidcodec::ContextTables t{act.data(), static_cast<int64_t>(act.shape(0)) - 1, pred.data(),
                                    static_cast<int64_t>(pred.shape(0)) - 1, neigh.data(),
                                    static_cast<int64_t>(neigh.shape(0)) - 1, n_pred, n_neigh, n_anchor, 0};
    auto order = std::make_unique<std::vector<int64_t>>();
    std::vector<std::pair<int64_t, int64_t>> groups;
    vidcodec::delta_channel_pass(second, activity.data(), prediction.data(), temporal ? temporal->data() : nullptr,
                                 temporal_scalar, decoded.data(), h, w, selector, n_rows, oriented, t, shifts.data(),
                                 reinterpret_cast<const uint8_t *>(oriented_ctx.data()), shifts.shape(0), *order,
                                 groups);
    const size_t shape[1] = {order->size()};
    return {owned(order.release(), shape), std::move(groups)};
}

void channel_finish(Int64PlaneOut values, const Int64Plane &prediction, bool oriented, Int64PlaneOut activity) {
    const size_t h = values.shape(0), w = values.shape(1);
    if (prediction.shape(0) != h || prediction.shape(1) != w || activity.shape(0) != h || activity.shape(1) != w)
        throw std::invalid_argument("planes differ in shape");
    vidcodec::delta_channel_finish(values.data(), prediction.data(), oriented, activity.data(), h, w);
}

using Int64Rows = nb::ndarray<const int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Int32Rows = nb::ndarray<const int32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

nb::ndarray<nb::numpy, int64_t, nb::ndim<3>> histograms(const Int64Rows &values, const std::optional<Int32Rows> &contexts,
                                                        size_t n_contexts, int64_t span) {
    const size_t n = values.shape(0), count = values.shape(1);
    if (span < 0 || span > (int64_t{1} << 20) || n_contexts == 0 || n_contexts > (size_t{1} << 20))
        throw std::invalid_argument("span must be in 0..2^20 and n_contexts in 1..2^20");
    const int32_t *ctx = nullptr;
    if (contexts) {
        if (contexts->shape(0) != n || contexts->shape(1) != count)
            throw std::invalid_argument("values and contexts differ in shape");
        ctx = contexts->data();
        for (size_t i = 0; i < n * count; ++i)  // an index past the histogram would write out of bounds
            if (ctx[i] < 0 || static_cast<size_t>(ctx[i]) >= n_contexts)
                throw std::invalid_argument("a context is outside [0, n_contexts)");
    } else if (n_contexts != 1) {
        throw std::invalid_argument("n_contexts must be 1 without contexts");
    }
    const size_t bins = static_cast<size_t>(2 * span + 1);
    auto out = std::make_unique<std::vector<int64_t>>(n * n_contexts * bins);
    {
        nb::gil_scoped_release unlocked;
        vidcodec::histograms(values.data(), ctx, n, count, n_contexts, span, out->data());
    }
    const size_t shape[3] = {n, n_contexts, bins};
    return owned(out.release(), shape);
}

size_t blocks(size_t n, size_t block) { return (n + block - 1) / block; }

nb::ndarray<nb::numpy, int64_t, nb::ndim<3>> predict(const Int64Planes &prev, const Int64Vectors &vectors,
                                                     size_t block, int64_t subpel, size_t channels) {
    const size_t k = prev.shape(0), h = prev.shape(1), w = prev.shape(2);
    if (channels > k) throw std::invalid_argument("more channels to move than the latent has");
    if (block == 0 || subpel < 1) throw std::invalid_argument("block and subpel must be positive");
    if (vectors.shape(0) != blocks(h, block) || vectors.shape(1) != blocks(w, block) || vectors.shape(2) != 2)
        throw std::invalid_argument("vectors do not cover the latent");
    // Channels past `channels` are zero (vector value-initialises them).
    auto out = std::make_unique<std::vector<int64_t>>(k * h * w);
    {
        nb::gil_scoped_release unlocked;
        vidcodec::motion_predict(prev.data(), channels, h, w, vectors.data(), block, subpel, out->data());
    }
    const size_t shape[3] = {k, h, w};
    return owned(out.release(), shape);
}

nb::ndarray<nb::numpy, int64_t, nb::ndim<3>> search(const FloatPlanes &target, const Int64Planes &prev, size_t block,
                                                    double lam, int64_t radius, int64_t subpel,
                                                    int64_t max_vector) {
    for (size_t i = 0; i < 3; ++i)
        if (target.shape(i) != prev.shape(i)) throw std::invalid_argument("target and prev differ in shape");
    if (block == 0 || subpel < 1 || radius < 0 || max_vector < 0)
        throw std::invalid_argument("bad block, subpel, radius or max_vector");
    // Every candidate must stay within the edge padding the search builds from max_vector.
    if (radius > max_vector / subpel) throw std::invalid_argument("radius reaches past max_vector");
    const size_t k = prev.shape(0), h = prev.shape(1), w = prev.shape(2);
    const size_t rows = blocks(h, block), cols = blocks(w, block);
    auto out = std::make_unique<std::vector<int64_t>>(rows * cols * 2);
    {
        nb::gil_scoped_release unlocked;
        vidcodec::motion_search(target.data(), prev.data(), k, h, w, block, lam, radius, subpel, max_vector,
                                out->data());
    }
    const size_t shape[3] = {rows, cols, 2};
    return owned(out.release(), shape);
}

using Doubles = nb::ndarray<nb::numpy, double, nb::ndim<1>>;
using Int64s = nb::ndarray<nb::numpy, int64_t, nb::ndim<1>>;

std::tuple<nb::ndarray<nb::numpy, int64_t, nb::ndim<3>>, Doubles, Doubles, Int64s> residuals(
    const FloatPlanes &target, const Int64Planes &prediction, double threshold, int64_t cap) {
    for (size_t i = 0; i < 3; ++i)
        if (target.shape(i) != prediction.shape(i)) throw std::invalid_argument("target and prediction differ in shape");
    if (!(threshold >= 0.0) || cap < 0) throw std::invalid_argument("threshold and cap must be >= 0");
    const size_t k = target.shape(0), h = target.shape(1), w = target.shape(2);
    auto d = std::make_unique<std::vector<int64_t>>(k * h * w);
    auto sq_r = std::make_unique<std::vector<double>>(k), sq_kept = std::make_unique<std::vector<double>>(k);
    auto nonzero = std::make_unique<std::vector<int64_t>>(k);
    {
        nb::gil_scoped_release unlocked;
        vidcodec::delta_residuals(target.data(), prediction.data(), k, h * w, threshold, cap, d->data(),
                                  sq_r->data(), sq_kept->data(), nonzero->data());
    }
    const size_t planes[3] = {k, h, w}, channels[1] = {k};
    return {owned(d.release(), planes), owned(sq_r.release(), channels), owned(sq_kept.release(), channels),
            owned(nonzero.release(), channels)};
}

using CostTables = nb::ndarray<const double, nb::ndim<3>, nb::c_contig, nb::device::cpu>;

using Int64List = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

nb::ndarray<nb::numpy, double, nb::ndim<2>> bits(const Int64Rows &values, const Int32Rows &contexts,
                                                 const CostTables &cost, const Int64List &rows,
                                                 const std::optional<Int64Rows> &prediction) {
    const size_t n = values.shape(0), count = values.shape(1), m = rows.shape(0);
    const size_t s = cost.shape(0), n_contexts = cost.shape(1), bins = cost.shape(2);
    if (contexts.shape(0) != n || contexts.shape(1) != count ||
        (prediction && (prediction->shape(0) != n || prediction->shape(1) != count)))
        throw std::invalid_argument("values, contexts and prediction differ in shape");
    if (bins % 2 == 0 || n_contexts == 0) throw std::invalid_argument("cost must be (selectors, contexts, 2 window + 1)");
    const int64_t *row = rows.data();
    for (size_t i = 0; i < m; ++i)
        if (row[i] < 0 || static_cast<size_t>(row[i]) >= n) throw std::invalid_argument("a row index is outside [0, n)");
    const int32_t *ctx = contexts.data();
    for (size_t i = 0; i < m; ++i)  // an index past the tables would read out of bounds
        for (size_t q = 0, at = static_cast<size_t>(row[i]) * count; q < count; ++q)
            if (ctx[at + q] < 0 || static_cast<size_t>(ctx[at + q]) >= n_contexts)
                throw std::invalid_argument("a context is outside [0, n_contexts)");
    auto out = std::make_unique<std::vector<double>>(m * s);
    {
        nb::gil_scoped_release unlocked;
        vidcodec::context_bits(values.data(), ctx, prediction ? prediction->data() : nullptr, count, row, m,
                               cost.data(), s, n_contexts, static_cast<int64_t>(bins / 2), out->data());
    }
    const size_t shape[2] = {m, s};
    return owned(out.release(), shape);
}

using Rgb8 = nb::ndarray<const uint8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using FloatLut = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

nb::ndarray<nb::numpy, uint8_t, nb::ndim<3>> denoise(const Rgb8 &frame, const std::vector<Rgb8> &others,
                                                     const FloatLut &weights) {
    const size_t h = frame.shape(0), w = frame.shape(1);
    if (frame.shape(2) != 3) throw std::invalid_argument("frames must be H x W x 3");
    if (weights.shape(0) != vidcodec::kDenoiseWeights)
        throw std::invalid_argument("weights must have " + std::to_string(vidcodec::kDenoiseWeights) + " values");
    std::vector<const uint8_t *> planes;
    for (const Rgb8 &o : others) {
        if (o.shape(0) != h || o.shape(1) != w || o.shape(2) != 3)
            throw std::invalid_argument("a neighbouring frame differs in shape");
        planes.push_back(o.data());
    }
    auto out = std::make_unique<std::vector<uint8_t>>(h * w * 3);
    {
        nb::gil_scoped_release unlocked;  // the arrays are kept alive by the caller
        vidcodec::temporal_denoise(frame.data(), planes.data(), planes.size(), h * w, weights.data(), out->data());
    }
    const size_t shape[3] = {h, w, 3};
    return owned(out.release(), shape);
}

using FloatPicture = nb::ndarray<const float, nb::ndim<3>, nb::device::cpu>;  // any strides
using Reference = nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu>;

vidcodec::Planes planes_of(const FloatPicture &p, size_t h, size_t w, const char *name) {
    if (p.shape(0) != 3 || p.shape(1) < h || p.shape(2) < w)
        throw std::invalid_argument(std::string(name) + " must be 3 x H x W with H >= h and W >= w");
    if (p.stride(2) != 1) throw std::invalid_argument(std::string(name) + "'s rows must be contiguous");
    return {p.data(), p.stride(0), p.stride(1)};
}

nb::ndarray<nb::numpy, float, nb::ndim<3>> reference(const FloatPicture &x, size_t h, size_t w) {
    if (h == 0 || w == 0) throw std::invalid_argument("h and w must be positive");
    const vidcodec::Planes planes = planes_of(x, h, w, "x");
    auto out = std::make_unique<std::vector<float>>(3 * h * w);
    {
        nb::gil_scoped_release unlocked;  // `x` is kept alive by the caller
        vidcodec::ssim_reference(planes, h, w, out->data());
    }
    const size_t shape[3] = {3, h, w};
    return owned(out.release(), shape);
}

std::tuple<double, double> errors(const FloatPicture &picture, const FloatPicture &x, const Reference &ref) {
    const size_t h = ref.shape(1), w = ref.shape(2);
    if (ref.shape(0) != 3 || h == 0 || w == 0) throw std::invalid_argument("reference must be 3 x h x w");
    const vidcodec::Planes a = planes_of(picture, h, w, "picture"), b = planes_of(x, h, w, "x");
    std::pair<double, double> got;
    {
        nb::gil_scoped_release unlocked;  // the arrays are kept alive by the caller
        got = vidcodec::picture_errors(a, b, ref.data(), h, w);
    }
    return {got.first, got.second};
}

}  // namespace

NB_MODULE(_native, m) {
    m.doc() = "Elias-gamma/delta coding of int64 arrays (zigzag-mapped, MSB-first, zero-padded).";
#ifdef VIDCODEC_SOURCES_SHA256
    m.attr("SOURCES_SHA256") = VIDCODEC_SOURCES_SHA256;  // what vidcodec/native.py checks a source tree's src/ against
#endif

    // Malformed bitstreams raise this ValueError subclass.
    nb::exception<vidcodec::EliasDecodeError>(m, "EliasDecodeError", PyExc_ValueError);

    m.def("elias_encode", &encode, "values"_a, "kind"_a,
          "Encode a 1-D C-contiguous int64 array; kind is 'gamma' or 'delta'.");
    m.def("elias_decode", &decode, "data"_a, "count"_a, "kind"_a,
          "Decode exactly `count` values from `data`; raises EliasDecodeError (a ValueError) on "
          "malformed, truncated or trailing input.");
    m.def("delta_contexts", &contexts, "residuals"_a, "prediction"_a, "offsets"_a.none(), "act"_a, "pred"_a,
          "neigh"_a, "n_pred"_a, "n_neigh"_a, "n_anchor"_a, "magnitude_cap"_a,
          "Context index (int32) of every residual of (K,h,w) int64 residuals, plus (K,h,w) int32 offsets if "
          "given (the temporal context); see vidcodec.codec.context.");
    m.def("delta_channel_pass", &channel_pass, "second"_a, "activity"_a, "prediction"_a, "temporal"_a.none(),
          "temporal_scalar"_a, "decoded"_a, "selector"_a, "n_rows"_a, "oriented"_a, "act"_a, "pred"_a, "neigh"_a,
          "n_pred"_a, "n_neigh"_a, "n_anchor"_a, "shifts"_a, "oriented_contexts"_a,
          "(order, groups): one pass of a channel's residuals in coding order (flat int64 positions) and the "
          "(row, count) of each table row in use; see vidcodec.codec.context.decode_channel.");
    // noconvert: the arrays written to must be the caller's own, never a converted copy
    m.def("delta_channel_finish", &channel_finish, "values"_a.noconvert(), "prediction"_a, "oriented"_a,
          "activity"_a.noconvert(),
          "Turn a channel's decoded (h,w) int64 values back into residuals (oriented) in place and add the 3x3 "
          "sums of their magnitudes to the (h,w) int64 activity; see vidcodec.codec.context.decode_channel.");
    m.def("delta_residuals", &residuals, "target"_a, "prediction"_a, "threshold"_a, "cap"_a,
          "(d, sq_r, sq_kept, nonzero): the (K,h,w) int64 residuals of float32 `target` against int64 "
          "`prediction` (rounded half to even, clamped to +-cap, 0 where |r| < threshold) and per channel the "
          "summed r^2, (r - d)^2 and count of non-zero d; see vidcodec.codec.vaegan.FrameEncoder._residuals.");
    m.def("context_bits", &bits, "values"_a, "contexts"_a, "cost"_a, "rows"_a, "prediction"_a.none(),
          "(m, S) float64 bits of the m `rows` of (n, P) int64 values (oriented by the (n, P) int64 prediction "
          "if given: -v where it is > 0), clamped to +-W, with (n, P) int32 contexts under each of the S "
          "selectors of `cost` (S, contexts, 2W + 1); see vidcodec.codec.vaegan._context_bits.");
    m.def("histograms", &histograms, "values"_a, "contexts"_a.none(), "n_contexts"_a, "span"_a,
          "(n, n_contexts, 2 span + 1) int64 counts of (n, P) int64 values clipped to [-span, span], per row "
          "and per context ((n, P) int32, or None for one).");
    m.def("motion_predict", &predict, "prev"_a, "vectors"_a, "block"_a, "subpel"_a, "channels"_a,
          "Integer bilinear block prediction (K,h,w) int64 of the first `channels` (the rest zero); see "
          "vidcodec.codec.motion.predict.");
    m.def("motion_search", &search, "target"_a, "prev"_a, "block"_a, "lam"_a, "radius"_a, "subpel"_a,
          "max_vector"_a, "The encoder's (rows, cols, 2) int64 vectors; see vidcodec.codec.motion.search.");
    m.def("temporal_denoise", &denoise, "frame"_a, "others"_a, "weights"_a,
          "The prefilter's weighted temporal mean (H,W,3) uint8 of `frame` and `others`; see "
          "vidcodec.codec.prefilter.denoise.");
    m.def("ssim_reference", &reference, "x"_a, "h"_a, "w"_a,
          "(3, h, w) float32: the luma, 8x8 box mean and box variance of the top-left h x w of a (3, H, W) "
          "float32 frame; see vidcodec.codec.vaegan.PictureErrors.");
    m.def("picture_errors", &errors, "picture"_a, "x"_a, "reference"_a,
          "(mean squared error, 1 - SSIM) of a (3, H, W) float32 picture against the frame `x` over the "
          "reference's h x w (ssim_reference of `x`); see vidcodec.codec.vaegan.picture_errors.");
}
