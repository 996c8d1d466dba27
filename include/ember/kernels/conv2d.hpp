// ember/kernels/conv2d.hpp - 2-D convolution on raw NHWC memory: tiled im2col + GEMM, forward and backward.
// Input [N,H,W,C], kernel HWIO [KH,KW,C,K] (Keras' layout), output [N,OH,OW,K]. Callers check shapes first.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/shape.hpp"
#include "ember/core/storage.hpp"
#include "ember/kernels/gemm.hpp"
#include "ember/kernels/parallel.hpp"

namespace ember::kernels {

enum class Padding { valid, same };

/// Output extent and padding of one spatial dimension.
struct PaddedExtent {
    index_t out = 0;
    index_t before = 0;  // zero rows (or columns) added at the top (left)
    index_t after = 0;   // ... and at the bottom (right)
};

/// TensorFlow's rule. 'valid': out = floor((in - k) / stride) + 1, no padding (out = 0 when in < k).
/// 'same': out = ceil(in / stride); total = max((out - 1) * stride + k - in, 0); before = floor(total / 2),
/// after = total - before, so an odd total puts the extra row at the bottom / column at the right.
inline PaddedExtent padded_extent(index_t in, index_t k, index_t stride, Padding padding) {
    PaddedExtent e;
    if (padding == Padding::valid) {
        e.out = in < k ? 0 : (in - k) / stride + 1;
        return e;
    }
    e.out = (in + stride - 1) / stride;
    const index_t total = std::max<index_t>((e.out - 1) * stride + k - in, 0);
    e.before = total / 2;
    e.after = total - e.before;
    return e;
}

/// Everything a convolution kernel needs to know about its shapes.
struct Conv2DGeometry {
    index_t n = 0, h = 0, w = 0, c = 0;  // input
    index_t kh = 0, kw = 0, k = 0;       // kernel extent and filters
    index_t sh = 1, sw = 1;              // strides
    index_t pad_top = 0, pad_left = 0;
    index_t oh = 0, ow = 0;              // output

