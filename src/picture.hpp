// Encoder-side picture errors (vidcodec/codec/vaegan.py picture_errors_numpy specifies them in numpy): the
// mean squared error and 1 - SSIM (luma, 8x8 box windows) of a synthesized picture against the frame,
// in one pass over memory and without the GIL. The frame's own planes (its luma, box mean and box
// variance) are worked out once per frame (ssim_reference) and shared by the pictures weighed against
// it. float32 planes and sums as numpy's (and OpenCV's box filter); a row's terms are summed in eight float
// lanes, the rows in double.
#pragma once

#include <cstddef>
#include <utility>

namespace vidcodec {

// A (3, h, w) float32 picture: `data` at channel c, row r, column x is data[c*cs + r*rs + x].
struct Planes {
    const float *data;
    std::ptrdiff_t cs, rs;
};

// The frame's luma, box mean and box variance, each an h*w float32 plane, one after the other in `out`.
void ssim_reference(const Planes &x, size_t h, size_t w, float *out);

// (mean squared error over the three channels, 1 - mean SSIM of the luma) of `picture` against the frame
// `x` whose reference planes ssim_reference wrote to `reference`. The SSIM window of pixel (r, c) is rows
// r-4 .. r+3 and columns c-4 .. c+3 (OpenCV's blur with its default anchor), the borders reflected
// without repeating the edge (OpenCV's BORDER_REFLECT_101).
std::pair<double, double> picture_errors(const Planes &picture, const Planes &x, const float *reference, size_t h,
                                         size_t w);

}  // namespace vidcodec
