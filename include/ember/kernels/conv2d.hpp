// ember/kernels/conv2d.hpp - 2-D convolution on raw NHWC memory, forward (implicit, Winograd, tiled im2col + GEMM);
// the backward pass is kernels/conv2d_backward.hpp, which this header includes.
// Input [N,H,W,C], kernel HWIO [KH,KW,C,K] (Keras' layout), output [N,OH,OW,K]. Callers check shapes first.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/shape.hpp"
#include "ember/core/storage.hpp"
#include "ember/kernels/gemm.hpp"
#include "ember/core/parallel.hpp"
#include "ember/kernels/winograd.hpp"

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

// Note [Implicit convolution]: in NHWC with stride sw, the im2col rows of MR neighbouring output pixels of one
// output row, restricted to kernel row ky, are MR windows of KW * C contiguous values spaced sw * C apart in the
// (zero-padded) input row oy * sh + ky. The GEMM micro-kernel reads such an A in place (rs = sw * C, cs = 1), so
// the convolution is a sum over ky of micro-kernel calls on the input itself: no im2col copy (it was 3.3 GB of
// writes per conv2 forward at batch 32), and A's footprint per call is (MR + KW) * C values in L1. Borders are
// handled once per image by a zero-padded copy of it (4 MB for conv2), so every output pixel is an interior one.
// Backward-data at stride 1 is the same kernel run on the padded dy with the kernel flipped and transposed;
// backward-weights reads windows of the padded input the other way round (rs = 1, cs = C) against dy rows in
// place. The ReLU mask is applied while dy is copied into its padded buffer, and the bias gradient summed there.

/// Which algorithm a convolution uses. `automatic` picks Winograd (Note [Winograd convolution]) for the forward
/// pass and backward-data wherever it applies (stride 1, 3x3 or 5x5, at least kWinogradMinChannels channels in
/// and out), the implicit convolution for the rest (forward always, backward at stride 1), else tiled im2col +
/// GEMM. `winograd` asks for Winograd where it applies (at any channel count) and otherwise behaves as
/// `automatic` (implicit, or im2col for backward at stride > 1); `implicit` and `im2col` pin those. Tests pin
/// each to check them all.
enum class ConvAlgo { automatic, im2col, implicit, winograd };

/// Fewer channels than this (in or out) and the Winograd transforms cost more than the multiplications saved.
inline constexpr index_t kWinogradMinChannels = 16;

