// ember/autograd/losses.hpp - differentiable regression losses on tensors of any shape, reduced to a rank-0 loss.
// (The classification loss, sparse_categorical_crossentropy, is fused with log-softmax in softmax.hpp.)
#pragma once

#include <vector>

#include "ember/autograd/engine.hpp"

namespace ember {

/// Mean squared error: loss = (1/n) * sum_i (p_i - t_i)^2 over all n elements, as a rank-0 tensor. This is Keras'
/// MeanSquaredError with its default reduction (sum_over_batch_size), which for samples of equal size is the mean
/// over all elements. The sum is accumulated in double. Gradients flow to `predictions` and, when it requires grad,
/// to `targets`. Throws ShapeError when the shapes differ (no broadcasting: a [N] target against [N, 1]
/// predictions would silently compare every pair), ValueError when they are empty.
template <Real T>
Tensor<T> mean_squared_error(const Tensor<T>& predictions, const Tensor<T>& targets) {
    EMBER_CHECK(predictions.shape() == targets.shape(), ShapeError, "mean_squared_error: predictions ",
                predictions.shape(), " and targets ", targets.shape(),
                " differ (give targets the predictions' shape, e.g. [N, 1] for a model with one output)");
    EMBER_CHECK(predictions.numel() > 0, ValueError, "mean_squared_error: predictions and targets of shape ",
                predictions.shape(), " are empty");
    const index_t n = predictions.numel();
    const T* pp = predictions.data();
    const T* pt = targets.data();
    double total = 0;
    for (index_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(pp[i]) - static_cast<double>(pt[i]);
        total += d * d;
    }
    Tensor<T> loss = Tensor<T>::scalar(static_cast<T>(total / static_cast<double>(n)));
    if (!autograd::needs_grad<T>({&predictions, &targets})) return loss;
    return autograd::record(std::move(loss), Op::mean_squared_error, {predictions, targets},
                            [p = predictions, t = targets, n](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        // d loss / d p_i = 2 (p_i - t_i) / n = -d loss / d t_i
        const T scale = T(2) * g.data()[0] / static_cast<T>(n);
        const T* pp = p.data();
        const T* pt = t.data();
        T* dp = gi[0].defined() ? gi[0].data() : nullptr;
        T* dt = gi[1].defined() ? gi[1].data() : nullptr;
        for (index_t i = 0; i < n; ++i) {
            const T d = scale * (pp[i] - pt[i]);
            if (dp) dp[i] += d;
            if (dt) dt[i] -= d;
        }
    });
}

}  // namespace ember
