// ember/nn/batch_norm.hpp - Keras' BatchNormalization over the last axis (channels): batch statistics in
// training mode, moving statistics in inference mode, the moving statistics saved with the weights.
#pragma once

#include <sstream>

#include "ember/nn/module.hpp"

namespace ember::nn {

/// Keras' BatchNormalization(axis=-1): momentum 0.99, epsilon 1e-3, center (beta) and scale (gamma) on.
/// Input [N, ..., C] -> the same shape. Parameters "gamma" (ones) and "beta" (zeros); buffers "moving_mean"
/// (zeros) and "moving_variance" (ones), saved and loaded with the weights but never trained.
///
/// Training mode normalizes with the batch's mean and biased variance over every axis but the last, and then moves
/// the averages: moving = moving * momentum + batch * (1 - momentum), with the biased variance as Keras 3 does
/// (tf.keras 2's fused kernel and PyTorch's BatchNorm2d move the unbiased one; PyTorch's `momentum` is Keras'
/// 1 - momentum). Inference mode
/// (`eval()`), and a layer frozen by `set_trainable(false)` in either mode, normalize with the moving statistics and
/// leave them as they are. A training batch with one value
/// per channel (one sample of a [N, C] input) is refused: its variance is 0.
template <Real T = float>
class BatchNormalization : public Module<T> {
public:
    explicit BatchNormalization(double momentum = 0.99, double epsilon = 1e-3, bool center = true, bool scale = true)
        : momentum_(momentum), epsilon_(epsilon), center_(center), scale_(scale) {
        EMBER_CHECK(momentum >= 0.0 && momentum <= 1.0, ValueError, "BatchNormalization: momentum must be in [0, 1], got ",
                    momentum);
        EMBER_CHECK(epsilon > 0.0, ValueError, "BatchNormalization: epsilon must be > 0, got ", epsilon);
    }
    [[nodiscard]] std::string type_name() const override { return "BatchNormalization"; }
    [[nodiscard]] std::string default_name() const override { return "batch_normalization"; }
    /// A checkpoint's moving variance is only right with the epsilon it was normalized with.
    [[nodiscard]] std::string settings() const override {
        if (epsilon_ == 1e-3) return {};
        std::ostringstream os;
        os << "epsilon=" << epsilon_;
        return os.str();
    }

    Tensor<T> forward(const Tensor<T>& x) override {
        this->require_built();
        EMBER_CHECK(x.rank() >= 1 && x.shape().drop_front() == this->input_shape(), ShapeError, this->where(),
                    ": expected input [N, ", this->input_shape().str().substr(1), ", got ", x.shape());
        if (!this->is_training() || !this->trainable())  // a frozen layer keeps its statistics, as in Keras
            return batch_norm_inference(x, gamma_, beta_, moving_mean_, moving_variance_, epsilon_, this->where());
        BatchMoments moments;
        Tensor<T> y = batch_norm(x, gamma_, beta_, epsilon_, &moments, this->where());
        T* mean = moving_mean_.data();
        T* var = moving_variance_.data();
        for (std::size_t k = 0; k < moments.mean.size(); ++k) {
            const auto i = static_cast<index_t>(k);
            mean[i] = static_cast<T>(static_cast<double>(mean[i]) * momentum_ + moments.mean[k] * (1.0 - momentum_));
            var[i] = static_cast<T>(static_cast<double>(var[i]) * momentum_ + moments.variance[k] * (1.0 - momentum_));
        }
        return y;
    }

    [[nodiscard]] std::vector<NamedParameter<T>> named_parameters() const override {
        if (!this->built()) return {};
        std::vector<NamedParameter<T>> out;
        if (scale_) out.push_back({"gamma", gamma_});
        if (center_) out.push_back({"beta", beta_});
        return out;
    }
    [[nodiscard]] std::vector<NamedParameter<T>> named_buffers() const override {
        if (!this->built()) return {};
        return {{"moving_mean", moving_mean_}, {"moving_variance", moving_variance_}};
    }

    [[nodiscard]] double momentum() const { return momentum_; }
    [[nodiscard]] double epsilon() const { return epsilon_; }
    /// gamma [C] (undefined with scale=false), beta [C] (undefined with center=false) and the moving statistics.
    [[nodiscard]] const Tensor<T>& gamma() const { this->require_built(); return gamma_; }
    [[nodiscard]] const Tensor<T>& beta() const { this->require_built(); return beta_; }
    [[nodiscard]] const Tensor<T>& moving_mean() const { this->require_built(); return moving_mean_; }
    [[nodiscard]] const Tensor<T>& moving_variance() const { this->require_built(); return moving_variance_; }

protected:
    Shape do_build(const Shape& in, Generator&) override {
        EMBER_CHECK(in.rank() >= 1 && in[in.rank() - 1] > 0, ShapeError, this->where(),
                    ": expected input [N, ..., channels], got [N, ", in.str().substr(1));
        const index_t c = in[in.rank() - 1];
        if (scale_) gamma_ = Tensor<T>::ones({c}).requires_grad(true);
        if (center_) beta_ = Tensor<T>::zeros({c}).requires_grad(true);
        moving_mean_ = Tensor<T>::zeros({c});
        moving_variance_ = Tensor<T>::ones({c});
        return in;
    }

private:
    double momentum_, epsilon_;
    bool center_, scale_;
    Tensor<T> gamma_, beta_, moving_mean_, moving_variance_;
};

}  // namespace ember::nn