namespace conv_detail {

inline bool use_implicit_forward(ConvAlgo algo) {
    return algo != ConvAlgo::im2col;
}
inline bool use_implicit_backward(const Conv2DGeometry& g, ConvAlgo algo) {
    if (g.sh != 1 || g.sw != 1) return false;  // backward-data as a flipped convolution needs stride 1
    return algo != ConvAlgo::im2col;
}
/// Whether a stride-1 convolution shaped like g (its c channels in, k out) goes through Winograd under `algo`.
inline bool use_winograd(const Conv2DGeometry& g, ConvAlgo algo) {
    if (algo != ConvAlgo::automatic && algo != ConvAlgo::winograd) return false;
    if (algo == ConvAlgo::automatic && (g.c < kWinogradMinChannels || g.k < kWinogradMinChannels)) return false;
    return g.c > 0 && g.k > 0 && g.sh == 1 && g.sw == 1 && winograd::has_transforms(g.kh, g.kw);
}

/// Writes rows [r0, r1) of xp [.., wp, c], the zero-padded copy of image x [h, w, c] placed at (top, left)
/// (columns of x beyond wp - left are dropped). With `mask` (one byte per value of x), copies x where the mask
/// is non-zero and 0 elsewhere (the ReLU derivative); with `csum`, adds the copied values of each channel into
/// csum[c], row by row (a row's sum first: a bias gradient sums a million values, whose rounding error a running
/// float sum lets grow with their count).
template <class T>
void pad_rows(const T* x, index_t h, index_t w, index_t c, index_t top, index_t left, index_t wp, index_t r0,
              index_t r1, T* xp, const std::uint8_t* mask, T* csum) {
    const index_t cols = std::max<index_t>(std::min(w, wp - left), 0), row = wp * c;
    std::vector<T> row_sum(csum ? static_cast<std::size_t>(c) : 0);
    for (index_t r = r0; r < r1; ++r) {
        T* dst = xp + r * row;
        const index_t iy = r - top;
        if (iy < 0 || iy >= h) {
            std::fill_n(dst, row, T(0));
            continue;
        }
        std::fill_n(dst, left * c, T(0));
        T* d = dst + left * c;
        const T* src = x + iy * w * c;
        if (mask) {
            const std::uint8_t* m = mask + iy * w * c;
            for (index_t i = 0; i < cols * c; ++i) d[i] = m[i] ? src[i] : T(0);
        } else {
            std::memcpy(d, src, static_cast<std::size_t>(cols * c) * sizeof(T));
        }
        if (csum) {
            std::fill(row_sum.begin(), row_sum.end(), T(0));
            for (index_t px = 0; px < cols; ++px)
                for (index_t ch = 0; ch < c; ++ch) row_sum[static_cast<std::size_t>(ch)] += d[px * c + ch];
            for (index_t ch = 0; ch < c; ++ch) csum[ch] += row_sum[static_cast<std::size_t>(ch)];
        }
        std::fill_n(d + cols * c, row - (left + cols) * c, T(0));
    }
}

/// The forward epilogue on `pixels` output pixels of K values at `out`: adds the bias, applies ReLU, and, with
/// `mask`, records where the output is positive (the ReLU derivative backward needs), while the values are in
/// cache. Any of bias, relu, mask may be off.
template <class T>
void epilogue(T* out, index_t pixels, index_t k, const T* bias, bool relu, std::uint8_t* mask) {
    if (!bias && !relu && !mask) return;
    for (index_t p = 0; p < pixels; ++p) {
        T* o = out + p * k;
        if (bias)
            for (index_t j = 0; j < k; ++j) o[j] += bias[j];
        if (relu)
            for (index_t j = 0; j < k; ++j) o[j] = o[j] < T(0) ? T(0) : o[j];  // NaN propagates, as in TensorFlow
        if (mask) {
            std::uint8_t* m = mask + p * k;
            for (index_t j = 0; j < k; ++j) m[j] = o[j] > T(0) ? 1 : 0;
        }
    }
}

/// Output rows [oy0, oy1) of one image of an implicit convolution: y[oy, ox, :] (+)= sum over ky of the window
/// of xp row oy * sh + ky times the packed kernel rows (PackedB with group = KW * C). `xs` is xp's row stride.
/// Then the epilogue (bias, ReLU, mask; `mask` is the image's), while the row is in cache.
template <class T>
void implicit_rows(const Conv2DGeometry& g, const T* xp, index_t xs, const PackedB<T>& wp, index_t oy0,
                   index_t oy1, T* y, bool accumulate, const T* bias, bool relu, std::uint8_t* mask = nullptr) {
    using B = gemm_detail::Blocking<T>;
    const index_t kwc = g.kw * g.c;
    for (index_t oy = oy0; oy < oy1; ++oy) {
        T* yrow = y + oy * g.ow * g.k;
        bool first = !accumulate;
        for (const auto& [p0, kc] : wp.slices()) {
            const index_t ky = p0 / kwc, d0 = p0 % kwc;
            const T* arow = xp + (oy * g.sh + ky) * xs + d0;
            const T* bslice = wp.slice(p0);
            for (index_t j0 = 0; j0 < g.k; j0 += B::nr)
                for (index_t ox0 = 0; ox0 < g.ow; ox0 += B::mr)
                    gemm_detail::micro_kernel(kc, arow + ox0 * g.sw * g.c, g.sw * g.c, index_t{1}, bslice + j0 * kc,
                                              index_t{B::nr}, yrow + ox0 * g.k + j0, g.k, !first,
                                              std::min<index_t>(B::mr, g.ow - ox0), std::min<index_t>(B::nr, g.k - j0));
            first = false;
        }
        if (first)  // no kernel rows at all (empty kernel): the product is zero
            std::fill_n(yrow, g.ow * g.k, T(0));
        epilogue(yrow, g.ow, g.k, bias, relu, mask ? mask + oy * g.ow * g.k : nullptr);
    }
}

/// True when over_images gives each thread whole images; false when it splits each image over all threads.
inline bool whole_images(index_t n) {
    const int nt = max_threads();
    return nt <= 1 || in_parallel_region() || n >= 4 * nt || (n >= nt && n % nt == 0);
}
/// How many workspaces over_images(n, ...) uses: one per thread, or one shared when it splits images.
inline int workspaces_for(index_t n) { return whole_images(n) ? max_threads() : 1; }

/// Runs a per-image job over a batch: `prep(img, ws, tid, part, parts)` fills workspace `ws` for image `img`
/// (its share `part` of `parts`), then `rows(img, ws, tid, part, parts)` computes that share of the image's rows.
/// With at least as many images as threads, each thread takes whole images and its own workspace (ws = tid);
/// otherwise (batch 1) the images go one by one, each split over all threads, sharing workspace 0.
template <class Prep, class Rows>
void over_images(index_t n, Prep&& prep, Rows&& rows) {
    if (whole_images(n)) {
        parallel_region([&](int tid, int nthreads) {
            const index_t lo = n * tid / nthreads, hi = n * (tid + 1) / nthreads;
            for (index_t img = lo; img < hi; ++img) {
                prep(img, tid, tid, 0, 1);
                rows(img, tid, tid, 0, 1);
            }
        });
        return;
    }
    for (index_t img = 0; img < n; ++img) {
        parallel_region([&](int tid, int nthreads) { prep(img, 0, tid, tid, nthreads); });
        parallel_region([&](int tid, int nthreads) { rows(img, 0, tid, tid, nthreads); });
    }
}

/// Extent of the padded input the implicit forward reads: (OH - 1) * sh + KH rows of (OW - 1) * sw + KW pixels.
inline index_t padded_rows(const Conv2DGeometry& g) { return (g.oh - 1) * g.sh + g.kh; }
inline index_t padded_cols(const Conv2DGeometry& g) { return (g.ow - 1) * g.sw + g.kw; }
/// False when the input can be read in place ('valid' padding: every window lies inside the image).
inline bool needs_padding(const Conv2DGeometry& g) {
    return g.pad_top > 0 || g.pad_left > 0 || padded_rows(g) > g.h || padded_cols(g) > g.w;
}

// Note [Folded kernel rows]: with few input channels a kernel row is too shallow for the micro-kernel (conv1 of
// the reference model: KW * C = 15 values, so each call does 15 FMA steps between loading and storing its 24
// accumulators, and backward-weights fills 15 of 24 rows of a block). Folding stacks, for each output row, the
// KH input rows it reads channel-wise: F[oy][x][ky][c] = padded x[oy * sh + ky][x][c]. Output row oy is then a
// 1 x KW convolution of F's row oy over KH * C channels, with stride (1, sw), and the window of output pixel ox
// is one run of KW * KH * C contiguous values at F[oy][ox * sw]: one micro-kernel call of depth 75 instead of
// five of depth 15. The kernel is permuted to match ([KW][KH][C][K] instead of [KH][KW][C][K]). F costs KH / sh
// times the padded input's memory, which is small exactly when folding pays (C small).

/// True when the implicit kernels fold kernel rows (Note [Folded kernel rows]).
inline bool folds_rows(const Conv2DGeometry& g) { return g.kh > 1 && g.kw * g.c < 32; }

/// The convolution the implicit kernels compute on F: OH rows of padded_cols pixels with KH * C channels,
/// kernel 1 x KW, stride (1, sw), no padding.
inline Conv2DGeometry folded(const Conv2DGeometry& g) {
    return Conv2DGeometry{g.n, g.oh, padded_cols(g), g.kh * g.c, 1, g.kw, g.k, 1, g.sw, 0, 0, g.oh, g.ow};
}

/// Calls f(i, j) for every kernel row (ky, kx, ci) of K values: i its offset in [KH][KW][C][K], j in the folded
/// [KW][KH][C][K] order.
template <class F>
void each_folded_row(const Conv2DGeometry& g, F&& f) {
    for (index_t ky = 0; ky < g.kh; ++ky)
        for (index_t kx = 0; kx < g.kw; ++kx)
            for (index_t ci = 0; ci < g.c; ++ci)
                f(((ky * g.kw + kx) * g.c + ci) * g.k, ((kx * g.kh + ky) * g.c + ci) * g.k);
}

/// Adds each thread's partial gradient into `out` (skipped when null), in thread order: deterministic for a
/// given thread count.
template <class T>
void add_parts(const std::vector<std::vector<T>>& parts, T* out) {
    if (!out) return;
    for (const auto& part : parts)
        for (std::size_t i = 0; i < part.size(); ++i) out[i] += part[i];
}

/// The input as the implicit kernels read it: each image copied into a zero-padded workspace of
/// padded_rows x padded_cols pixels, folded (Note [Folded kernel rows]) where the channels are few, or read in
/// place where no window leaves the image ('valid'). `view` is the convolution the kernels then compute.
template <class T>
struct PaddedInput {
    const Conv2DGeometry& g;
    const T* x;
    bool fold = folds_rows(g);
    bool pad = fold || needs_padding(g);
    Conv2DGeometry view = fold ? folded(g) : g;
    index_t stride = (pad ? padded_cols(g) : g.w) * view.c;  // elements from one row to the next

