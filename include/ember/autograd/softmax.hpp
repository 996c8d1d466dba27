// ember/autograd/softmax.hpp - differentiable softmax and log-softmax over the last axis, and the sparse
// categorical cross-entropy fused on logits (what Keras computes for Dense(softmax) + SparseCategoricalCrossentropy).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "ember/autograd/engine.hpp"
#include "ember/kernels/softmax.hpp"

namespace ember {

namespace detail {
template <Real T>
index_t rows_of(const Tensor<T>& x, const char* op) {
    EMBER_CHECK(x.rank() >= 1 && x.size(-1) > 0, ShapeError, op, ": expected [..., classes] with classes > 0, got ",
                x.shape());
    return x.numel() / x.size(-1);
}
}  // namespace detail

/// softmax over the last axis. Backward: dx = y * (g - sum(g * y)).
template <Real T>
Tensor<T> softmax(const Tensor<T>& x) {
    const index_t rows = detail::rows_of(x, "softmax"), n = x.size(-1);
    Tensor<T> y = Tensor<T>::empty(x.shape());
    kernels::softmax_rows(x.data(), rows, n, y.data());
    if (!autograd::needs_grad<T>({&x})) return y;
    return autograd::record(y, Op::softmax, {x}, [=, y = y.detach()](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        for (index_t r = 0; r < rows; ++r) {
            const T* pg = g.data() + r * n;
            const T* py = y.data() + r * n;
            T* pd = gi[0].data() + r * n;
            T dot = 0;
            for (index_t i = 0; i < n; ++i) dot += pg[i] * py[i];
            for (index_t i = 0; i < n; ++i) pd[i] += py[i] * (pg[i] - dot);
        }
    });
}

/// log(softmax(x)) over the last axis, computed stably. Backward: dx = g - softmax(x) * sum(g).
template <Real T>
Tensor<T> log_softmax(const Tensor<T>& x) {
    const index_t rows = detail::rows_of(x, "log_softmax"), n = x.size(-1);
    Tensor<T> y = Tensor<T>::empty(x.shape());
    kernels::log_softmax_rows(x.data(), rows, n, y.data());
    if (!autograd::needs_grad<T>({&x})) return y;
    return autograd::record(y, Op::log_softmax, {x}, [=, y = y.detach()](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        for (index_t r = 0; r < rows; ++r) {
            const T* pg = g.data() + r * n;
            const T* py = y.data() + r * n;
            T* pd = gi[0].data() + r * n;
            T total = 0;
            for (index_t i = 0; i < n; ++i) total += pg[i];
            for (index_t i = 0; i < n; ++i) pd[i] += pg[i] - std::exp(py[i]) * total;
        }
    });
}

/// Sparse categorical cross-entropy on logits [N, C] with integer labels in [0, C):
/// loss = (1/N) * sum_i w[y_i] * (logsumexp(z_i) - z_i[y_i]), w = 1 unless `class_weights` ([C]) is given.
/// Like Keras (class weights act as sample weights and the batch is reduced with sum / N), not PyTorch (which
/// divides by the sum of the weights). Finite for any finite logits (log-softmax is fused, never log(softmax)).
/// With `label_smoothing` e in [0, 1] the target is (1 - e) * one_hot(y) + e / C, as Keras' CategoricalCrossentropy
/// (label_smoothing=e) on one-hot labels and PyTorch's cross_entropy(label_smoothing=e) without weights:
/// loss_i = w[y_i] * -sum_j q_ij log softmax(z_i)_j. A class weight scales the whole row (Keras' sample weight;
/// PyTorch would weight each target class j by w[j]).
/// Throws ShapeError / ValueError naming the offending label, shape or smoothing.
template <Real T>
Tensor<T> sparse_categorical_crossentropy(const Tensor<T>& logits, std::span<const std::int32_t> labels,
                                         std::span<const T> class_weights = {}, std::type_identity_t<T> label_smoothing = 0) {
    EMBER_CHECK(logits.rank() == 2, ShapeError, "sparse_categorical_crossentropy: expected logits [N, classes], got ",
                logits.shape());
    const index_t n = logits.size(0), c = logits.size(1);
    EMBER_CHECK(static_cast<index_t>(labels.size()) == n, ShapeError, "sparse_categorical_crossentropy: ",
                labels.size(), " labels for logits ", logits.shape());
    EMBER_CHECK(n > 0 && c > 0, ShapeError, "sparse_categorical_crossentropy: empty logits ", logits.shape());
    EMBER_CHECK(class_weights.empty() || static_cast<index_t>(class_weights.size()) == c, ShapeError,
                "sparse_categorical_crossentropy: ", class_weights.size(), " class weights for ", c, " classes");
    EMBER_CHECK(label_smoothing >= 0 && label_smoothing <= 1, ValueError,
                "sparse_categorical_crossentropy: label_smoothing must be in [0, 1], got ", label_smoothing);
    for (index_t i = 0; i < n; ++i)
        EMBER_CHECK(labels[static_cast<std::size_t>(i)] >= 0 && labels[static_cast<std::size_t>(i)] < c, ValueError,
                    "sparse_categorical_crossentropy: label ", labels[static_cast<std::size_t>(i)], " at row ", i,
                    " is outside [0, ", c, ")");
    auto weight = [&](std::int32_t y) { return class_weights.empty() ? T(1) : class_weights[static_cast<std::size_t>(y)]; };
    Tensor<T> logp = Tensor<T>::empty(logits.shape());
    kernels::log_softmax_rows(logits.data(), n, c, logp.data());
    // q_ij = on * [j == y_i] + off: the smoothed target (on = 1, off = 0 without smoothing).
    const double off_d = static_cast<double>(label_smoothing) / static_cast<double>(c);
    const double on_d = 1.0 - static_cast<double>(label_smoothing);
    double total = 0;
    for (index_t i = 0; i < n; ++i) {
        const std::int32_t y = labels[static_cast<std::size_t>(i)];
        const T* lp = logp.data() + i * c;
        double row = on_d * static_cast<double>(lp[y]);
        if (label_smoothing != 0) {
            double sum = 0;
            for (index_t j = 0; j < c; ++j) sum += static_cast<double>(lp[j]);
            row += off_d * sum;
        }
        total -= static_cast<double>(weight(y)) * row;
    }
    Tensor<T> loss = Tensor<T>::scalar(static_cast<T>(total / static_cast<double>(n)));
    if (!autograd::needs_grad<T>({&logits})) return loss;
    std::vector<std::int32_t> ys(labels.begin(), labels.end());
    std::vector<T> ws(class_weights.begin(), class_weights.end());
    return autograd::record(loss, Op::sparse_categorical_crossentropy, {logits},
                            [=](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        // d loss / d z_ij = w_i / N * (softmax_ij - q_ij), since sum_j q_ij = 1
        const T scale = g.data()[0] / static_cast<T>(n);
        const T on = static_cast<T>(on_d), off = static_cast<T>(off_d);
        for (index_t i = 0; i < n; ++i) {
            const std::int32_t y = ys[static_cast<std::size_t>(i)];
            const T wi = scale * (ws.empty() ? T(1) : ws[static_cast<std::size_t>(y)]);
            const T* lp = logp.data() + i * c;
            T* pd = gi[0].data() + i * c;
            for (index_t j = 0; j < c; ++j) pd[j] += wi * (std::exp(lp[j]) - off - (j == y ? on : T(0)));
        }
    });
}

template <Real T>
Tensor<T> sparse_categorical_crossentropy(const Tensor<T>& logits, const std::vector<std::int32_t>& labels,
                                         const std::vector<T>& class_weights = {}, std::type_identity_t<T> label_smoothing = 0) {
    return sparse_categorical_crossentropy(logits, std::span<const std::int32_t>(labels),
                                           std::span<const T>(class_weights), label_smoothing);
}

}  // namespace ember
