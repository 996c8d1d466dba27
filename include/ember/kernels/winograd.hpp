// ember/kernels/winograd.hpp - Winograd's minimal filtering F(2x2, RxR) for stride-1 convolutions in NHWC:
// the kernel transform, and the tile loop (input transform, one small GEMM per transform element, output
// transform). kernels/conv2d.hpp decides where it is used and prepares the padded input.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "ember/core/shape.hpp"
#include "ember/core/storage.hpp"
#include "ember/kernels/gemm.hpp"
#include "ember/kernels/simd.hpp"

namespace ember::kernels::winograd {

// Note [Winograd convolution]: a stride-1 correlation of an RxR kernel g with an image d gives each 2x2 block
// of outputs as Y = A^T [(G g G^T) * (B^T d B)] A, where d is the (R+1)x(R+1) input tile under the block, `*`
// is elementwise, and A, B, G are fixed matrices (Lavin & Gray 2015, "Fast Algorithms for Convolutional Neural
// Networks"). Summed over input channels, the elementwise product becomes (R+1)^2 independent matrix products
// V_e [tiles, C] x U_e [C, K], one per element e of the transformed tile, so the multiplications per output go
// from R^2 C K to (R+1)^2 / 4 C K: 25 -> 9 per channel pair for 5x5 kernels (2.8x fewer), 9 -> 4 for 3x3.
// The transforms are additions and multiplications by small constants, vectorised over channels (NHWC keeps a
// pixel's channels contiguous). Tiles are transformed in blocks that keep V and M = V x U in L2, the products
// run on the GEMM micro-kernel with U packed once per call, and the output transform writes y (or adds into
// it). The matrices below come from the interpolation points 0, 1, -1 (R = 3) and 0, 1, -1, 2, -2 (R = 5) plus
// infinity, derived in exact rational arithmetic (tests/kernels/test_winograd.cpp checks them). The price is
// rounding: in float the transforms' constants (up to 5 in B) make the error 6-15x that of the direct sum, still
// below 5e-6 of the output's largest value on conv3/conv4-like layers (measured in that test); double is exact
// to 1e-12 like the other kernels. One more difference from the direct sum: an infinite input value turns the
// other outputs of its tiles into NaN (inf - inf in the transforms), where the direct sum would give +-inf.

template <int R>
struct Transforms;

template <>
struct Transforms<3> {
    static constexpr int alpha = 4;
    static constexpr double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, 1}};
    static constexpr double G[4][3] = {{-1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static constexpr double BT[4][4] = {{-1, 0, 1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, -1, 0, 1}};
};

template <>
struct Transforms<5> {
    static constexpr int alpha = 6;
    static constexpr double AT[2][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 1}};
    static constexpr double G[6][5] = {
        {1.0 / 4, 0, 0, 0, 0},
        {-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6},
        {-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
        {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
        {0, 0, 0, 0, 1},
    };
    static constexpr double BT[6][6] = {
        {4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
        {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
    };
};

/// True for the kernel sizes with transforms here (square R x R).
inline bool has_transforms(index_t kh, index_t kw) { return kh == kw && (kh == 3 || kh == 5); }

/// Output tiles along one dimension of `out` pixels (the last one half empty when `out` is odd).
inline index_t tiles(index_t out) { return (out + 1) / 2; }
/// Input extent the tiles of `out` outputs read: 2 * tiles + R - 1 (one more than out + R - 1 when out is odd).
inline index_t input_extent(index_t out, index_t r) { return 2 * tiles(out) + r - 1; }

namespace detail {

/// One lane: the transforms' channel tail when C or K is not a multiple of the vector width.
template <class T>
struct Lane {
    T v;
    static Lane load(const T* p) { return {*p}; }
    static Lane broadcast(T x) { return {x}; }
    static Lane zero() { return {T(0)}; }
    void store(T* p) const { *p = v; }
    friend Lane operator+(Lane a, Lane b) { return {a.v + b.v}; }
    friend Lane operator-(Lane a, Lane b) { return {a.v - b.v}; }
    friend Lane fma(Lane a, Lane b, Lane c) { return {a.v * b.v + c.v}; }
};

/// sum_i row[i] * x[i * stride]. The rows are compile-time constants: once unrolled, the zero terms vanish and
/// +-1 become additions.
template <class T, class V, int N>
inline V combine(const double (&row)[N], const V* x, int stride) {
    V acc = V::zero();
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) {
        const double c = row[i];
        if (c == 0) continue;
        const V xi = x[i * stride];
        acc = c == 1 ? acc + xi : c == -1 ? acc - xi : fma(V::broadcast(static_cast<T>(c)), xi, acc);
    }
    return acc;
}

/// V_e = (B^T d B)_e for the lanes at `d` (the tile's top-left input, rows xs apart, pixels c apart), written
/// to v + e * es.
template <int R, class T, class V>
inline void input_tile(const T* d, index_t xs, index_t c, T* v, index_t es) {
    using X = Transforms<R>;
    constexpr int A = X::alpha;
    V in[A][A], t[A][A];
#pragma GCC unroll 8
    for (int a = 0; a < A; ++a)
#pragma GCC unroll 8
        for (int b = 0; b < A; ++b) in[a][b] = V::load(d + a * xs + b * c);
#pragma GCC unroll 8
    for (int i = 0; i < A; ++i)
#pragma GCC unroll 8
        for (int b = 0; b < A; ++b) t[i][b] = combine<T>(X::BT[i], &in[0][b], A);
#pragma GCC unroll 8
    for (int i = 0; i < A; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < A; ++j) combine<T>(X::BT[j], &t[i][0], 1).store(v + (i * A + j) * es);
}

/// The 2x2 outputs A^T M A for the lanes at m (element e at m + e * es), stored (or added) at y, rows ys
/// apart, pixels k apart; only rows x cols of them (the image's last tiles may be cut).
template <int R, class T, class V>
inline void output_tile(const T* m, index_t es, T* y, index_t ys, index_t k, index_t rows, index_t cols,
                        bool accumulate) {
    using X = Transforms<R>;
    constexpr int A = X::alpha;
    V in[A][A], s[2][A];
#pragma GCC unroll 8
    for (int a = 0; a < A; ++a)
#pragma GCC unroll 8
        for (int b = 0; b < A; ++b) in[a][b] = V::load(m + (a * A + b) * es);
#pragma GCC unroll 2
    for (int i = 0; i < 2; ++i)
#pragma GCC unroll 8
        for (int b = 0; b < A; ++b) s[i][b] = combine<T>(X::AT[i], &in[0][b], A);
    for (index_t i = 0; i < rows; ++i)
        for (index_t j = 0; j < cols; ++j) {
            T* dst = y + i * ys + j * k;
            const V out = combine<T>(X::AT[j], &s[i][0], 1);
            (accumulate ? out + V::load(dst) : out).store(dst);
        }
}

template <int R, class T>
PackedB<T> transform_kernel(const T* w, index_t c, index_t k) {
    using X = Transforms<R>;
    constexpr int A = X::alpha;
    // U[e][ci][f] = (G g G^T)_e with g = w[.., .., ci, f]: rows of K values at a time, so the loops vectorise.
    std::vector<T> u(static_cast<std::size_t>(A * A * c * k)), t(static_cast<std::size_t>(A * R * k));
    for (index_t ci = 0; ci < c; ++ci) {
        std::fill(t.begin(), t.end(), T(0));
        for (int i = 0; i < A; ++i)
            for (int a = 0; a < R; ++a) {
                if (X::G[i][a] == 0) continue;
                const T ga = static_cast<T>(X::G[i][a]);
                for (int b = 0; b < R; ++b) {
                    const T* src = w + ((a * R + b) * c + ci) * k;
                    T* dst = t.data() + (i * R + b) * k;
                    for (index_t f = 0; f < k; ++f) dst[f] += ga * src[f];
                }
            }
        for (int i = 0; i < A; ++i)
            for (int j = 0; j < A; ++j) {
                T* dst = u.data() + ((i * A + j) * c + ci) * k;
                std::fill_n(dst, k, T(0));
                for (int b = 0; b < R; ++b) {
                    if (X::G[j][b] == 0) continue;
                    const T gb = static_cast<T>(X::G[j][b]);
                    const T* src = t.data() + (i * R + b) * k;
                    for (index_t f = 0; f < k; ++f) dst[f] += gb * src[f];
                }
            }
    }
    return PackedB<T>(false, u.data(), k, A * A * c, k, c);  // one slice set per element e
}

/// Tiles per block: V [E, nb, C] and M [E, nb, K] together within about 128 KiB, a multiple of the
/// micro-kernel's MR rows, but at least MR. On Zen 4 (bench_conv, conv2-conv4 at batch 32) a 128 KiB budget was
/// 0-7% faster than 256, 384 or 768 KiB; for the reference layers it means blocks of MR tiles (12 with AVX-512
/// floats: 166 KiB for conv3, 221 KiB for conv4, which are over the budget at MR tiles).
template <class T>
index_t block_tiles(int e, index_t c, index_t k, index_t total) {
    constexpr index_t mr = gemm_detail::Blocking<T>::mr;
    const index_t per_tile = static_cast<index_t>(e) * (c + k) * static_cast<index_t>(sizeof(T));
    const index_t nb = std::max<index_t>(mr, (index_t{128} * 1024 / per_tile) / mr * mr);
    return std::max<index_t>(std::min(nb, total), 1);
}

template <int R, class T, class Done>
void rows(const T* xp, index_t xs, index_t c, index_t k, index_t oh, index_t ow, const PackedB<T>& u, index_t ty0,
          index_t ty1, T* y, bool accumulate, Done&& done) {
    using Vec = simd::Vec<T>;
    using GB = gemm_detail::Blocking<T>;
    constexpr int A = Transforms<R>::alpha, E = A * A, W = Vec::width;
    const index_t tw = tiles(ow), total = (ty1 - ty0) * tw;
    if (total <= 0) return;
    const index_t nb = block_tiles<T>(E, c, k, total);
    Storage<T> vbuf(static_cast<std::size_t>(E * nb * c)), mbuf(static_cast<std::size_t>(E * nb * k));
    const index_t ves = nb * c, mes = nb * k;  // elements from one transform element to the next
    index_t rows_done = ty0;
    for (index_t t0 = 0; t0 < total; t0 += nb) {
        const index_t cnt = std::min(nb, total - t0);
        for (index_t t = 0; t < cnt; ++t) {
            const index_t ty = ty0 + (t0 + t) / tw, tx = (t0 + t) % tw;
            const T* d = xp + 2 * ty * xs + 2 * tx * c;
            T* v = vbuf.data() + t * c;
            index_t ch = 0;
            for (; ch + W <= c; ch += W) input_tile<R, T, Vec>(d + ch, xs, c, v + ch, ves);
            for (; ch < c; ++ch) input_tile<R, T, Lane<T>>(d + ch, xs, c, v + ch, ves);
        }
        for (const auto& [p0, kc] : u.slices()) {  // M_e (+)= V_e U_e, a depth slice of one element at a time
            const index_t e = p0 / c, d0 = p0 % c;
            const T* a = vbuf.data() + e * ves + d0;
            const T* bslice = u.slice(p0);
            T* m = mbuf.data() + e * mes;
            for (index_t j0 = 0; j0 < k; j0 += GB::nr)
                for (index_t i0 = 0; i0 < cnt; i0 += GB::mr)
                    gemm_detail::micro_kernel(kc, a + i0 * c, c, index_t{1}, bslice + j0 * kc, index_t{GB::nr},
                                              m + i0 * k + j0, k, d0 > 0, std::min<index_t>(GB::mr, cnt - i0),
                                              std::min<index_t>(GB::nr, k - j0));
        }
        for (index_t t = 0; t < cnt; ++t) {
            const index_t ty = ty0 + (t0 + t) / tw, tx = (t0 + t) % tw;
            const index_t nrows = std::min<index_t>(2, oh - 2 * ty), ncols = std::min<index_t>(2, ow - 2 * tx);
            T* dst = y + (2 * ty * ow + 2 * tx) * k;
            const T* m = mbuf.data() + t * k;
            index_t f = 0;
            for (; f + W <= k; f += W) output_tile<R, T, Vec>(m + f, mes, dst + f, ow * k, k, nrows, ncols, accumulate);
            for (; f < k; ++f) output_tile<R, T, Lane<T>>(m + f, mes, dst + f, ow * k, k, nrows, ncols, accumulate);
        }
        const index_t full = ty0 + (t0 + cnt) / tw;  // tile rows finished
        if (full > rows_done) {
            done(2 * rows_done, std::min(2 * full, oh));
            rows_done = full;
        }
    }
}

}  // namespace detail

/// The kernel w [R, R, C, K] transformed (U = G g G^T per input/output channel pair) and packed for rows().
template <class T>
PackedB<T> transform_kernel(index_t r, const T* w, index_t c, index_t k) {
    return r == 3 ? detail::transform_kernel<3>(w, c, k) : detail::transform_kernel<5>(w, c, k);
}

/// Output rows [2 * ty0, 2 * ty1) (cut at oh) of one image of a stride-1 R x R convolution with K filters over
/// C channels: y [oh, ow, K] = (or +=, with `accumulate`) the correlation of xp with the kernel transformed into
/// `u`. xp is the zero-padded input, rows xs elements apart, with input_extent(oh, R) rows and
/// input_extent(ow, R) pixels readable: output (oy, ox) reads xp rows oy..oy+R-1, pixels ox..ox+R-1. Calls
/// done(oy0, oy1) as each run of output rows is complete, while it is still in cache (the forward epilogue).
template <class T, class Done>
void rows(index_t r, const T* xp, index_t xs, index_t c, index_t k, index_t oh, index_t ow, const PackedB<T>& u,
          index_t ty0, index_t ty1, T* y, bool accumulate, Done&& done) {
    if (r == 3)
        detail::rows<3>(xp, xs, c, k, oh, ow, u, ty0, ty1, y, accumulate, done);
    else
        detail::rows<5>(xp, xs, c, k, oh, ow, u, ty0, ty1, y, accumulate, done);
}

}  // namespace ember::kernels::winograd
