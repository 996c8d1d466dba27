// ember/nn/dense.hpp - the Dense layer: y = x W + b with W [in, units] (Keras' layout) and b [units].
#pragma once

#include "ember/nn/init.hpp"
#include "ember/nn/module.hpp"

namespace ember::nn {

/// Keras' Dense: kernel glorot_uniform, bias zeros, no activation unless given. Input [N, in] -> [N, units].
template <Real T = float>
class Dense : public Module<T> {
public:
    explicit Dense(index_t units, Activation activation = Activation::linear) : units_(units), activation_(activation) {
        EMBER_CHECK(units > 0, ValueError, "Dense: units must be > 0, got ", units);
    }
    [[nodiscard]] std::string type_name() const override { return "Dense"; }
    [[nodiscard]] std::string default_name() const override { return "dense"; }

    Tensor<T> forward(const Tensor<T>& x) override {
        this->require_built();
        EMBER_CHECK(x.rank() == 2 && x.size(1) == kernel_w_.size(0), ShapeError, this->where(), ": expected input [N, ",
                    kernel_w_.size(0), "], got ", x.shape());
        Tensor<T> y = add(matmul(x, kernel_w_), bias_);
        return activation_ == Activation::relu ? ember::relu(y) : y;
    }
    [[nodiscard]] std::vector<NamedParameter<T>> named_parameters() const override {
        if (!this->built()) return {};
        return {{"kernel", kernel_w_}, {"bias", bias_}};
    }
    [[nodiscard]] const Tensor<T>& kernel() const { this->require_built(); return kernel_w_; }
    [[nodiscard]] const Tensor<T>& bias() const { this->require_built(); return bias_; }
    [[nodiscard]] Activation activation() const { return activation_; }

protected:
    Shape do_build(const Shape& in, Generator& gen) override {
        EMBER_CHECK(in.rank() == 1, ShapeError, this->where(), ": expected input [N, features], got [N, ",
                    in.str().substr(1), " (add a Flatten layer before it)");
        kernel_w_ = init::glorot_uniform<T>({in[0], units_}, gen).requires_grad(true);
        bias_ = Tensor<T>::zeros({units_}).requires_grad(true);
        return {units_};
    }

private:
    index_t units_;
    Activation activation_;
    Tensor<T> kernel_w_, bias_;
};

}  // namespace ember::nn
