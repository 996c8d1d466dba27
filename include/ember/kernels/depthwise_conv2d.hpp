// ember/kernels/depthwise_conv2d.hpp - depthwise 2-D convolution on raw NHWC memory, forward and backward.
// Input [N,H,W,C], kernel [KH,KW,C,M] (Keras' DepthwiseConv2D layout; M is the depth multiplier), output
// [N,OH,OW,C*M] whose channel c*M + m is input channel c convolved with its m-th filter (the order of Keras and of
// PyTorch's groups=C convolution). Padding and strides as Conv2D's (TensorFlow's 'same'). Callers check shapes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "ember/core/parallel.hpp"
#include "ember/core/shape.hpp"
#include "ember/core/storage.hpp"
#include "ember/kernels/conv2d.hpp"  // Padding and padded_extent
#include "ember/kernels/simd.hpp"

namespace ember::kernels {

// Note [Depthwise loops]: a depthwise convolution does KH*KW multiply-adds per output value, too few for a GEMM
// to pay, so the kernels are loops over memory. Each output row is accumulated tap by tap: for kernel tap
// (ky, kx), the output pixels of the row whose input pixel lies inside the image are one contiguous range of
// columns (DepthwiseConv2DGeometry::cols_inside), and each adds its input pixel's C values times the tap's C*M
// weights, a multiply-add along the contiguous channels that runs on simd::Vec when M = 1. Borders cost nothing
// but the range, and no padded copy is made. Backward-data gathers into each input row from the output rows that
// read it, so rows are independent; backward-weights sums per thread and adds the parts in thread order.

struct DepthwiseConv2DGeometry {
    index_t n = 0, h = 0, w = 0, c = 0;  // input
    index_t kh = 0, kw = 0, m = 1;       // kernel extent and depth multiplier
    index_t sh = 1, sw = 1;              // strides
    index_t pad_top = 0, pad_left = 0;
    index_t oh = 0, ow = 0;              // output