    static Conv2DGeometry make(index_t n, index_t h, index_t w, index_t c, index_t kh, index_t kw, index_t k,
                               index_t sh, index_t sw, Padding padding) {
        Conv2DGeometry g{n, h, w, c, kh, kw, k, sh, sw};
        const auto ey = padded_extent(h, kh, sh, padding);
        const auto ex = padded_extent(w, kw, sw, padding);
        g.oh = ey.out;
        g.ow = ex.out;
        g.pad_top = ey.before;
        g.pad_left = ex.before;
        return g;
    }
    [[nodiscard]] index_t patch() const { return kh * kw * c; }        // columns of the im2col matrix
    [[nodiscard]] index_t out_pixels() const { return oh * ow; }       // rows of it, per image
    [[nodiscard]] index_t in_image() const { return h * w * c; }
    [[nodiscard]] index_t out_image() const { return oh * ow * k; }
    /// Output pixels per im2col tile of about `kib` KiB of scratch (kept within L2). Measured on a 2-core Xeon
    /// (bench_conv): the forward pass is fastest with ~1 MiB tiles, backward with ~256 KiB.
    [[nodiscard]] index_t tile_pixels(std::size_t elem_size, std::size_t kib) const {
        const index_t target = static_cast<index_t>((kib * 1024) / (elem_size * static_cast<std::size_t>(patch())));
        return std::clamp<index_t>(target, 16, std::max<index_t>(out_pixels(), 1));
    }
};

/// Writes rows [p0, p1) of image `x`'s im2col matrix into `col` ([p1 - p0, patch], row-major): row p holds the
/// KH x KW x C window of output pixel p, zeros where it overlaps the padding. In NHWC each kernel row of a window
/// is one run of KW * C contiguous values, so the copy is KH memcpy calls per pixel away from the borders.
template <class T>
void im2col_tile(const Conv2DGeometry& g, const T* x, index_t p0, index_t p1, T* col) {
    const index_t run = g.kw * g.c;
    for (index_t p = p0; p < p1; ++p) {
        const index_t oy = p / g.ow, ox = p % g.ow;
        const index_t iy0 = oy * g.sh - g.pad_top, ix0 = ox * g.sw - g.pad_left;
        const index_t kx_lo = std::max<index_t>(0, -ix0), kx_hi = std::min<index_t>(g.kw, g.w - ix0);
        T* row = col + (p - p0) * g.patch();
        for (index_t ky = 0; ky < g.kh; ++ky) {
            T* dst = row + ky * run;
            const index_t iy = iy0 + ky;
            if (iy < 0 || iy >= g.h || kx_lo >= kx_hi) {
                std::fill_n(dst, run, T(0));
                continue;
            }
            std::fill_n(dst, kx_lo * g.c, T(0));
            std::memcpy(dst + kx_lo * g.c, x + (iy * g.w + ix0 + kx_lo) * g.c,
                        static_cast<std::size_t>((kx_hi - kx_lo) * g.c) * sizeof(T));
            std::fill_n(dst + kx_hi * g.c, (g.kw - kx_hi) * g.c, T(0));
        }
    }
}

/// The adjoint of im2col_tile: adds each row of `col` back into the window of image gradient `dx` it came from.
template <class T>
void col2im_tile(const Conv2DGeometry& g, const T* col, index_t p0, index_t p1, T* dx) {
    for (index_t p = p0; p < p1; ++p) {
        const index_t oy = p / g.ow, ox = p % g.ow;
        const index_t iy0 = oy * g.sh - g.pad_top, ix0 = ox * g.sw - g.pad_left;
        const index_t kx_lo = std::max<index_t>(0, -ix0), kx_hi = std::min<index_t>(g.kw, g.w - ix0);
        const T* row = col + (p - p0) * g.patch();
        for (index_t ky = 0; ky < g.kh; ++ky) {
            const index_t iy = iy0 + ky;
            if (iy < 0 || iy >= g.h || kx_lo >= kx_hi) continue;
            const T* src = row + (ky * g.kw + kx_lo) * g.c;
            T* dst = dx + (iy * g.w + ix0 + kx_lo) * g.c;
            const index_t len = (kx_hi - kx_lo) * g.c;
            for (index_t i = 0; i < len; ++i) dst[i] += src[i];
        }
    }
}

/// y[N,OH,OW,K] = conv(x, w) + bias, then ReLU when `relu`. `bias` may be null. Parallel over (image, tile);
/// the weights are packed once for the packed GEMM (Note [Packed GEMM] in gemm.hpp).
template <class T>
void conv2d_forward(const Conv2DGeometry& g, const T* x, const T* w, const T* bias, bool relu, T* y) {
    const index_t tile = g.tile_pixels(sizeof(T), 1024);
    const index_t tiles_per_image = (g.out_pixels() + tile - 1) / tile;
    const index_t work = g.n * tiles_per_image;
    const PackedB<T> wp(false, w, g.k, g.patch(), g.k);  // [KH*KW*C, K], packed once for every tile
    parallel_region([&](int tid, int nthreads) {
        Storage<T> col(static_cast<std::size_t>(tile * g.patch()));
        const index_t lo = work * tid / nthreads, hi = work * (tid + 1) / nthreads;
        for (index_t item = lo; item < hi; ++item) {
            const index_t img = item / tiles_per_image;
            const index_t p0 = (item % tiles_per_image) * tile, p1 = std::min(p0 + tile, g.out_pixels());
            im2col_tile(g, x + img * g.in_image(), p0, p1, col.data());
            T* out = y + img * g.out_image() + p0 * g.k;
            // [P, KH*KW*C] x [KH*KW*C, K] -> [P, K]
            gemm_packed(false, p1 - p0, col.data(), g.patch(), wp, false, out, g.k);
            if (bias || relu) {
                for (index_t p = 0; p < p1 - p0; ++p) {
                    T* o = out + p * g.k;
                    if (bias)
                        for (index_t j = 0; j < g.k; ++j) o[j] += bias[j];
                    if (relu)
                        for (index_t j = 0; j < g.k; ++j) o[j] = o[j] < T(0) ? T(0) : o[j];  // NaN propagates, as in TensorFlow
                }
            }
        }
    });
}

/// Backward of conv2d_forward given dy (already multiplied by the ReLU mask when fused): adds into dx (may be
/// null), dw [KH,KW,C,K] and db [K] (may be null). Each image's im2col tile is built once and used for both the
/// weight gradient (col^T dy) and the data gradient (dy w^T, scattered by col2im). Parallel over images, with
/// one dw/db accumulator per thread summed at the end (deterministic for a given thread count).
template <class T>
void conv2d_backward(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
    const index_t tile = g.tile_pixels(sizeof(T), 256);
    const index_t wsize = g.patch() * g.k;
    const int nt = static_cast<int>(std::min<index_t>(std::max<index_t>(g.n, 1), max_threads()));
    std::vector<std::vector<T>> dw_parts(static_cast<std::size_t>(nt)), db_parts(static_cast<std::size_t>(nt));
    PackedB<T> wt;  // W^T [K, KH*KW*C], packed once for every tile's data gradient
    if (dx) wt = PackedB<T>(true, w, g.k, g.k, g.patch());
    parallel_region(
        [&](int tid, int nthreads) {
            Storage<T> col(static_cast<std::size_t>(tile * g.patch()));
            Storage<T> dcol(static_cast<std::size_t>(tile * g.patch()));
            auto& my_dw = dw_parts[static_cast<std::size_t>(tid)];
            auto& my_db = db_parts[static_cast<std::size_t>(tid)];
            if (dw) my_dw.assign(static_cast<std::size_t>(wsize), T(0));
            if (db) my_db.assign(static_cast<std::size_t>(g.k), T(0));
            const index_t lo = g.n * tid / nthreads, hi = g.n * (tid + 1) / nthreads;
            for (index_t img = lo; img < hi; ++img) {
                const T* xi = x + img * g.in_image();
                const T* dyi = dy + img * g.out_image();
                for (index_t p0 = 0; p0 < g.out_pixels(); p0 += tile) {
                    const index_t p1 = std::min(p0 + tile, g.out_pixels()), np = p1 - p0;
                    const T* dyt = dyi + p0 * g.k;
                    if (dw) {
                        im2col_tile(g, xi, p0, p1, col.data());
                        // [KH*KW*C, P] x [P, K] -> [KH*KW*C, K]
                        gemm<T>(true, false, g.patch(), g.k, np, T(1), col.data(), g.patch(), dyt, g.k, T(1),
                                my_dw.data(), g.k);
                    }
                    if (db)
                        for (index_t p = 0; p < np; ++p)
                            for (index_t j = 0; j < g.k; ++j) my_db[static_cast<std::size_t>(j)] += dyt[p * g.k + j];
                    if (dx) {
                        // [P, K] x [K, KH*KW*C] -> [P, KH*KW*C]
                        gemm_packed(false, np, dyt, g.k, wt, false, dcol.data(), g.patch());
                        col2im_tile(g, dcol.data(), p0, p1, dx + img * g.in_image());
                    }
                }
            }
        },
        nt);
    for (const auto& part : dw_parts)
        if (dw && !part.empty())
            for (index_t i = 0; i < wsize; ++i) dw[i] += part[static_cast<std::size_t>(i)];
    for (const auto& part : db_parts)
        if (db && !part.empty())
            for (index_t j = 0; j < g.k; ++j) db[j] += part[static_cast<std::size_t>(j)];
}

}  // namespace ember::kernels
