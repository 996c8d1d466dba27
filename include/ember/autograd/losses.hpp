// ember/autograd/losses.hpp - differentiable losses reduced to a rank-0 loss: mean squared error, and the
// classification losses on logits with their own fused, numerically stable backward: binary cross-entropy, binary
// focal cross-entropy and sparse categorical focal cross-entropy. (sparse_categorical_crossentropy is fused with
// log-softmax in softmax.hpp.)
//
// Class weights follow Keras' class_weight, as sparse_categorical_crossentropy does: each sample's loss is multiplied
// by the weight of its target class and the batch is reduced with sum / (number of terms), not PyTorch's division
// by the sum of the weights. Targets are data: no gradient flows to them.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "ember/autograd/activations.hpp"
#include "ember/autograd/engine.hpp"
#include "ember/kernels/softmax.hpp"

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

/// Keras' BinaryFocalCrossentropy settings, with its names and defaults.
template <Real T>
struct BinaryFocalOptions {
    T gamma = 2;                         // the focusing exponent on (1 - p_t), >= 0; 0 gives the cross-entropy
    T alpha = 0.25;                      // with class balancing: the weight of target 1 (1 - alpha for target 0)
    bool apply_class_balancing = false;  // weight each term by t alpha + (1 - t)(1 - alpha)
    T label_smoothing = 0;               // in [0, 1]: targets become t (1 - e) + 0.5 e
};

/// Keras' CategoricalFocalCrossentropy settings, with its names and defaults (a scalar alpha only: per-class
/// weights are the loss's class_weights).
template <Real T>
struct CategoricalFocalOptions {
    T gamma = 2;     // the focusing exponent on (1 - p_t), >= 0; 0 gives alpha times the cross-entropy
    T alpha = 0.25;  // in [0, 1]: scales every term
};

namespace detail {
/// The mean over `terms` loss terms on logits, recorded as `op`. Term i reads the logits [i * width, (i + 1) * width)
/// and `term(i, d)` returns its value and writes its derivative with respect to those logits to d[0, width). The
/// derivatives are computed with the value, so backward is one scaled add and keeps no inputs alive.
template <Real T, class Term>
Tensor<T> mean_of_terms(const Tensor<T>& logits, Op op, index_t terms, index_t width, Term term) {
    const bool grad = autograd::needs_grad<T>({&logits});
    Tensor<T> dlogits = Tensor<T>::empty(logits.shape());
    double total = 0;
    for (index_t i = 0; i < terms; ++i) total += term(i, dlogits.data() + i * width);
    Tensor<T> loss = Tensor<T>::scalar(static_cast<T>(total / static_cast<double>(terms)));
    if (!grad) return loss;
    return autograd::record(std::move(loss), op, {logits},
                            [dlogits, terms](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        const T scale = g.data()[0] / static_cast<T>(terms);
        const T* pd = dlogits.data();
        T* out = gi[0].data();
        for (index_t i = 0, n = dlogits.numel(); i < n; ++i) out[i] += scale * pd[i];
    });
}

/// The weight of binary target t (before smoothing): w[0] for 0, w[1] for 1, w[0] (1 - t) + w[1] t between; 1
/// without weights.
template <Real T>
T binary_class_weight(std::span<const T> class_weights, T t) {
    return class_weights.empty() ? T(1) : class_weights[0] * (T(1) - t) + class_weights[1] * t;
}

/// The cross-entropy of logit z against target t in [0, 1], (1 - t) softplus(z) + t softplus(-z): with no
/// difference of large terms, it keeps its value where max(z, 0) - z t + log1p(exp(-|z|)) would round to 0.
template <Real T>
T logit_crossentropy(T z, T t) {
    return (T(1) - t) * stable_softplus(z) + t * stable_softplus(-z);
}

/// The checks every binary loss on logits makes, naming `op` and the shapes.
template <Real T>
void check_binary_inputs(const char* op, const Tensor<T>& logits, const Tensor<T>& targets,
                         std::span<const T> class_weights, T label_smoothing) {
    EMBER_CHECK(logits.shape() == targets.shape(), ShapeError, op, ": logits ", logits.shape(), " and targets ",
                targets.shape(), " differ (give targets the logits' shape, e.g. [N, 1] for a model with one output)");
    EMBER_CHECK(logits.numel() > 0, ValueError, op, ": logits and targets of shape ", logits.shape(), " are empty");
    EMBER_CHECK(class_weights.empty() || class_weights.size() == 2, ShapeError, op, ": ", class_weights.size(),
                " class weights for logits ", logits.shape(), " (a binary loss takes 2: for targets 0 and 1)");
    EMBER_CHECK(label_smoothing >= 0 && label_smoothing <= 1, ValueError, op,
                ": label_smoothing must be in [0, 1], got ", label_smoothing);
    const T* pt = targets.data();
    for (index_t i = 0, n = targets.numel(); i < n; ++i)
        EMBER_CHECK(pt[i] >= 0 && pt[i] <= 1, ValueError, op, ": target ", pt[i], " at flat index ", i,
                    " of targets ", targets.shape(), " is outside [0, 1]");
}

/// The checks of the focusing parameters, naming `op`.
template <Real T>
void check_focal(const char* op, T gamma, T alpha) {
    EMBER_CHECK(gamma >= 0 && std::isfinite(gamma), ValueError, op, ": gamma must be finite and >= 0, got ", gamma);
    EMBER_CHECK(alpha >= 0 && alpha <= 1, ValueError, op, ": alpha must be in [0, 1], got ", alpha);
}
}  // namespace detail

