// ember/nn/loss.hpp - losses as Keras' loss objects: callables loss(outputs, targets) -> a one-element tensor, which
// train::fit takes. The differentiable maths lives in the autograd op table (autograd/softmax.hpp, losses.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "ember/autograd/ops.hpp"

namespace ember::nn {

using ember::mean_squared_error;
using ember::sparse_categorical_crossentropy;

/// The class indices held by a target tensor [B] or [B, 1]. Throws ValueError naming the row for a value that is
/// not a whole number in [0, 2^31), ShapeError for another shape.
template <Real T>
std::vector<std::int32_t> class_indices(const Tensor<T>& targets) {
    EMBER_CHECK(targets.rank() == 1 || (targets.rank() == 2 && targets.size(1) == 1), ShapeError,
                "class_indices: expected class-index targets [N] or [N, 1], got ", targets.shape());
    std::vector<std::int32_t> out(static_cast<std::size_t>(targets.size(0)));
    for (std::size_t i = 0; i < out.size(); ++i) {
        const T v = targets.data()[i];
        EMBER_CHECK(v >= 0 && v < T(2147483647) && v == static_cast<T>(static_cast<std::int64_t>(v)), ValueError,
                    "class_indices: target ", v, " at row ", i, " is not a class index");
        out[i] = static_cast<std::int32_t>(v);
    }
    return out;
}

/// A loss as fit() calls it: outputs [N, ...] of the model and the batch's targets [N, ...] -> a scalar tensor.
template <Real T>
using Loss = std::function<Tensor<T>(const Tensor<T>& outputs, const Tensor<T>& targets)>;

/// Keras' SparseCategoricalCrossentropy(from_logits=True): logits [N, classes], targets class indices [N] (as T).
/// `class_weights` ([classes]) weight each sample by its class (Keras' class_weight, which acts on the training
/// loss only: give fit a validation loss without them); `label_smoothing` e targets (1 - e) * one_hot + e / classes.
template <Real T>
struct SparseCategoricalCrossentropy {
    std::vector<T> class_weights;
    T label_smoothing = 0;

    Tensor<T> operator()(const Tensor<T>& logits, const Tensor<T>& targets) const {
        const std::vector<std::int32_t> labels = class_indices(targets);
        return ember::sparse_categorical_crossentropy(logits, std::span<const std::int32_t>(labels),
                                                      std::span<const T>(class_weights), label_smoothing);
    }
};

/// Keras' MeanSquaredError: the mean over all elements of (outputs - targets)^2; shapes must be equal.
template <Real T>
struct MeanSquaredError {
    Tensor<T> operator()(const Tensor<T>& outputs, const Tensor<T>& targets) const {
        return ember::mean_squared_error(outputs, targets);
    }
};

}  // namespace ember::nn
