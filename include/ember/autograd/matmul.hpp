// ember/autograd/matmul.hpp - differentiable 2-D matrix product [M,K] x [K,N] -> [M,N] through kernels::gemm.
#pragma once

#include "ember/autograd/engine.hpp"
#include "ember/kernels/gemm.hpp"

namespace ember {

/// a [M,K] times b [K,N]. Throws ShapeError naming both shapes when they do not chain.
template <Real T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
    EMBER_CHECK(a.rank() == 2 && b.rank() == 2 && a.size(1) == b.size(0), ShapeError,
                "matmul: expected [M, K] x [K, N], got ", a.shape(), " x ", b.shape());
    const index_t m = a.size(0), k = a.size(1), n = b.size(1);
    Tensor<T> c = Tensor<T>::empty({m, n});
    kernels::gemm<T>(false, false, m, n, k, T(1), a.data(), k, b.data(), n, T(0), c.data(), n);
    return autograd::record(std::move(c), Op::matmul, {a, b}, [=](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        // dA [M,K] += g [M,N] x B^T [N,K];  dB [K,N] += A^T [K,M] x g [M,N]
        if (gi[0].defined())
            kernels::gemm<T>(false, true, m, k, n, T(1), g.data(), n, b.data(), n, T(1), gi[0].data(), k);
        if (gi[1].defined())
            kernels::gemm<T>(true, false, k, n, m, T(1), a.data(), k, g.data(), n, T(1), gi[1].data(), n);
    });
}

}  // namespace ember
