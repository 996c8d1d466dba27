// ember/kernels/pool.hpp - 2-D max pooling on raw NHWC memory ('valid' windows, any stride), with argmax indices.
// Input [N,H,W,C], output [N,OH,OW,C]; the index of each maximum (within its image) drives the backward pass.
#pragma once

#include <cstdint>
#include <type_traits>

#include "ember/core/shape.hpp"
#include "ember/core/parallel.hpp"

namespace ember::kernels {

struct Pool2DGeometry {
    index_t n = 0, h = 0, w = 0, c = 0;
    index_t ph = 2, pw = 2, sh = 2, sw = 2;
    index_t oh = 0, ow = 0;
    /// 'valid' pooling: out = floor((in - pool) / stride) + 1 (Keras' MaxPooling2D default), 0 when in < pool.
    static Pool2DGeometry make(index_t n, index_t h, index_t w, index_t c, index_t ph, index_t pw, index_t sh,
                               index_t sw) {
        Pool2DGeometry g{n, h, w, c, ph, pw, sh, sw};
        g.oh = h < ph ? 0 : (h - ph) / sh + 1;
        g.ow = w < pw ? 0 : (w - pw) / sw + 1;
        return g;
    }
};

/// y = max over each window; argmax[i] = offset (within its image) of the input that won. Ties keep the first
/// (top-left) element; a NaN in a window wins, so NaN propagates as in TensorFlow. The channel loop is innermost
/// (NHWC: contiguous), so it vectorises. Parallel over images and output rows. `argmax` may be null (inference:
/// nothing to route a gradient back to), which skips the index stores.
template <class T>
void max_pool2d_forward(const Pool2DGeometry& g, const T* x, T* y, std::int32_t* argmax) {
    auto run = [&](auto with_argmax) {
        parallel_for(0, g.n * g.oh, 4, [&](index_t lo, index_t hi) {
            for (index_t r = lo; r < hi; ++r) {
                const index_t img = r / g.oh, oy = r % g.oh;
                const T* xi = x + img * g.h * g.w * g.c;
                for (index_t ox = 0; ox < g.ow; ++ox) {
                    const index_t o = ((img * g.oh + oy) * g.ow + ox) * g.c;
                    T* yo = y + o;
                    std::int32_t* ao = with_argmax ? argmax + o : nullptr;  // no offset on a null pointer
                    const index_t first = ((oy * g.sh) * g.w + ox * g.sw) * g.c;
                    for (index_t ch = 0; ch < g.c; ++ch) {
                        yo[ch] = xi[first + ch];
                        if constexpr (with_argmax) ao[ch] = static_cast<std::int32_t>(first + ch);
                    }
                    for (index_t ky = 0; ky < g.ph; ++ky)
                        for (index_t kx = 0; kx < g.pw; ++kx) {
                            if (ky == 0 && kx == 0) continue;
                            const index_t at = ((oy * g.sh + ky) * g.w + ox * g.sw + kx) * g.c;
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

}  // namespace ember::kernels
