// ember/nn/loss.hpp - losses as Keras' loss objects: callables loss(outputs, targets) -> a one-element tensor, which
// train::fit takes. The differentiable maths lives in the autograd op table (autograd/softmax.hpp, losses.hpp).
// Every classification loss takes logits (models end in a linear layer) and applies the sigmoid or softmax itself,
// stably.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "ember/autograd/ops.hpp"

namespace ember::nn {

using ember::binary_crossentropy_from_logits;
using ember::binary_focal_crossentropy_from_logits;
using ember::mean_squared_error;
using ember::sparse_categorical_crossentropy;
using ember::sparse_categorical_focal_crossentropy;

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

/// `targets` viewed with the shape of `logits` when they are that shape without its trailing 1 ([N] against [N, 1],
/// a class-index target against one output), as Keras' losses accept; otherwise `targets` itself, whose shape the
/// loss then checks.
template <Real T>
Tensor<T> binary_targets_like(const Tensor<T>& logits, const Tensor<T>& targets) {
    if (logits.rank() != targets.rank() + 1 || logits.size(-1) != 1) return targets;
    std::vector<index_t> leading = logits.shape().dims();
    leading.pop_back();
    return Shape(std::move(leading)) == targets.shape() ? targets.view_detached(logits.shape()) : targets;
}

/// Keras' BinaryCrossentropy(from_logits=True): logits [N, ...] and targets in [0, 1] of the same shape (or [N]
/// against [N, 1]); the mean over all elements. `label_smoothing` e targets t (1 - e) + 0.5 e; `class_weights`
/// [w0, w1] weight each element by w0 for target 0 and w1 for target 1 (w0 (1 - t) + w1 t for a soft target).
/// `from_logits` is true by default, unlike Keras: ember trains on logits, and false is refused with a ValueError
/// rather than misread.
template <Real T>
struct BinaryCrossentropy {
    bool from_logits = true;
    T label_smoothing = 0;
    std::vector<T> class_weights;

    Tensor<T> operator()(const Tensor<T>& logits, const Tensor<T>& targets) const {
        EMBER_CHECK(from_logits, ValueError,
                    "BinaryCrossentropy: from_logits=false is not supported: ember trains on logits (end the model in "
                    "a linear layer; the loss applies the sigmoid stably, and ember::sigmoid turns outputs into "
                    "probabilities)");
        return ember::binary_crossentropy_from_logits(logits, binary_targets_like(logits, targets),
                                                      std::span<const T>(class_weights), label_smoothing);
    }
};

/// Keras' BinaryFocalCrossentropy(from_logits=True): BinaryCrossentropy's inputs, each term scaled by
/// (1 - p_t)^gamma and, with apply_class_balancing, by alpha for target 1 and 1 - alpha for target 0.
template <Real T>
struct BinaryFocalCrossentropy {
    T gamma = 2;
    T alpha = 0.25;
    bool apply_class_balancing = false;
    std::vector<T> class_weights;  // [w0, w1], as BinaryCrossentropy's
    T label_smoothing = 0;

    Tensor<T> operator()(const Tensor<T>& logits, const Tensor<T>& targets) const {
        return ember::binary_focal_crossentropy_from_logits(
            logits, binary_targets_like(logits, targets), std::span<const T>(class_weights),
            BinaryFocalOptions<T>{gamma, alpha, apply_class_balancing, label_smoothing});
    }
};

/// Keras' CategoricalFocalCrossentropy(from_logits=True) with class-index targets, as SparseCategoricalCrossentropy
/// takes them (Keras has no sparse focal class): logits [N, classes], targets [N] (as T); the mean over samples of
/// w[y] * -alpha (1 - p_y)^gamma log p_y, w = class_weights ([classes]) or 1.
template <Real T>
struct SparseCategoricalFocalCrossentropy {
    T gamma = 2;
    T alpha = 0.25;
    std::vector<T> class_weights;

    Tensor<T> operator()(const Tensor<T>& logits, const Tensor<T>& targets) const {
        const std::vector<std::int32_t> labels = class_indices(targets);
        return ember::sparse_categorical_focal_crossentropy(logits, std::span<const std::int32_t>(labels),
                                                            std::span<const T>(class_weights),
                                                            CategoricalFocalOptions<T>{gamma, alpha});
    }
};

}  // namespace ember::nn
