// ember/autograd/reduce.hpp - differentiable sum and mean, over everything or along one axis.
// Axis reductions view the tensor as [outer, n, inner] and reduce the middle extent.
#pragma once

#include "ember/autograd/engine.hpp"

namespace ember {

namespace detail {
template <Real T>
Tensor<T> reduce_axis(const Tensor<T>& x, index_t axis, bool keepdims, T scale, Op op) {
    const Shape& s = x.shape();
    const index_t ax = s.wrap(axis);
    index_t outer = 1, inner = 1;
    for (index_t d = 0; d < ax; ++d) outer *= s[d];
    for (index_t d = ax + 1; d < s.rank(); ++d) inner *= s[d];
    const index_t n = s[ax];
    std::vector<index_t> dims;
    for (index_t d = 0; d < s.rank(); ++d)
        if (d != ax) dims.push_back(s[d]);
        else if (keepdims) dims.push_back(1);
    Tensor<T> y = Tensor<T>::zeros(Shape(dims));
    const T* px = x.data();
    T* py = y.data();
    for (index_t o = 0; o < outer; ++o)
        for (index_t k = 0; k < n; ++k)
            for (index_t i = 0; i < inner; ++i) py[o * inner + i] += px[(o * n + k) * inner + i];
    for (T& v : y.span()) v *= scale;
    return autograd::record(std::move(y), op, {x}, [=](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        const T* pg = g.data();
        T* pd = gi[0].data();
        for (index_t o = 0; o < outer; ++o)
            for (index_t k = 0; k < n; ++k)
                for (index_t i = 0; i < inner; ++i) pd[(o * n + k) * inner + i] += scale * pg[o * inner + i];
    });
}

template <Real T>
Tensor<T> reduce_all(const Tensor<T>& x, T scale, Op op) {
    double acc = 0;  // accumulate in double: a float sum of a million terms loses digits
    for (T v : x.span()) acc += v;
    Tensor<T> y = Tensor<T>::scalar(static_cast<T>(acc * scale));
    return autograd::record(std::move(y), op, {x}, [scale](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        const T v = g.data()[0] * scale;
        for (T& d : gi[0].span()) d += v;
    });
}
}  // namespace detail

/// Sum of all elements, as a rank-0 tensor.
template <Real T>
Tensor<T> sum(const Tensor<T>& x) { return detail::reduce_all(x, T(1), Op::sum); }
/// Mean of all elements, as a rank-0 tensor. Throws ValueError for an empty tensor.
template <Real T>
Tensor<T> mean(const Tensor<T>& x) {
    EMBER_CHECK(x.numel() > 0, ValueError, "mean: the tensor of shape ", x.shape(), " is empty");
    return detail::reduce_all(x, T(1) / static_cast<T>(x.numel()), Op::mean);
}
/// Sum along `axis` (negative counts from the end); `keepdims` keeps it with extent 1. Recorded as Op::sum_axis
/// (and mean along an axis as Op::mean_axis): their backward is not that of the whole-tensor forms.
template <Real T>
Tensor<T> sum(const Tensor<T>& x, index_t axis, bool keepdims = false) {
    return detail::reduce_axis(x, axis, keepdims, T(1), Op::sum_axis);
}
/// Mean along `axis`.
template <Real T>
Tensor<T> mean(const Tensor<T>& x, index_t axis, bool keepdims = false) {
    const index_t n = x.shape()[axis];
    EMBER_CHECK(n > 0, ValueError, "mean: axis ", axis, " of shape ", x.shape(), " is empty");
    return detail::reduce_axis(x, axis, keepdims, T(1) / static_cast<T>(n), Op::mean_axis);
}

}  // namespace ember