    PaddedInput(const Conv2DGeometry& geometry, const T* input) : g(geometry), x(input) {}
    /// A workspace for one image (empty when the input is read in place).
    [[nodiscard]] Storage<T> workspace() const {
        return Storage<T>(pad ? static_cast<std::size_t>((fold ? g.oh : padded_rows(g)) * stride) : 0);
    }
    /// Fills share `part` of `parts` of image img's rows into `ws`.
    void fill(index_t img, int part, int parts, Storage<T>& ws) const {
        if (!pad) return;
        const T* xi = x + img * g.in_image();
        if (!fold) {
            const index_t hp = padded_rows(g);
            pad_rows(xi, g.h, g.w, g.c, g.pad_top, g.pad_left, padded_cols(g), hp * part / parts,
                     hp * (part + 1) / parts, ws.data(), static_cast<const std::uint8_t*>(nullptr),
                     static_cast<T*>(nullptr));
            return;
        }
        // C is small here: a memcpy call per pixel would cost more than the copy, and a loop of unknown trip
        // count nearly as much, so the common channel counts get their own copy loops.
        switch (g.c) {
            case 1: fold_image<1>(xi, part, parts, ws); break;
            case 2: fold_image<2>(xi, part, parts, ws); break;
            case 3: fold_image<3>(xi, part, parts, ws); break;
            case 4: fold_image<4>(xi, part, parts, ws); break;
            default: fold_image<0>(xi, part, parts, ws); break;
        }
    }
    /// Writes F's rows of share `part` of `parts` (Note [Folded kernel rows]); C = g.c, or a compile-time CT.
    template <index_t CT>
    void fold_image(const T* xi, int part, int parts, Storage<T>& ws) const {
        const index_t c = CT > 0 ? CT : g.c;
        const index_t wp = padded_cols(g), run = g.kh * c;
        const index_t x0 = std::min(g.pad_left, wp), x1 = std::clamp<index_t>(g.pad_left + g.w, x0, wp);
        for (index_t r = g.oh * part / parts, r1 = g.oh * (part + 1) / parts; r < r1; ++r) {
            T* row = ws.data() + r * stride;
            for (index_t ky = 0; ky < g.kh; ++ky) {
                const index_t iy = r * g.sh + ky - g.pad_top;
                T* d = row + ky * c;
                const bool inside = iy >= 0 && iy < g.h;
                const T* src = xi + (inside ? iy : 0) * g.w * c;
                for (index_t px = 0; px < wp; ++px) {
                    T* dp = d + px * run;
                    if (inside && px >= x0 && px < x1) {
                        const T* sp = src + (px - g.pad_left) * c;
                        // A fixed-size memcpy, not a loop: GCC 12.2 at -O3 with AVX-512 vectorised the loop
                        // wrongly for C = 3 and 4 (caught by the conv2d reference test).
                        if constexpr (CT > 0)
                            std::memcpy(dp, sp, sizeof(T) * CT);
                        else
                            for (index_t ci = 0; ci < c; ++ci) dp[ci] = sp[ci];
                    } else {
                        for (index_t ci = 0; ci < c; ++ci) dp[ci] = T(0);
                    }
                }
            }
        }
    }
    /// Row 0 of image img as the kernels read it.
    [[nodiscard]] const T* rows(index_t img, const Storage<T>& ws) const { return pad ? ws.data() : x + img * g.in_image(); }
    /// The kernel w [KH,KW,C,K] packed for view's kernel rows (permuted when folded).
    [[nodiscard]] PackedB<T> pack(const T* w) const {
        if (!fold) return PackedB<T>(false, w, g.k, g.patch(), g.k, g.kw * g.c);
        std::vector<T> wf(static_cast<std::size_t>(g.patch() * g.k));
        each_folded_row(g, [&](index_t i, index_t j) { std::copy_n(w + i, g.k, wf.data() + j); });
        return PackedB<T>(false, wf.data(), g.k, g.patch(), g.k, g.patch());
    }
    /// Adds per-thread weight gradients computed in view's order into dw [KH,KW,C,K] (skipped when null), in
    /// thread order.
    void add_weight_grads(const std::vector<std::vector<T>>& parts, T* dw) const {
        if (!fold || !dw) return add_parts(parts, dw);
        for (const auto& part : parts)
            each_folded_row(g, [&](index_t i, index_t j) {
                for (index_t f = 0; f < g.k; ++f) dw[i + f] += part[static_cast<std::size_t>(j + f)];
            });
    }
};

template <class T>
void forward_im2col(const Conv2DGeometry& g, const T* x, const T* w, const T* bias, bool relu, T* y,
                    std::uint8_t* mask) {
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
            epilogue(out, p1 - p0, g.k, bias, relu, mask ? mask + img * g.out_image() + p0 * g.k : nullptr);
        }
    });
}

