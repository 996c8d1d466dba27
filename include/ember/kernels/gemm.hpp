// ember/kernels/gemm.hpp - row-major matrix products on raw pointers: a packed, register-blocked SIMD GEMM
// (GotoBLAS-style blocking around a micro-kernel written with kernels/simd.hpp), and Eigen's GEMM as the
// reference and the fallback for alpha != 1 or beta not in {0, 1}.
// C[M,N] = alpha * op(A) * op(B) + beta * C, op = identity or transpose; leading dimensions in elements.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "ember/core/shape.hpp"
#include "ember/kernels/simd.hpp"

namespace ember::kernels {

namespace detail {
template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MutMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
}  // namespace detail

/// Eigen's GEMM on row-major maps: the reference implementation (tests compare the packed GEMM with it).
template <class T>
void gemm_eigen(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    using namespace detail;
    if (m == 0 || n == 0) return;
    MutMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
    if (k == 0) {
        if (beta == T(0)) C.setZero(); else C *= beta;
        return;
    }
    const ConstMap<T> A(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
    const ConstMap<T> B(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
    // One product expression per transpose case, not two: each Eigen GEMM instantiation costs compile time in
    // every translation unit that reaches it (gemm_eigen<double> alone: 11.5 s -> 10.2 s, g++ 12 -O3), and the
    // zeroing pass is O(MN) next to the O(MNK) product.
    if (beta == T(0)) C.setZero(); else if (beta != T(1)) C *= beta;
    auto product = [&](const auto& opa, const auto& opb) { C.noalias() += alpha * (opa * opb); };
    if (!trans_a && !trans_b) product(A, B);
    else if (trans_a && !trans_b) product(A.transpose(), B);
    else if (!trans_a && trans_b) product(A, B.transpose());
    else product(A.transpose(), B.transpose());
}

// Note [Packed GEMM]: C is computed in MR x NR blocks held in registers (NR = NV vectors wide). A is read in
// place through its strides (each step broadcasts MR values of one column); B is packed in NR-column panels
// ([k][NR], one contiguous row of NV vectors per step), per KC-deep slice so that a B panel stays in L1. B's edges
// are zero-padded in the pack, and partial C blocks go through a small buffer.
namespace gemm_detail {
template <class T>
struct Blocking {
    using V = simd::Vec<T>;
#if defined(EMBER_FORCE_SCALAR) || !(defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
    static constexpr int mr = 4, nv = 4;        // scalar: 16 accumulators
#elif defined(__AVX512F__)
    static constexpr int mr = 12, nv = 2;       // 24 of 32 zmm registers accumulate
#else
    static constexpr int mr = 6, nv = 2;        // 12 of 16 ymm registers accumulate
#endif
    static constexpr int nr = nv * V::width;
    static constexpr index_t kc = 256;
    static constexpr index_t mc = 16 * mr;
};

/// Packs depth [p0, p0+kc) x columns [0, n) of op(B) into NR-column panels.
template <class T>
void pack_b(bool trans, const T* b, index_t ldb, index_t n, index_t p0, index_t kc, T* out) {
    constexpr int NR = Blocking<T>::nr;
    for (index_t jp = 0; jp < n; jp += NR) {
        const index_t cols = std::min<index_t>(NR, n - jp);
        T* panel = out + jp * kc;
        for (index_t p = 0; p < kc; ++p) {
            T* dst = panel + p * NR;
            if (trans) {  // B is [N, K]
                for (index_t j = 0; j < cols; ++j) dst[j] = b[(jp + j) * ldb + p0 + p];
            } else {
                const T* src = b + (p0 + p) * ldb + jp;
                for (index_t j = 0; j < cols; ++j) dst[j] = src[j];
            }
            for (index_t j = cols; j < NR; ++j) dst[j] = T(0);
        }
    }
}

/// C[mr, nr] (+)= A[mr, kc] * B[kc, NR], the register-blocked inner kernel. Element (r, p) of A is read at
/// a[r * rs + p * cs]: a packed panel has (rs, cs) = (1, MR); a row-major A is read in place with (lda, 1), a
/// transposed one with (1, lda) - packing A costs more than it saves when N is small (a conv has 32-64 filters),
/// and the implicit convolution reads an image row in place with (stride * C, 1). Row p of B is the NR values
/// at bp + p * ldb (a packed panel has ldb = NR); all NR are loaded even when nr < NR, so B must have NR
/// readable values per row. Rows r >= mr of A are never read.
template <class T, index_t RS, index_t CS>
inline void micro_kernel_strided(index_t kc, const T* a, index_t rs_rt, index_t cs_rt, const T* bp, index_t ldb, T* c,
                                 index_t ldc, bool accumulate, index_t mr, index_t nr) {
    using V = simd::Vec<T>;
    const index_t rs = RS > 0 ? RS : rs_rt, cs = CS > 0 ? CS : cs_rt;  // compile-time where given
    constexpr int MR = Blocking<T>::mr, NV = Blocking<T>::nv, W = V::width, NR = Blocking<T>::nr;
    V acc[MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
    if (mr == MR) {
        for (index_t p = 0; p < kc; ++p) {
            V bv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) bv[v] = V::load(bp + p * ldb + v * W);
            const T* ar = a + p * cs;
#pragma GCC unroll 16
            for (int r = 0; r < MR; ++r) {
                const V av = V::broadcast(ar[r * rs]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[r][v] = fma(av, bv[v], acc[r][v]);
            }
        }
    } else {
        for (index_t p = 0; p < kc; ++p) {
            V bv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) bv[v] = V::load(bp + p * ldb + v * W);
            const T* ar = a + p * cs;
            for (int r = 0; r < mr; ++r) {
                const V av = V::broadcast(ar[r * rs]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[r][v] = fma(av, bv[v], acc[r][v]);
            }
        }
    }
    if (mr == MR && nr == NR) {
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                T* dst = c + r * ldc + v * W;
                (accumulate ? acc[r][v] + V::load(dst) : acc[r][v]).store(dst);
            }
        return;
    }
    alignas(64) T tmp[MR * NR];
    for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v].store(tmp + r * NR + v * W);
    for (index_t r = 0; r < mr; ++r)
        for (index_t j = 0; j < nr; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : T(0)) + tmp[r * NR + j];
}


// Note [Micro-kernel strides]: with runtime strides the twelve rows of A need twelve base registers, which with
// B's pointer and the loop counters overflow x86-64's sixteen (the compiler spilled two into xmm registers and
// the stack, measured in `perf annotate`). With A's row stride known at compile time every broadcast is one base
// register plus an immediate offset. The convolutions' strides are C (rows of an image, rs = C) or 1 (columns
// of it, rs = 1): the common ones get their own instantiation, the rest the generic one.
template <class T>
inline void micro_kernel(index_t kc, const T* a, index_t rs, index_t cs, const T* bp, index_t ldb, T* c,
                         index_t ldc, bool accumulate, index_t mr, index_t nr) {
    if (cs == 1) {
        switch (rs) {
            case 32: return micro_kernel_strided<T, 32, 1>(kc, a, rs, cs, bp, ldb, c, ldc, accumulate, mr, nr);
            case 64: return micro_kernel_strided<T, 64, 1>(kc, a, rs, cs, bp, ldb, c, ldc, accumulate, mr, nr);
            default: break;
        }
    }
    if (rs == 1) return micro_kernel_strided<T, 1, 0>(kc, a, rs, cs, bp, ldb, c, ldc, accumulate, mr, nr);
    micro_kernel_strided<T, 0, 0>(kc, a, rs, cs, bp, ldb, c, ldc, accumulate, mr, nr);
}

}  // namespace gemm_detail

/// op(B) [K, N] packed once for many products with it (e.g. a convolution's weights across im2col tiles).
/// The depth K is cut into slices of at most Blocking::kc rows; a slice never crosses a multiple of `group`
/// (the implicit convolution needs one slice set per kernel row: group = KW * C). Slice s is stored at
/// data + p0 * n_pad as NR-column panels of kc x NR.
template <class T>
class PackedB {
public:
    struct Slice {
        index_t p0 = 0, kc = 0;
    };
    PackedB() = default;
    PackedB(bool trans, const T* b, index_t ldb, index_t k, index_t n, index_t group = 0) : k_(k), n_(n) {
        using B = gemm_detail::Blocking<T>;
        n_pad_ = (n + B::nr - 1) / B::nr * B::nr;
        data_.resize(static_cast<std::size_t>(k * n_pad_));
        if (group <= 0) group = std::max<index_t>(k, 1);
        for (index_t g0 = 0; g0 < k; g0 += group) {
            const index_t len = std::min(group, k - g0), parts = (len + B::kc - 1) / B::kc;
            for (index_t i = 0; i < parts; ++i) {  // near-equal slices, none deeper than kc
                const index_t p0 = g0 + len * i / parts, p1 = g0 + len * (i + 1) / parts;
                slices_.push_back({p0, p1 - p0});
                gemm_detail::pack_b(trans, b, ldb, n, p0, p1 - p0, data_.data() + p0 * n_pad_);
            }
        }
    }
    [[nodiscard]] index_t k() const { return k_; }
    [[nodiscard]] index_t n() const { return n_; }
    [[nodiscard]] const std::vector<Slice>& slices() const { return slices_; }
    /// The packed slice starting at depth p0: NR-column panels, panel j0 / NR at slice(p0) + j0 * kc.
    [[nodiscard]] const T* slice(index_t p0) const { return data_.data() + p0 * n_pad_; }

private:
    index_t k_ = 0, n_ = 0, n_pad_ = 0;
    std::vector<Slice> slices_;
    std::vector<T> data_;
};

/// C[M,N] (+)= op(A)[M,K] * B, with B already packed. Runs on the calling thread.
template <class T>
void gemm_packed(bool trans_a, index_t m, const T* a, index_t lda, const PackedB<T>& b, bool accumulate, T* c,
                 index_t ldc) {
    using B = gemm_detail::Blocking<T>;
    const index_t n = b.n(), k = b.k();
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (!accumulate)
            for (index_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, T(0));
        return;
    }
    const index_t rs = trans_a ? 1 : lda, cs = trans_a ? lda : 1;
    for (const auto& [p0, kc] : b.slices()) {
        const bool acc = accumulate || p0 > 0;
        const T* bslice = b.slice(p0);
        for (index_t i0 = 0; i0 < m; i0 += B::mc) {
            const index_t mc = std::min(B::mc, m - i0);
            for (index_t j0 = 0; j0 < n; j0 += B::nr) {
                const index_t nr = std::min<index_t>(B::nr, n - j0);
                const T* bp = bslice + j0 * kc;
                for (index_t ip = 0; ip < mc; ip += B::mr)
                    gemm_detail::micro_kernel(kc, a + (i0 + ip) * rs + p0 * cs, rs, cs, bp, B::nr,
                                              c + (i0 + ip) * ldc + j0, ldc, acc, std::min<index_t>(B::mr, mc - ip), nr);
            }
        }
    }
}

/// C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major. op(A) is [M,K]: A is [M,K] (lda >= K) or, with
/// `trans_a`, [K,M] (lda >= M); likewise op(B) is [K,N]. beta = 0 overwrites C without reading it. Runs on the
/// calling thread (ember parallelises around its GEMMs). alpha = 1 with beta 0 or 1 takes the packed SIMD path,
/// unless N is at most half a panel (NR): then most of every packed panel would be zero padding, and Eigen is
/// faster - the reference model's dense layer ([M, 30976] x [30976, 9]) took 319 us packed vs 34 us in Eigen at
/// M = 1, and 885 vs 346 us at M = 32 (bench_kernels, one thread, Zen 4).
template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc) {
    if (alpha != T(1) || (beta != T(0) && beta != T(1)) || 2 * n <= gemm_detail::Blocking<T>::nr) {
        gemm_eigen(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (m == 0 || n == 0) return;
    const PackedB<T> packed(trans_b, b, ldb, k, n);
    gemm_packed(trans_a, m, a, lda, packed, beta == T(1), c, ldc);
}

// The explicit instantiations of gemm, `extern` under EMBER_EXTERN_KERNELS: Note [extern kernels] in
// ember/kernels/instantiate.hpp. (gemm_packed and gemm_eigen are instantiated with it, or where called directly.)
#define EMBER_GEMM_TEMPLATES(EXTERN, T) \
    EXTERN template void gemm<T>(bool, bool, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t, T, T*, index_t);
#ifdef EMBER_EXTERN_KERNELS
EMBER_GEMM_TEMPLATES(extern, float)
EMBER_GEMM_TEMPLATES(extern, double)
#endif

}  // namespace ember::kernels
