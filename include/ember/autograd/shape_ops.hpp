// ember/autograd/shape_ops.hpp - differentiable reshape and flatten: views that share the input's buffer.
#pragma once

#include "ember/autograd/engine.hpp"

namespace ember {

/// The same data with shape `shape` (one extent may be -1: inferred). No copy. Throws ShapeError when the
/// element counts differ.
template <Real T>
Tensor<T> reshape(const Tensor<T>& x, std::vector<index_t> shape) {
    index_t known = 1, infer = -1;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
            EMBER_CHECK(infer < 0, ShapeError, "reshape: only one extent may be -1");
            infer = static_cast<index_t>(i);
        } else {
            EMBER_CHECK(shape[i] >= 0, ShapeError, "reshape: extents must be >= 0 or -1, got ", shape[i]);
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        EMBER_CHECK(known > 0 && x.numel() % known == 0, ShapeError, "reshape: cannot reshape ", x.shape(),
                    " (", x.numel(), " elements) with an inferred extent");
        shape[static_cast<std::size_t>(infer)] = x.numel() / known;
    }
    const Shape target(std::move(shape));
    EMBER_CHECK(target.numel() == x.numel(), ShapeError, "reshape: cannot reshape ", x.shape(), " (", x.numel(),
                " elements) into ", target, " (", target.numel(), " elements)");
    Tensor<T> y = x.view_detached(target);
    return autograd::record(std::move(y), Op::reshape, {x}, [](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        T* pd = gi[0].data();
        const T* pg = g.data();
        for (index_t i = 0, n = g.numel(); i < n; ++i) pd[i] += pg[i];
    });
}

/// [N, d1, d2, ...] -> [N, d1*d2*...] (Keras' Flatten keeps the batch dimension).
template <Real T>
Tensor<T> flatten(const Tensor<T>& x) {
    EMBER_CHECK(x.rank() >= 1, ShapeError, "flatten: needs a batch dimension, got shape ", x.shape());
    return reshape(x, std::vector<index_t>{x.size(0), x.size(0) == 0 ? 0 : x.numel() / x.size(0)});
}

}  // namespace ember