/// Forward through Winograd's F(2x2, RxR): each image is copied into a zero-padded workspace covering all its
/// 2x2 output tiles, then its tile rows are transformed, multiplied and transformed back, with the epilogue
/// run on each finished pair of output rows.
template <class T>
void forward_winograd(const Conv2DGeometry& g, const T* x, const T* w, const T* bias, bool relu, T* y,
                      std::uint8_t* mask) {
    const index_t hp = winograd::input_extent(g.oh, g.kh), wp = winograd::input_extent(g.ow, g.kw);
    const index_t th = winograd::tiles(g.oh);
    const PackedB<T> u = winograd::transform_kernel(g.kh, w, g.c, g.k);
    std::vector<Storage<T>> ws;
    for (int t = 0; t < workspaces_for(g.n); ++t) ws.emplace_back(static_cast<std::size_t>(hp * wp * g.c));
    over_images(
        g.n,
        [&](index_t img, int s, int, int part, int parts) {
            pad_rows(x + img * g.in_image(), g.h, g.w, g.c, g.pad_top, g.pad_left, wp, hp * part / parts,
                     hp * (part + 1) / parts, ws[static_cast<std::size_t>(s)].data(),
                     static_cast<const std::uint8_t*>(nullptr), static_cast<T*>(nullptr));
        },
        [&](index_t img, int s, int, int part, int parts) {
            T* yi = y + img * g.out_image();
            std::uint8_t* mi = mask ? mask + img * g.out_image() : nullptr;
            winograd::rows(g.kh, ws[static_cast<std::size_t>(s)].data(), wp * g.c, g.c, g.k, g.oh, g.ow, u,
                           th * part / parts, th * (part + 1) / parts, yi, false, [&](index_t oy0, index_t oy1) {
                               epilogue(yi + oy0 * g.ow * g.k, (oy1 - oy0) * g.ow, g.k, bias, relu,
                                        mi ? mi + oy0 * g.ow * g.k : nullptr);
                           });
        });
}

