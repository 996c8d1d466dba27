// ember/kernels/conv2d_backward.hpp - the backward pass of kernels/conv2d.hpp: the gradients of a 2-D convolution
// on raw NHWC memory (data, weights, bias), through the implicit kernels, Winograd or tiled im2col + GEMM.
#pragma once

#include "ember/kernels/conv2d.hpp"

namespace ember::kernels {

namespace conv_detail {

/// Backward over tiled im2col: each image's tile is built once and used for both the weight gradient
/// (col^T dy) and the data gradient (dy w^T, scattered by col2im). Parallel over images, one dw/db accumulator
/// per thread summed at the end (deterministic for a given thread count). dy is already masked.
template <class T>
void backward_im2col(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db) {
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
            std::vector<T> tile_db(db ? static_cast<std::size_t>(g.k) : 0);
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
                    if (db) {  // the tile's sum first, then into the running one (see pad_rows)
                        std::fill(tile_db.begin(), tile_db.end(), T(0));
                        for (index_t p = 0; p < np; ++p)
                            for (index_t j = 0; j < g.k; ++j) tile_db[static_cast<std::size_t>(j)] += dyt[p * g.k + j];
                        for (index_t j = 0; j < g.k; ++j) my_db[static_cast<std::size_t>(j)] += tile_db[static_cast<std::size_t>(j)];
                    }
                    if (dx) {
                        // [P, K] x [K, KH*KW*C] -> [P, KH*KW*C]
                        gemm_packed(false, np, dyt, g.k, wt, false, dcol.data(), g.patch());
                        col2im_tile(g, dcol.data(), p0, p1, dx + img * g.in_image());
                    }
                }
            }
        },
        nt);
    add_parts(dw_parts, dw);
    add_parts(db_parts, db);
}

/// The kernel backward-data convolves dy with: w flipped in both spatial dimensions with its channels swapped,
/// w'[ky', kx', k, c] = w[KH-1-ky', KW-1-kx', c, k], packed for the implicit kernels or transformed for Winograd.
template <class T>
PackedB<T> flipped_kernel(const Conv2DGeometry& g, const T* w, bool winograd_transform) {
    std::vector<T> wt(static_cast<std::size_t>(g.patch() * g.k));
    for (index_t ky = 0; ky < g.kh; ++ky)
        for (index_t kx = 0; kx < g.kw; ++kx)
            for (index_t ci = 0; ci < g.c; ++ci)
                for (index_t f = 0; f < g.k; ++f)
                    wt[static_cast<std::size_t>((((g.kh - 1 - ky) * g.kw + (g.kw - 1 - kx)) * g.k + f) * g.c + ci)] =
                        w[((ky * g.kw + kx) * g.c + ci) * g.k + f];
    return winograd_transform ? winograd::transform_kernel(g.kh, wt.data(), g.k, g.c)
                              : PackedB<T>(false, wt.data(), g.c, g.kh * g.kw * g.k, g.c, g.kw * g.k);
}

/// Adds the weight gradient of output rows [oy0, oy1) of one image into `dw` ([v.kh][v.kw * v.c][K], the view's
/// layout): for each kernel row ky, x windows^T [d, pixels] times dy [pixels, K], in chunks of output pixels
/// that keep both in L1. `xp` is the image as `in` reads it; `dy0` points at dy's (oy = 0, ox = 0) value in the
/// padded dy buffer of row stride `dys`.
template <class T>
void weight_grad_rows(const Conv2DGeometry& g, const PaddedInput<T>& in, const T* xp, const T* dy0, index_t dys,
                      index_t oy0, index_t oy1, T* dw) {
    using B = gemm_detail::Blocking<T>;
    constexpr index_t kChunk = 128;
    const Conv2DGeometry& v = in.view;  // folded or not, the windows are read as v's
    const index_t vkwc = v.kw * v.c;
    for (index_t oy = oy0; oy < oy1; ++oy) {
        const T* dyrow = dy0 + oy * dys;
        for (index_t ky = 0; ky < v.kh; ++ky) {
            const T* xrow = xp + (oy + ky) * in.stride;
            for (index_t ox0 = 0; ox0 < g.ow; ox0 += kChunk) {
                const index_t np = std::min(kChunk, g.ow - ox0);
                for (index_t d0 = 0; d0 < vkwc; d0 += B::mr)
                    for (index_t j0 = 0; j0 < g.k; j0 += B::nr)
                        gemm_detail::micro_kernel(np, xrow + ox0 * v.c + d0, index_t{1}, v.c, dyrow + ox0 * g.k + j0,
                                                  g.k, dw + (ky * vkwc + d0) * g.k + j0, g.k, true,
                                                  std::min<index_t>(B::mr, vkwc - d0), std::min<index_t>(B::nr, g.k - j0));
            }
        }
    }
}