    static DepthwiseConv2DGeometry make(index_t n, index_t h, index_t w, index_t c, index_t kh, index_t kw,
                                        index_t m, index_t sh, index_t sw, Padding padding) {
        DepthwiseConv2DGeometry g{n, h, w, c, kh, kw, m, sh, sw};
        const auto ey = padded_extent(h, kh, sh, padding), ex = padded_extent(w, kw, sw, padding);
        g.oh = ey.out;
        g.ow = ex.out;
        g.pad_top = ey.before;
        g.pad_left = ex.before;
        return g;
    }
    [[nodiscard]] index_t out_channels() const { return c * m; }
    [[nodiscard]] index_t in_image() const { return h * w * c; }
    [[nodiscard]] index_t out_image() const { return oh * ow * c * m; }
    /// The output columns [first, second) whose kernel column kx reads a column inside the image.
    [[nodiscard]] std::pair<index_t, index_t> cols_inside(index_t kx) const {
        const index_t lead = pad_left - kx, last = w - 1 + pad_left - kx;  // ox * sw must lie in [lead, last]
        const index_t first = lead <= 0 ? 0 : (lead + sw - 1) / sw;
        return {first, last < 0 ? 0 : std::min<index_t>(ow, last / sw + 1)};
    }
    /// The input column that output column ox reads at kernel column kx.
    [[nodiscard]] index_t in_col(index_t ox, index_t kx) const { return ox * sw - pad_left + kx; }
};

namespace depthwise_detail {

/// y[j] += a[j] * b[j] for j < n.
template <class T>
void mul_add(T* y, const T* a, const T* b, index_t n) {
    using V = simd::Vec<T>;
    index_t j = 0;
    for (; j + V::width <= n; j += V::width) fma(V::load(a + j), V::load(b + j), V::load(y + j)).store(y + j);
    for (; j < n; ++j) y[j] += a[j] * b[j];
}

/// y[ch*M + k] += x[ch] * v[ch*M + k]: each input channel times its M filters (the forward pass), or each input
/// value times the M output gradients it fed (the weight gradient).
template <class T>
void spread_mul_add(T* y, const T* x, const T* v, index_t c, index_t m) {
    if (m == 1) return mul_add(y, x, v, c);
    for (index_t ch = 0; ch < c; ++ch) {
        const T xv = x[ch];
        for (index_t k = 0; k < m; ++k) y[ch * m + k] += xv * v[ch * m + k];
    }
}

/// dx[ch] += sum over k of dy[ch*M + k] * w[ch*M + k]: the input gradient, summed over a channel's M filters.
template <class T>
void gather_mul_add(T* dx, const T* dy, const T* w, index_t c, index_t m) {
    if (m == 1) return mul_add(dx, dy, w, c);
    for (index_t ch = 0; ch < c; ++ch) {
        T acc = 0;
        for (index_t k = 0; k < m; ++k) acc += dy[ch * m + k] * w[ch * m + k];
        dx[ch] += acc;
    }
}

/// Output row r (= image * OH + oy) of the forward pass, before bias and activation: adds every tap into yr.
template <class T>
void forward_row(const DepthwiseConv2DGeometry& g, const T* x, const T* w, index_t r, T* yr) {
    const index_t img = r / g.oh, oy = r % g.oh, cm = g.out_channels();
    for (index_t ky = 0; ky < g.kh; ++ky) {
        const index_t iy = oy * g.sh - g.pad_top + ky;
        if (iy < 0 || iy >= g.h) continue;
        const T* xr = x + (img * g.h + iy) * g.w * g.c;
        for (index_t kx = 0; kx < g.kw; ++kx) {
            const auto [ox0, ox1] = g.cols_inside(kx);
            const T* tap = w + (ky * g.kw + kx) * cm;
            for (index_t ox = ox0; ox < ox1; ++ox)
                spread_mul_add(yr + ox * cm, xr + g.in_col(ox, kx) * g.c, tap, g.c, g.m);
        }
    }
}

/// Input row r (= image * H + iy) of the input gradient: gathers from every output row and tap that read it.
template <class T>
void backward_data_row(const DepthwiseConv2DGeometry& g, const T* w, const T* dy, index_t r, T* dxr) {
    const index_t img = r / g.h, iy = r % g.h, cm = g.out_channels();
    for (index_t ky = 0; ky < g.kh; ++ky) {
        const index_t t = iy + g.pad_top - ky;  // oy * sh
        if (t < 0 || t % g.sh != 0 || t / g.sh >= g.oh) continue;
        const T* dyr = dy + (img * g.oh + t / g.sh) * g.ow * cm;
        for (index_t kx = 0; kx < g.kw; ++kx) {
            const auto [ox0, ox1] = g.cols_inside(kx);
            const T* tap = w + (ky * g.kw + kx) * cm;
            for (index_t ox = ox0; ox < ox1; ++ox)
                gather_mul_add(dxr + g.in_col(ox, kx) * g.c, dyr + ox * cm, tap, g.c, g.m);
        }
    }
}

/// Adds output row r's contribution to the weight gradient dw [KH*KW*C*M] and bias gradient db [C*M] (either null).
template <class T>
void backward_weights_row(const DepthwiseConv2DGeometry& g, const T* x, const T* dy, index_t r, T* dw, T* db) {
    const index_t img = r / g.oh, oy = r % g.oh, cm = g.out_channels();
    const T* dyr = dy + r * g.ow * cm;
    if (db)
        for (index_t ox = 0; ox < g.ow; ++ox)
            for (index_t j = 0; j < cm; ++j) db[j] += dyr[ox * cm + j];
    if (!dw) return;
    for (index_t ky = 0; ky < g.kh; ++ky) {
        const index_t iy = oy * g.sh - g.pad_top + ky;
        if (iy < 0 || iy >= g.h) continue;
        const T* xr = x + (img * g.h + iy) * g.w * g.c;
        for (index_t kx = 0; kx < g.kw; ++kx) {
            const auto [ox0, ox1] = g.cols_inside(kx);
            T* tap = dw + (ky * g.kw + kx) * cm;
            for (index_t ox = ox0; ox < ox1; ++ox)
                spread_mul_add(tap, xr + g.in_col(ox, kx) * g.c, dyr + ox * cm, g.c, g.m);
        }
    }
}

/// dw += the weight gradient, db += the bias gradient: partial sums per thread over disjoint output rows, added
/// in thread order (the same thread count gives the same bits).
template <class T>
void backward_weights(const DepthwiseConv2DGeometry& g, const T* x, const T* dy, T* dw, T* db) {
    const auto threads = static_cast<std::size_t>(max_threads());
    const index_t wsize = g.kh * g.kw * g.out_channels(), rows = g.n * g.oh;
    std::vector<std::vector<T>> dw_parts(threads), db_parts(threads);
    parallel_region([&](int tid, int nt) {
        auto& pw = dw_parts[static_cast<std::size_t>(tid)];
        auto& pb = db_parts[static_cast<std::size_t>(tid)];
        if (dw) pw.assign(static_cast<std::size_t>(wsize), T(0));
        if (db) pb.assign(static_cast<std::size_t>(g.out_channels()), T(0));
        for (index_t r = rows * tid / nt; r < rows * (tid + 1) / nt; ++r)
            backward_weights_row(g, x, dy, r, dw ? pw.data() : nullptr, db ? pb.data() : nullptr);
    });
    for (std::size_t t = 0; t < threads; ++t) {
        for (std::size_t j = 0; j < dw_parts[t].size(); ++j) dw[j] += dw_parts[t][j];
        for (std::size_t j = 0; j < db_parts[t].size(); ++j) db[j] += db_parts[t][j];
    }
}

}  // namespace depthwise_detail

/// y [N,OH,OW,C*M] = depthwise(x, w) + bias, then ReLU when `relu` (Note [Depthwise loops]). `bias` may be null.
/// With `mask` (one byte per output value), also writes mask[i] = (y[i] > 0), the ReLU derivative, in the same
/// pass. Parallel over images and output rows.
template <class T>
void depthwise_conv2d_forward(const DepthwiseConv2DGeometry& g, const T* x, const T* w, const T* bias, bool relu,
                              T* y, std::uint8_t* mask = nullptr) {
    const index_t cm = g.out_channels(), row = g.ow * cm;
    parallel_for(0, g.n * g.oh, 1, [&](index_t lo, index_t hi) {
        for (index_t r = lo; r < hi; ++r) {
            T* yr = y + r * row;
            for (index_t ox = 0; ox < g.ow; ++ox) {
                if (bias)
                    std::copy_n(bias, cm, yr + ox * cm);
                else
                    std::fill_n(yr + ox * cm, cm, T(0));
            }
            depthwise_detail::forward_row(g, x, w, r, yr);
            if (relu)
                for (index_t j = 0; j < row; ++j) yr[j] = yr[j] > T(0) ? yr[j] : T(0);
            if (mask)
                for (index_t j = 0; j < row; ++j) mask[r * row + j] = yr[j] > T(0) ? 1 : 0;
        }
    });
}

/// Backward of depthwise_conv2d_forward: adds into dx [N,H,W,C], dw [KH,KW,C,M] and db [C*M] (each may be null).
/// When the forward fused a ReLU, pass its mask as `relu_mask`: dy then counts only where the mask is set.
template <class T>
void depthwise_conv2d_backward(const DepthwiseConv2DGeometry& g, const T* x, const T* w, const T* dy,
                               const std::uint8_t* relu_mask, T* dx, T* dw, T* db) {
    if (g.n == 0 || g.oh == 0 || g.ow == 0 || g.out_channels() == 0) return;
    Storage<T> masked;
    if (relu_mask) {  // d relu: pass the gradient where the output was positive
        const index_t total = g.n * g.out_image();
        masked = Storage<T>(static_cast<std::size_t>(total));
        T* pm = masked.data();
        parallel_for(0, total, index_t{1} << 16, [&](index_t lo, index_t hi) {
            for (index_t i = lo; i < hi; ++i) pm[i] = relu_mask[i] ? dy[i] : T(0);
        });
        dy = masked.data();
    }
    if (dx)
        parallel_for(0, g.n * g.h, 1, [&](index_t lo, index_t hi) {
            for (index_t r = lo; r < hi; ++r) depthwise_detail::backward_data_row(g, w, dy, r, dx + r * g.w * g.c);
        });
    if (dw || db) depthwise_detail::backward_weights(g, x, dy, dw, db);
}

}  // namespace ember::kernels