/// Keras' BinaryCrossentropy(from_logits=True) on logits z and targets t in [0, 1] of the same shape: the mean
/// over all n elements of w(t) bce(z, t'), bce = max(z, 0) - z t' + log(1 + exp(-|z|)), evaluated as
/// (1 - t') softplus(z) + t' softplus(-z): finite for any finite logit, and a confident right answer costs its
/// tiny true value (log(1 + e^-50) for z = 50, t = 1), not a difference rounded to 0.
/// t' = t (1 - e) + 0.5 e with `label_smoothing` e in [0, 1] (Keras' smoothing). w(t) = w0 (1 - t) + w1 t from
/// `class_weights` [w0, w1] (w0 for target 0, w1 for target 1; 1 without weights), per element: on a [N, 1] output
/// this is Keras' class_weight, and a [N, K] multi-label output weights each label by its own target. Without
/// weights it equals PyTorch's binary_cross_entropy_with_logits; with them, that function given weight = w(t).
/// Backward: w(t) (sigmoid(z) - t') / n.
/// Throws ShapeError for differing shapes or a weight count other than 2, ValueError for empty tensors, targets
/// outside [0, 1] or a smoothing outside [0, 1].
template <Real T>
Tensor<T> binary_crossentropy_from_logits(const Tensor<T>& logits, const Tensor<T>& targets,
                                          std::type_identity_t<std::span<const T>> class_weights = {},
                                          std::type_identity_t<T> label_smoothing = 0) {
    detail::check_binary_inputs("binary_crossentropy_from_logits", logits, targets, class_weights, label_smoothing);
    const T keep = T(1) - label_smoothing, shift = T(0.5) * label_smoothing;
    const T* pz = logits.data();
    const T* pt = targets.data();
    return detail::mean_of_terms(logits, Op::binary_crossentropy_from_logits, logits.numel(), 1,
                                 [&](index_t i, T* d) {
        const T z = pz[i], t = pt[i] * keep + shift, w = detail::binary_class_weight(class_weights, pt[i]);
        // sigmoid(z) - t = (1 - t) sigmoid(z) - t sigmoid(-z): no cancellation when sigmoid(z) rounds to t.
        d[0] = w * ((T(1) - t) * detail::stable_sigmoid(z) - t * detail::stable_sigmoid(-z));
        return static_cast<double>(w) * static_cast<double>(detail::logit_crossentropy(z, t));
    });
}

/// Keras' BinaryFocalCrossentropy(from_logits=True): the mean over all n elements of
/// w(t) a(t') (1 - p_t)^gamma bce(z, t'), with bce, t' and w(t) as in binary_crossentropy_from_logits,
/// 1 - p_t = t' sigmoid(-z) + (1 - t') sigmoid(z), and a(t') = t' alpha + (1 - t')(1 - alpha) with
/// apply_class_balancing, else 1. Computed from the logits, so it stays exact where Keras' probability form clips
/// p to [1e-7, 1 - 1e-7]. Backward: w a (1 - p_t)^gamma (gamma r bce + sigmoid(z) - t') / n, with
/// r = d(1 - p_t)/dz / (1 - p_t) = (1 - 2t') sigmoid(z) sigmoid(-z) / (1 - p_t), which lies in [-1, 1].
/// Throws as binary_crossentropy_from_logits does, and ValueError for a gamma < 0 or an alpha outside [0, 1].
template <Real T>
Tensor<T> binary_focal_crossentropy_from_logits(const Tensor<T>& logits, const Tensor<T>& targets,
                                                std::type_identity_t<std::span<const T>> class_weights = {},
                                                std::type_identity_t<BinaryFocalOptions<T>> options = {}) {
    constexpr const char* op = "binary_focal_crossentropy_from_logits";
    detail::check_binary_inputs(op, logits, targets, class_weights, options.label_smoothing);
    detail::check_focal(op, options.gamma, options.alpha);
    const T keep = T(1) - options.label_smoothing, shift = T(0.5) * options.label_smoothing;
    const T* pz = logits.data();
    const T* pt = targets.data();
    return detail::mean_of_terms(logits, Op::binary_focal_crossentropy_from_logits, logits.numel(), 1,
                                 [&](index_t i, T* d) {
        const T z = pz[i], t = pt[i] * keep + shift;
        const T s = detail::stable_sigmoid(z), s_neg = detail::stable_sigmoid(-z);  // s_neg = 1 - s
        const T a = options.alpha;
        const T balance = options.apply_class_balancing ? t * a + (T(1) - t) * (T(1) - a) : T(1);
        const T w = detail::binary_class_weight(class_weights, pt[i]) * balance;
        const T bce = detail::logit_crossentropy(z, t);
        const T q = t * s_neg + (T(1) - t) * s;  // 1 - p_t
        const T focal = std::pow(q, options.gamma);
        const T r = q > T(0) ? (T(1) - T(2) * t) * s * s_neg / q : T(0);  // where q is 0, focal' bce -> 0
        d[0] = w * focal * (options.gamma * r * bce + (T(1) - t) * s - t * s_neg);
        return static_cast<double>(w * focal) * static_cast<double>(bce);
    });
}

