// ember/kernels/elementwise.hpp - broadcasting iteration and reduction on raw row-major memory.
// NumPy's rule: shapes are aligned on the right; an extent of 1 (or a missing dimension) repeats.
#pragma once

#include <vector>

#include "ember/core/parallel.hpp"
#include "ember/core/shape.hpp"

namespace ember::kernels {

/// Strides (in elements) with which an operand of shape `in` is read while iterating over `out`: 0 along
/// dimensions `in` broadcasts. Requires `in` to be broadcast-compatible with `out` (checked by the caller).
inline std::vector<index_t> broadcast_strides(const Shape& in, const Shape& out) {
    std::vector<index_t> s(static_cast<std::size_t>(out.rank()), 0);
    const auto own = in.strides();
    const index_t shift = out.rank() - in.rank();
    for (index_t d = 0; d < in.rank(); ++d)
        if (in[d] != 1) s[static_cast<std::size_t>(d + shift)] = own[static_cast<std::size_t>(d)];
    return s;
}

/// Calls f(i, ia, ib) for every flat index i of `out` in row-major order, with the flat offsets ia and ib of
/// the two operands read through strides `sa` and `sb`.
template <class F>
void for_each_broadcast(const Shape& out, const std::vector<index_t>& sa, const std::vector<index_t>& sb, F&& f) {
    const index_t rank = out.rank();
    const index_t n = out.numel();
    if (n == 0) return;
    if (rank == 0) {
        f(index_t{0}, index_t{0}, index_t{0});
        return;
    }
    std::vector<index_t> idx(static_cast<std::size_t>(rank), 0);
    const index_t inner = out[rank - 1];
    const index_t ia_step = sa.back(), ib_step = sb.back();
    index_t ia = 0, ib = 0;
    for (index_t i = 0; i < n; i += inner) {
        for (index_t j = 0; j < inner; ++j) f(i + j, ia + j * ia_step, ib + j * ib_step);
        // advance the outer multi-index (dimensions rank-2 .. 0)
        for (index_t d = rank - 2; d >= 0; --d) {
            const auto du = static_cast<std::size_t>(d);
            ++idx[du];
            ia += sa[du];
            ib += sb[du];
            if (idx[du] < out[d]) break;
            ia -= sa[du] * out[d];
            ib -= sb[du] * out[d];
            idx[du] = 0;
        }
    }
}

/// dst[target] += src[out] summed over the dimensions `target` broadcasts along (the backward of a broadcast).
/// Elements per chunk of an elementwise pass: enough work to repay handing a chunk to a thread.
inline constexpr index_t kElementwiseGrain = index_t{1} << 15;

/// f(i) for every i in [0, n), in parallel chunks for large n. Each i is independent, so the result does not depend
/// on the thread count.
template <class F>
void map_elements(index_t n, F&& f) {
    parallel_for(0, n, kElementwiseGrain, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) f(i);
    });
}

template <class T>
void sum_to(const T* src, const Shape& out, T* dst, const Shape& target) {
    if (target == out) {  // no broadcast to undo (a residual Add's gradient): a plain parallel pass
        map_elements(out.numel(), [&](index_t i) { dst[i] += src[i]; });
        return;
    }
    const auto st = broadcast_strides(target, out);
    const std::vector<index_t> none(static_cast<std::size_t>(out.rank()), 0);
    for_each_broadcast(out, st, none, [&](index_t i, index_t it, index_t) { dst[it] += src[i]; });
}

}  // namespace ember::kernels