/// Implicit backward at stride 1 (Note [Implicit convolution]). dy is masked by relu_mask (when given) while it
/// is copied into its padded buffer, which backward-data reads as its input and backward-weights as its B.
template <class T>
void backward_implicit(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, const std::uint8_t* relu_mask,
                       T* dx, T* dw, T* db, ConvAlgo algo) {
    using B = gemm_detail::Blocking<T>;
    const index_t wsize = g.patch() * g.k;
    // Backward-data is the stride-1 convolution of dy, padded by (KH-1-top, KW-1-left), with the kernel
    // flipped in both spatial dimensions and its channels swapped: w'[ky', kx', k, c] = w[KH-1-ky', KW-1-kx', c, k].
    // Through Winograd, the padded dy covers all 2x2 tiles of dx (a row and column more when H, W are odd).
    const index_t tpt = g.kh - 1 - g.pad_top, tpl = g.kw - 1 - g.pad_left;
    auto tg = Conv2DGeometry{g.n, g.h + g.kh - 1, g.w + g.kw - 1, g.k, g.kh, g.kw, g.c, 1, 1, 0, 0, g.h, g.w};
    const bool wino = dx && use_winograd(tg, algo);
    if (wino) {
        tg.h = winograd::input_extent(g.h, g.kh);
        tg.w = winograd::input_extent(g.w, g.kw);
    }
    const index_t dhp = tg.h, dwp = tg.w, dys = dwp * g.k;
    PackedB<T> wtp;
    if (dx) wtp = flipped_kernel(g, w, wino);
    const PaddedInput<T> in(g, x);  // read only for dw
    const int nt = max_threads();
    struct Workspace {
        Storage<T> dyp, xp;
    };
    std::vector<Workspace> ws;
    std::vector<std::vector<T>> dw_parts(static_cast<std::size_t>(nt)), db_parts(static_cast<std::size_t>(nt));
    for (int t = 0; t < workspaces_for(g.n); ++t) {
        // B::nr values of slack: the weight-gradient micro-kernel loads whole NR-wide rows of dy.
        ws.push_back({Storage<T>(static_cast<std::size_t>(dhp * dys + B::nr)), dw ? in.workspace() : Storage<T>()});
        std::fill_n(ws.back().dyp.data() + dhp * dys, B::nr, T(0));
    }
    for (int t = 0; t < nt; ++t) {  // partial sums per thread, in either mode
        if (dw) dw_parts[static_cast<std::size_t>(t)].assign(static_cast<std::size_t>(wsize), T(0));
        if (db) db_parts[static_cast<std::size_t>(t)].assign(static_cast<std::size_t>(g.k), T(0));
    }
    over_images(
        g.n,
        [&](index_t img, int s, int tid, int part, int parts) {
            auto& wk = ws[static_cast<std::size_t>(s)];
            pad_rows(dy + img * g.out_image(), g.oh, g.ow, g.k, tpt, tpl, dwp, dhp * part / parts,
                     dhp * (part + 1) / parts, wk.dyp.data(), relu_mask ? relu_mask + img * g.out_image() : nullptr,
                     db ? db_parts[static_cast<std::size_t>(tid)].data() : nullptr);
            if (dw) in.fill(img, part, parts, wk.xp);
        },
        [&](index_t img, int s, int tid, int part, int parts) {
            auto& wk = ws[static_cast<std::size_t>(s)];
            if (dx && wino) {
                const index_t th = winograd::tiles(g.h);
                winograd::rows(g.kh, wk.dyp.data(), dys, g.k, g.c, g.h, g.w, wtp, th * part / parts,
                               th * (part + 1) / parts, dx + img * g.in_image(), true, [](index_t, index_t) {});
            } else if (dx) {
                implicit_rows(tg, wk.dyp.data(), dys, wtp, g.h * part / parts, g.h * (part + 1) / parts,
                              dx + img * g.in_image(), true, static_cast<const T*>(nullptr), false);
            }
            if (!dw) return;
            weight_grad_rows(g, in, in.rows(img, wk.xp), wk.dyp.data() + tpt * dys + tpl * g.k, dys,
                             g.oh * part / parts, g.oh * (part + 1) / parts, dw_parts[static_cast<std::size_t>(tid)].data());
        });
    in.add_weight_grads(dw_parts, dw);
    add_parts(db_parts, db);
}

}  // namespace conv_detail

