// nanobind module vidcodec._native: the Elias coders over numpy int64 arrays.
// Use vidcodec.coding.elias, which validates arguments and raises vidcodec's own errors.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "elias.hpp"

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

}  // namespace

NB_MODULE(_native, m) {
    m.doc() = "Elias-gamma/delta coding of int64 arrays (zigzag-mapped, MSB-first, zero-padded).";

    // Malformed bitstreams raise this ValueError subclass.
    nb::exception<vidcodec::EliasDecodeError>(m, "EliasDecodeError", PyExc_ValueError);

    m.def("elias_encode", &encode, "values"_a, "kind"_a,
          "Encode a 1-D C-contiguous int64 array; kind is 'gamma' or 'delta'.");
    m.def("elias_decode", &decode, "data"_a, "count"_a, "kind"_a,
          "Decode exactly `count` values from `data`; raises EliasDecodeError (a ValueError) on "
          "malformed, truncated or trailing input.");
}
