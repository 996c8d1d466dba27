// ember/autograd/batch_norm.hpp - differentiable batch normalization over the last axis (channels, NHWC): the
// training form with the batch's own statistics (one op, fused backward) and the inference form with given
// (moving) statistics. The layer and its moving averages are nn::BatchNormalization.
#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ember/autograd/elementwise.hpp"
#include "ember/autograd/engine.hpp"
#include "ember/kernels/batch_norm.hpp"

namespace ember {

/// The statistics of one training batch, per channel: what a layer folds into its moving averages.
struct BatchMoments {
    std::vector<double> mean, variance;  // the variance is the biased one (divided by the count), as Keras uses
};

namespace detail {
template <Real T>
void check_batch_norm(const Tensor<T>& x, const Tensor<T>& gamma, const Tensor<T>& beta, const std::string& where) {
    EMBER_CHECK(x.rank() >= 2, ShapeError, where, ": expected a batch [N, ..., C], got ", x.shape());
    const index_t c = x.size(x.rank() - 1);
    for (const Tensor<T>* p : {&gamma, &beta})
        EMBER_CHECK(!p->defined() || (p->rank() == 1 && p->size(0) == c), ShapeError, where, ": expected ",
                    p == &gamma ? "gamma" : "beta", " [", c, "] for input ", x.shape(), ", got ", p->shape());
}
}  // namespace detail

/// y = gamma * (x - mean) / sqrt(var + epsilon) + beta per channel (the last axis), with the mean and biased
/// variance of this batch over every other axis. `gamma` and `beta` may be undefined (Keras' scale=False,
/// center=False). Writes the batch's moments to `moments` when given. Refuses (ValueError) a batch with one value
/// per channel: its variance is 0 and the output would be beta whatever the input, with no gradient to learn from.
template <Real T>
Tensor<T> batch_norm(const Tensor<T>& x, const Tensor<T>& gamma, const Tensor<T>& beta, double epsilon,
                     BatchMoments* moments = nullptr, const std::string& where = "batch_norm") {
    detail::check_batch_norm(x, gamma, beta, where);
    EMBER_CHECK(epsilon > 0, ValueError, where, ": epsilon must be > 0, got ", epsilon);
    const index_t c = x.size(x.rank() - 1), rows = x.numel() / std::max<index_t>(c, 1);
    EMBER_CHECK(rows > 0, ValueError, where, ": cannot normalize the empty batch ", x.shape());
    EMBER_CHECK(rows > 1, ValueError, where, ": cannot normalize input ", x.shape(),
                " in training mode: each channel has one value (a batch of one sample), whose variance is 0; "
                "train with batches of at least 2 samples or call eval() to use the moving statistics");
    auto stats = std::make_shared<BatchMoments>();
    kernels::channel_moments(x.data(), rows, c, stats->mean, stats->variance);
    std::vector<double> inv_std(static_cast<std::size_t>(c));
    std::vector<T> mean(inv_std.size()), scale(inv_std.size()), shift(inv_std.size());
    for (std::size_t k = 0; k < inv_std.size(); ++k) {
        inv_std[k] = 1.0 / std::sqrt(stats->variance[k] + epsilon);
        mean[k] = static_cast<T>(stats->mean[k]);
        scale[k] = static_cast<T>((gamma.defined() ? static_cast<double>(gamma.data()[k]) : 1.0) * inv_std[k]);
        shift[k] = beta.defined() ? beta.data()[k] : T(0);
    }
    Tensor<T> y = Tensor<T>::empty(x.shape());
    kernels::channel_affine(x.data(), rows, c, mean.data(), scale.data(), shift.data(), y.data());
    if (moments) *moments = *stats;
    if (!autograd::needs_grad<T>({&x, &gamma, &beta})) return y;
    return autograd::record(y, Op::batch_norm, {x, gamma, beta},
                            [x, gamma, stats, inv_std = std::move(inv_std), rows, c](const Tensor<T>& g,
                                                                                      std::vector<Tensor<T>>& gi) {
        kernels::batch_norm_backward(x.data(), g.data(), rows, c, stats->mean, inv_std,
                                     gamma.defined() ? gamma.data() : nullptr, gi[0].defined() ? gi[0].data() : nullptr,
                                     gi[1].defined() ? gi[1].data() : nullptr, gi[2].defined() ? gi[2].data() : nullptr);
    });
}

/// The inference form: y = gamma * (x - mean) / sqrt(variance + epsilon) + beta with given per-channel statistics
/// (a layer's moving averages), which are constants. Without a gradient to record it is one fused pass; otherwise
/// (fine-tuning through a frozen layer) it is composed of mul and add, so gradients reach x, gamma and beta.
template <Real T>
Tensor<T> batch_norm_inference(const Tensor<T>& x, const Tensor<T>& gamma, const Tensor<T>& beta,
                               const Tensor<T>& mean, const Tensor<T>& variance, double epsilon,
                               const std::string& where = "batch_norm_inference") {
    detail::check_batch_norm(x, gamma, beta, where);
    const index_t c = x.size(x.rank() - 1);
    EMBER_CHECK(mean.shape() == Shape{c} && variance.shape() == Shape{c}, ShapeError, where,
                ": expected moving mean and variance [", c, "], got ", mean.shape(), " and ", variance.shape());
    EMBER_CHECK(epsilon > 0, ValueError, where, ": epsilon must be > 0, got ", epsilon);
    for (index_t k = 0; k < c; ++k)  // a negative one (a corrupt checkpoint) would make every output NaN
        EMBER_CHECK(variance.data()[k] >= 0, ValueError, where, ": moving variance of channel ", k, " is ",
                    variance.data()[k], ", a variance cannot be negative");
    Tensor<T> inv_std = Tensor<T>::empty({c});
    for (index_t k = 0; k < c; ++k)
        inv_std.data()[k] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(variance.data()[k]) + epsilon));
    if (!autograd::needs_grad<T>({&x, &gamma, &beta})) {
        Tensor<T> scale = Tensor<T>::empty({c}), shift = Tensor<T>::empty({c});
        for (index_t k = 0; k < c; ++k) {
            scale.data()[k] = (gamma.defined() ? gamma.data()[k] : T(1)) * inv_std.data()[k];
            shift.data()[k] = beta.defined() ? beta.data()[k] : T(0);
        }
        Tensor<T> y = Tensor<T>::empty(x.shape());
        kernels::channel_affine(x.data(), x.numel() / std::max<index_t>(c, 1), c, mean.data(), scale.data(),
                                shift.data(), y.data());
        return y;
    }
    const Tensor<T> scale = gamma.defined() ? mul(gamma, inv_std) : inv_std;
    Tensor<T> y = mul(sub(x, mean.detach()), scale);
    return beta.defined() ? add(y, beta) : y;
}

}  // namespace ember