/// mask[i] = (y[i] > 0) for the n values of y: the ReLU derivative, kept for backward in a quarter of the memory
/// of y itself (so a ReLU'd convolution's 133 MB output need not outlive its consumer).
template <class T>
void relu_mask(const T* y, index_t n, std::uint8_t* mask) {
    parallel_for(0, n, index_t{1} << 16, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) mask[i] = y[i] > T(0) ? 1 : 0;
    });
}

/// Backward of conv2d_forward: adds into dx (may be null), dw [KH,KW,C,K] and db [K] (may be null). When the
/// forward fused a ReLU, pass relu_mask(y) as `relu_mask`: dy then counts only where the mask is set.
template <class T>
void conv2d_backward(const Conv2DGeometry& g, const T* x, const T* w, const T* dy, const std::uint8_t* relu_mask,
                     T* dx, T* dw, T* db, ConvAlgo algo = ConvAlgo::automatic) {
    if (g.n == 0 || g.oh == 0 || g.ow == 0 || g.k == 0) return;
    if (conv_detail::use_implicit_backward(g, algo)) {
        conv_detail::backward_implicit(g, x, w, dy, relu_mask, dx, dw, db, algo);
        return;
    }
    Storage<T> masked;
    if (relu_mask) {  // d relu: pass the gradient where the output is positive
        masked = Storage<T>(static_cast<std::size_t>(g.n * g.out_image()));
        T* pm = masked.data();
        parallel_for(0, g.n * g.out_image(), index_t{1} << 16, [&](index_t lo, index_t hi) {
            for (index_t i = lo; i < hi; ++i) pm[i] = relu_mask[i] ? dy[i] : T(0);
        });
        dy = masked.data();
    }
    conv_detail::backward_im2col(g, x, w, dy, dx, dw, db);
}

// The explicit instantiations of the two entry points, `extern` under EMBER_EXTERN_KERNELS: Note [extern kernels]
// in ember/kernels/instantiate.hpp.
#define EMBER_CONV2D_TEMPLATES(EXTERN, T)                                                                       \
    EXTERN template void conv2d_forward<T>(const Conv2DGeometry&, const T*, const T*, const T*, bool, T*, ConvAlgo, \
                                           std::uint8_t*);                                                      \
    EXTERN template void conv2d_backward<T>(const Conv2DGeometry&, const T*, const T*, const T*,                \
                                            const std::uint8_t*, T*, T*, T*, ConvAlgo);
#ifdef EMBER_EXTERN_KERNELS
EMBER_CONV2D_TEMPLATES(extern, float)
EMBER_CONV2D_TEMPLATES(extern, double)
#endif

}  // namespace ember::kernels
