// ember/nn/fold.hpp - inference-time folding of batch normalization into the convolution or dense layer before it.
#pragma once

#include <cmath>
#include <vector>

#include "ember/nn/batch_norm.hpp"
#include "ember/nn/conv2d.hpp"
#include "ember/nn/dense.hpp"
#include "ember/nn/sequential.hpp"

namespace ember::nn {

namespace fold_detail {
/// Rewrites y = x W + b (W's last axis is the output channel) followed by the inference-mode normalization into
/// one layer: W' = W * s and b' = (b - mean) * s + beta per channel, with s = gamma / sqrt(moving_variance + eps).
template <Real T>
void fold_into(Tensor<T> kernel, Tensor<T> bias, const BatchNormalization<T>& bn) {
    const index_t c = bias.numel();
    std::vector<double> s(static_cast<std::size_t>(c));
    for (index_t k = 0; k < c; ++k) {
        const double g = bn.gamma().defined() ? static_cast<double>(bn.gamma().data()[k]) : 1.0;
        s[static_cast<std::size_t>(k)] =
            g / std::sqrt(static_cast<double>(bn.moving_variance().data()[k]) + bn.epsilon());
    }
    T* w = kernel.data();
    for (index_t i = 0; i < kernel.numel(); ++i)
        w[i] = static_cast<T>(static_cast<double>(w[i]) * s[static_cast<std::size_t>(i % c)]);
    T* b = bias.data();
    for (index_t k = 0; k < c; ++k) {
        const double beta = bn.beta().defined() ? static_cast<double>(bn.beta().data()[k]) : 0.0;
        b[k] = static_cast<T>((static_cast<double>(b[k]) - static_cast<double>(bn.moving_mean().data()[k])) *
                                  s[static_cast<std::size_t>(k)] + beta);
    }
}
}  // namespace fold_detail

/// Folds every BatchNormalization that directly follows a Conv2D or Dense without a fused activation into that
/// layer's kernel and bias, and removes it from `model`: the model then computes in one pass what it computed in
/// inference mode before (up to rounding), with one full read and write of each folded activation fewer. A
/// batch normalization after an activation, or first in the model, stays. Returns how many were folded. The folded
/// model is for inference: training it again would train without normalization, and its checkpoints record the
/// architecture without the folded layers.
template <Real T>
int fold_batch_norm(Sequential<T>& model) {
    EMBER_CHECK(model.built(), StateError, "fold_batch_norm: build the model (and load its weights) first");
    EMBER_CHECK(!model.is_training(), StateError,
                "fold_batch_norm: call eval() first: folding bakes in the moving statistics, which only inference uses");
    int folded = 0;
    for (std::size_t i = 1; i < model.size();) {
        auto* bn = dynamic_cast<BatchNormalization<T>*>(&model[i]);
        auto* conv = dynamic_cast<Conv2D<T>*>(&model[i - 1]);
        auto* dense = dynamic_cast<Dense<T>*>(&model[i - 1]);
        const bool linear = (conv && !conv->options().relu) || (dense && dense->activation() == Activation::linear);
        if (!bn || !linear) {
            ++i;
            continue;
        }
        NoGradGuard no_grad;
        if (conv) fold_detail::fold_into(conv->kernel(), conv->bias(), *bn);
        else fold_detail::fold_into(dense->kernel(), dense->bias(), *bn);
        model.remove(i);
        ++folded;
    }
    return folded;
}

}  // namespace ember::nn