/// A focal form of sparse_categorical_crossentropy: Keras' CategoricalFocalCrossentropy(from_logits=True) with
/// class-index labels [N] in place of one-hot targets, as SparseCategoricalCrossentropy is to
/// CategoricalCrossentropy (Keras has no sparse focal class). On logits [N, C]:
/// loss = (1/N) sum_i w[y_i] * -alpha (1 - p_i)^gamma log p_i, p_i = softmax(z_i)[y_i], w = 1 unless
/// `class_weights` ([C]) is given. log p_i comes from the fused log-softmax and 1 - p_i from expm1, so the loss is
/// exact where Keras clips p to [1e-7, 1 - 1e-7]. Backward: d/dz_ij = w alpha c (softmax_ij - [j == y_i]) / N,
/// c = (1 - p)^gamma (1 - gamma p log(p) / (1 - p)), where log(p) / (1 - p) -> -1 as p -> 1.
/// Throws ShapeError / ValueError naming the offending label, shape, weight count, gamma or alpha.
template <Real T>
Tensor<T> sparse_categorical_focal_crossentropy(const Tensor<T>& logits, std::span<const std::int32_t> labels,
                                                std::type_identity_t<std::span<const T>> class_weights = {},
                                                std::type_identity_t<CategoricalFocalOptions<T>> options = {}) {
    constexpr const char* op = "sparse_categorical_focal_crossentropy";
    EMBER_CHECK(logits.rank() == 2, ShapeError, op, ": expected logits [N, classes], got ", logits.shape());
    const index_t n = logits.size(0), c = logits.size(1);
    EMBER_CHECK(static_cast<index_t>(labels.size()) == n, ShapeError, op, ": ", labels.size(), " labels for logits ",
                logits.shape());
    EMBER_CHECK(n > 0 && c > 0, ShapeError, op, ": empty logits ", logits.shape());
    EMBER_CHECK(class_weights.empty() || static_cast<index_t>(class_weights.size()) == c, ShapeError, op, ": ",
                class_weights.size(), " class weights for logits ", logits.shape());
    for (index_t i = 0; i < n; ++i)
        EMBER_CHECK(labels[static_cast<std::size_t>(i)] >= 0 && labels[static_cast<std::size_t>(i)] < c, ValueError,
                    op, ": label ", labels[static_cast<std::size_t>(i)], " at row ", i, " is outside [0, ", c,
                    ") for logits ", logits.shape());
    detail::check_focal(op, options.gamma, options.alpha);
    Tensor<T> logp = Tensor<T>::empty(logits.shape());
    kernels::log_softmax_rows(logits.data(), n, c, logp.data());
    return detail::mean_of_terms(logits, Op::sparse_categorical_focal_crossentropy, n, c, [&](index_t i, T* d) {
        const std::int32_t y = labels[static_cast<std::size_t>(i)];
        const T* lp = logp.data() + i * c;
        const T w = options.alpha * (class_weights.empty() ? T(1) : class_weights[static_cast<std::size_t>(y)]);
        const T p = std::exp(lp[y]), miss = -std::expm1(lp[y]);  // miss = 1 - p
        const T focal = std::pow(miss, options.gamma);
        const T log_ratio = miss > T(0) ? lp[y] / miss : T(-1);
        const T scale = w * focal * (T(1) - options.gamma * p * log_ratio);
        for (index_t j = 0; j < c; ++j) d[j] = scale * (j == y ? std::expm1(lp[j]) : std::exp(lp[j]));
        return -static_cast<double>(w * focal) * static_cast<double>(lp[y]);
    });
}

}  // namespace ember