template <class T>
void forward_implicit(const Conv2DGeometry& g, const T* x, const T* w, const T* bias, bool relu, T* y,
                      std::uint8_t* mask) {
    const PaddedInput<T> in(g, x);
    const PackedB<T> wp = in.pack(w);
    std::vector<Storage<T>> ws;
    for (int t = 0; t < workspaces_for(g.n); ++t) ws.push_back(in.workspace());
    over_images(
        g.n,
        [&](index_t img, int s, int, int part, int parts) { in.fill(img, part, parts, ws[static_cast<std::size_t>(s)]); },
        [&](index_t img, int s, int, int part, int parts) {
            implicit_rows(in.view, in.rows(img, ws[static_cast<std::size_t>(s)]), in.stride, wp, g.oh * part / parts,
                          g.oh * (part + 1) / parts, y + img * g.out_image(), false, bias, relu,
                          mask ? mask + img * g.out_image() : nullptr);
        });
}

}  // namespace conv_detail

/// y[N,OH,OW,K] = conv(x, w) + bias, then ReLU when `relu`. `bias` may be null. With `mask` (N*OH*OW*K bytes),
/// also writes mask[i] = (y[i] > 0), what relu_mask(y) would, in the same pass. Parallel over images (or, for
/// fewer images than threads, over output rows); the weights are packed once (Note [Packed GEMM] in gemm.hpp).
template <class T>
void conv2d_forward(const Conv2DGeometry& g, const T* x, const T* w, const T* bias, bool relu, T* y,
                    ConvAlgo algo = ConvAlgo::automatic, std::uint8_t* mask = nullptr) {
    if (g.n == 0 || g.oh == 0 || g.ow == 0 || g.k == 0) return;
    if (conv_detail::use_winograd(g, algo))
        conv_detail::forward_winograd(g, x, w, bias, relu, y, mask);
    else if (conv_detail::use_implicit_forward(algo))
        conv_detail::forward_implicit(g, x, w, bias, relu, y, mask);
    else
        conv_detail::forward_im2col(g, x, w, bias, relu, y, mask);
}

}  // namespace ember::kernels

// The backward pass (and the explicit instantiations of both entry points) lives beside it.
#include "ember/kernels/conv2d_backward.hpp"
