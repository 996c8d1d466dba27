// ember/kernels/pool.hpp - 2-D pooling on raw NHWC memory: max (with argmax indices) and average, over 'valid' or
// 'same' windows (TensorFlow's padding, kernels::padded_extent), any stride. Input [N,H,W,C], output [N,OH,OW,C].
// Global pooling is the same kernels with one window covering the whole image.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "ember/core/parallel.hpp"
#include "ember/core/shape.hpp"
#include "ember/kernels/conv2d.hpp"  // Padding and padded_extent: one rule for convolutions and pooling

namespace ember::kernels {

struct Pool2DGeometry {
    index_t n = 0, h = 0, w = 0, c = 0;
    index_t ph = 2, pw = 2, sh = 2, sw = 2;
    index_t oh = 0, ow = 0;
    index_t pad_top = 0, pad_left = 0;  // 'same': window rows above the image, columns left of it
    /// 'valid' (Keras' default): out = floor((in - pool) / stride) + 1, 0 when in < pool. 'same': out =
    /// ceil(in / stride), the window padded as TensorFlow pads it (the odd row or column at the bottom or right).
    /// Padding is never pooled: a max ignores it and an average divides by the pixels inside the image. Every
    /// window holds at least one pixel of the image (TensorFlow pads less than a window on each side).
    static Pool2DGeometry make(index_t n, index_t h, index_t w, index_t c, index_t ph, index_t pw, index_t sh,
                               index_t sw, Padding padding = Padding::valid) {
        Pool2DGeometry g{n, h, w, c, ph, pw, sh, sw};
        const auto ey = padded_extent(h, ph, sh, padding), ex = padded_extent(w, pw, sw, padding);
        g.oh = ey.out;
        g.ow = ex.out;
        g.pad_top = ey.before;
        g.pad_left = ex.before;
        return g;
    }
    /// The input rows [first, second) that window row oy covers inside the image.
    [[nodiscard]] std::pair<index_t, index_t> rows(index_t oy) const {
        const index_t top = oy * sh - pad_top;
        return {std::max<index_t>(top, 0), std::min<index_t>(top + ph, h)};
    }
    /// The input columns [first, second) that window column ox covers inside the image.
    [[nodiscard]] std::pair<index_t, index_t> cols(index_t ox) const {
        const index_t left = ox * sw - pad_left;
        return {std::max<index_t>(left, 0), std::min<index_t>(left + pw, w)};
    }
};

/// y = max over each window; argmax[i] = offset (within its image) of the input that won. Ties keep the first
/// element of the window inside the image (row-major); a NaN in a window wins, so NaN propagates as in
/// TensorFlow. The channel loop is innermost (NHWC: contiguous), so it vectorises. Parallel over images and output
/// rows. `argmax` may be null (inference: nothing to route a gradient back to), which skips the index stores.
template <class T>
void max_pool2d_forward(const Pool2DGeometry& g, const T* x, T* y, std::int32_t* argmax) {
    auto run = [&](auto with_argmax) {
        parallel_for(0, g.n * g.oh, 4, [&](index_t lo, index_t hi) {
            for (index_t r = lo; r < hi; ++r) {
                const index_t img = r / g.oh, oy = r % g.oh;
                const T* xi = x + img * g.h * g.w * g.c;
                const auto [y0, y1] = g.rows(oy);
                for (index_t ox = 0; ox < g.ow; ++ox) {
                    const auto [x0, x1] = g.cols(ox);
                    const index_t o = ((img * g.oh + oy) * g.ow + ox) * g.c;
                    T* yo = y + o;
                    std::int32_t* ao = with_argmax ? argmax + o : nullptr;  // no offset on a null pointer
                    const index_t first = (y0 * g.w + x0) * g.c;
                    for (index_t ch = 0; ch < g.c; ++ch) {
                        yo[ch] = xi[first + ch];
                        if constexpr (with_argmax) ao[ch] = static_cast<std::int32_t>(first + ch);
                    }
                    for (index_t iy = y0; iy < y1; ++iy)
                        for (index_t ix = x0; ix < x1; ++ix) {
                            if (iy == y0 && ix == x0) continue;
                            const index_t at = (iy * g.w + ix) * g.c;
                            const T* xv = xi + at;
                            for (index_t ch = 0; ch < g.c; ++ch) {
                                const T v = xv[ch], best = yo[ch];
                                const bool take = v > best || (v != v && best == best);
                                yo[ch] = take ? v : best;
                                if constexpr (with_argmax) ao[ch] = take ? static_cast<std::int32_t>(at + ch) : ao[ch];
                            }
                        }
                }
            }
        });
    };
    if (argmax)
        run(std::true_type{});
    else
        run(std::false_type{});
}

/// dx[argmax] += dy, image by image (windows may overlap when stride < pool, so images are the unit of work).
template <class T>
void max_pool2d_backward(const Pool2DGeometry& g, const T* dy, const std::int32_t* argmax, T* dx) {
    const index_t out_image = g.oh * g.ow * g.c, in_image = g.h * g.w * g.c;
    parallel_for(0, g.n, 1, [&](index_t lo, index_t hi) {
        for (index_t img = lo; img < hi; ++img)
            for (index_t i = 0; i < out_image; ++i)
                dx[img * in_image + argmax[img * out_image + i]] += dy[img * out_image + i];
    });
}

/// y = the mean of each window over its pixels inside the image (Keras' AveragePooling2D; with 'same' padding,
/// PyTorch's count_include_pad=False). Channels innermost; parallel over images and output rows.
template <class T>
void avg_pool2d_forward(const Pool2DGeometry& g, const T* x, T* y) {
    parallel_for(0, g.n * g.oh, 4, [&](index_t lo, index_t hi) {
        for (index_t r = lo; r < hi; ++r) {
            const index_t img = r / g.oh, oy = r % g.oh;
            const T* xi = x + img * g.h * g.w * g.c;
            const auto [y0, y1] = g.rows(oy);
            for (index_t ox = 0; ox < g.ow; ++ox) {
                const auto [x0, x1] = g.cols(ox);
                T* yo = y + (r * g.ow + ox) * g.c;
                std::fill_n(yo, g.c, T(0));
                for (index_t iy = y0; iy < y1; ++iy)
                    for (index_t ix = x0; ix < x1; ++ix) {
                        const T* xv = xi + (iy * g.w + ix) * g.c;
                        for (index_t ch = 0; ch < g.c; ++ch) yo[ch] += xv[ch];
                    }
                const T count = static_cast<T>((y1 - y0) * (x1 - x0));
                for (index_t ch = 0; ch < g.c; ++ch) yo[ch] /= count;
            }
        }
    });
}

namespace pool_detail {
/// The window indices [first, second) of `out` windows (stride s, extent k, `pad` before) that cover input index i.
inline std::pair<index_t, index_t> windows_covering(index_t i, index_t pad, index_t k, index_t s, index_t out) {
    const index_t reach = i + pad - k + 1;  // the window must start at or after i + pad - k + 1 (padded coordinates)
    const index_t first = reach <= 0 ? 0 : (reach + s - 1) / s;
    return {first, std::min<index_t>(out, (i + pad) / s + 1)};
}
}  // namespace pool_detail

/// dx += dy / count, for every window that covers each input (the adjoint of avg_pool2d_forward). Each input row
/// gathers from the windows over it, so rows are independent: parallel over images and input rows even when
/// windows overlap.
template <class T>
void avg_pool2d_backward(const Pool2DGeometry& g, const T* dy, T* dx) {
    parallel_for(0, g.n * g.h, 4, [&](index_t lo, index_t hi) {
        for (index_t r = lo; r < hi; ++r) {
            const index_t img = r / g.h, iy = r % g.h;
            const auto [oy0, oy1] = pool_detail::windows_covering(iy, g.pad_top, g.ph, g.sh, g.oh);
            T* dxr = dx + r * g.w * g.c;
            for (index_t oy = oy0; oy < oy1; ++oy) {
                const auto [y0, y1] = g.rows(oy);
                const T* dyr = dy + (img * g.oh + oy) * g.ow * g.c;
                for (index_t ix = 0; ix < g.w; ++ix) {
                    const auto [ox0, ox1] = pool_detail::windows_covering(ix, g.pad_left, g.pw, g.sw, g.ow);
                    T* d = dxr + ix * g.c;
                    for (index_t ox = ox0; ox < ox1; ++ox) {
                        const auto [x0, x1] = g.cols(ox);
                        const T count = static_cast<T>((y1 - y0) * (x1 - x0));
                        const T* gy = dyr + ox * g.c;
                        for (index_t ch = 0; ch < g.c; ++ch) d[ch] += gy[ch] / count;
                    }
                }
            }
        }
    });
}

}  // namespace ember::kernels
