// ember/kernels/gemm.hpp - row-major matrix products on raw pointers, through Eigen's GEMM.
// C[M,N] = alpha * op(A) * op(B) + beta * C, op = identity or transpose; leading dimensions in elements.
#pragma once

#include <Eigen/Core>

#include "ember/core/shape.hpp"

namespace ember::kernels {

namespace detail {
template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MutMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
}  // namespace detail

/// C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major. op(A) is [M,K]: A is [M,K] (lda >= K) or, with
/// `trans_a`, [K,M] (lda >= M); likewise op(B) is [K,N]. beta = 0 overwrites C without reading it. Runs on the
/// calling thread when called inside a parallel region (Eigen does not nest its own threads).
template <class T>
void gemm(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
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
    auto product = [&](const auto& opa, const auto& opb) {
        if (beta == T(0)) {
            C.noalias() = alpha * (opa * opb);
        } else {
            if (beta != T(1)) C *= beta;
            C.noalias() += alpha * (opa * opb);
        }
    };
    if (!trans_a && !trans_b) product(A, B);
    else if (trans_a && !trans_b) product(A.transpose(), B);
    else if (!trans_a && trans_b) product(A, B.transpose());
    else product(A.transpose(), B.transpose());
}

}  // namespace ember::kernels
