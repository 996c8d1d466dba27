// tests/reference.hpp - plain-loop reference implementations the kernels and ops are tested against.
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include <ember/kernels/conv2d.hpp>

namespace ember::test {

/// Direct convolution with TensorFlow's padding, in double. x [N,H,W,C], w [KH,KW,C,K] -> [N,OH,OW,K].
inline Tensor<double> conv2d_reference(const Tensor<double>& x, const Tensor<double>& w, const Tensor<double>& b,
                                       index_t sh, index_t sw, kernels::Padding padding) {
    const index_t n = x.size(0), h = x.size(1), wd = x.size(2), c = x.size(3);
    const index_t kh = w.size(0), kw = w.size(1), k = w.size(3);
    const auto ey = kernels::padded_extent(h, kh, sh, padding);
    const auto ex = kernels::padded_extent(wd, kw, sw, padding);
    auto y = Tensor<double>::zeros({n, ey.out, ex.out, k});
    for (index_t i = 0; i < n; ++i)
        for (index_t oy = 0; oy < ey.out; ++oy)
            for (index_t ox = 0; ox < ex.out; ++ox)
                for (index_t f = 0; f < k; ++f) {
                    double acc = b.defined() ? b(f) : 0.0;
                    for (index_t ky = 0; ky < kh; ++ky)
                        for (index_t kx = 0; kx < kw; ++kx) {
                            const index_t iy = oy * sh - ey.before + ky, ix = ox * sw - ex.before + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                            for (index_t ch = 0; ch < c; ++ch) acc += x(i, iy, ix, ch) * w(ky, kx, ch, f);
                        }
                    y(i, oy, ox, f) = acc;
                }
    return y;
}

/// Plain max pooling ('valid').
template <Real T>
Tensor<T> max_pool_reference(const Tensor<T>& x, index_t ph, index_t pw, index_t sh, index_t sw) {
    const index_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
    const index_t oh = (h - ph) / sh + 1, ow = (w - pw) / sw + 1;
    auto y = Tensor<T>::empty({n, oh, ow, c});
    for (index_t i = 0; i < n; ++i)
        for (index_t oy = 0; oy < oh; ++oy)
            for (index_t ox = 0; ox < ow; ++ox)
                for (index_t ch = 0; ch < c; ++ch) {
                    T best = -std::numeric_limits<T>::infinity();
                    for (index_t ky = 0; ky < ph; ++ky)
                        for (index_t kx = 0; kx < pw; ++kx) best = std::max(best, x(i, oy * sh + ky, ox * sw + kx, ch));
                    y(i, oy, ox, ch) = best;
                }
    return y;
}

}  // namespace ember::test
