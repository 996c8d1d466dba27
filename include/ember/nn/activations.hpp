// ember/nn/activations.hpp - elementwise activation layers: LeakyReLU, Sigmoid, Tanh, GELU, Swish. Each keeps its
// input's shape and has no parameters.
//
// Names: LeakyReLU is Keras' class, with its type name, its automatic name "leaky_re_lu" and its default slope 0.3.
// Keras has no class for the others; it writes Activation('sigmoid'), Activation('tanh'), Activation('gelu'),
// Activation('swish'), all of type "Activation". ember gives each its own class, type name (Sigmoid, Tanh, GELU,
// Swish: PyTorch's class names, Swish for its SiLU) and automatic name (Keras' activation identifiers "sigmoid",
// "tanh", "gelu", "swish"), so that a checkpoint's architecture tells a sigmoid layer from a tanh one.
#pragma once

#include <cmath>
#include <string>

#include "ember/autograd/activations.hpp"
#include "ember/nn/module.hpp"

namespace ember::nn {

/// Keras' LeakyReLU: x for x >= 0, negative_slope * x below, with Keras' default slope 0.3 (PyTorch's is 0.01).
/// Throws ValueError, as Keras does, for a slope that is negative (or not finite).
template <Real T = float>
class LeakyReLU : public Module<T> {
public:
    explicit LeakyReLU(T negative_slope = T(0.3)) : negative_slope_(negative_slope) {
        EMBER_CHECK(negative_slope >= 0 && std::isfinite(negative_slope), ValueError,
                    "LeakyReLU: negative_slope must be finite and >= 0, got ", negative_slope);
    }
    [[nodiscard]] std::string type_name() const override { return "LeakyReLU"; }
    [[nodiscard]] std::string default_name() const override { return "leaky_re_lu"; }
    Tensor<T> forward(const Tensor<T>& x) override { return ember::leaky_relu(x, negative_slope_); }
    [[nodiscard]] T negative_slope() const { return negative_slope_; }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }

private:
    T negative_slope_;
};

/// The logistic function as a layer (Keras: Activation('sigmoid')). For probabilities at inference: train on
/// logits with BinaryCrossentropy, which applies the sigmoid itself.
template <Real T = float>
class Sigmoid : public Module<T> {
public:
    [[nodiscard]] std::string type_name() const override { return "Sigmoid"; }
    [[nodiscard]] std::string default_name() const override { return "sigmoid"; }
    Tensor<T> forward(const Tensor<T>& x) override { return ember::sigmoid(x); }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }
};

/// tanh as a layer (Keras: Activation('tanh')).
template <Real T = float>
class Tanh : public Module<T> {
public:
    [[nodiscard]] std::string type_name() const override { return "Tanh"; }
    [[nodiscard]] std::string default_name() const override { return "tanh"; }
    Tensor<T> forward(const Tensor<T>& x) override { return ember::tanh(x); }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }
};

/// gelu as a layer (Keras: Activation('gelu'), whose approximate is false: the exact erf form; true selects the
/// tanh approximation).
template <Real T = float>
class GELU : public Module<T> {
public:
    explicit GELU(bool approximate = false) : approximate_(approximate) {}
    [[nodiscard]] std::string type_name() const override { return "GELU"; }
    [[nodiscard]] std::string default_name() const override { return "gelu"; }
    Tensor<T> forward(const Tensor<T>& x) override { return ember::gelu(x, approximate_); }
    [[nodiscard]] bool approximate() const { return approximate_; }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }

private:
    bool approximate_;
};

/// x * sigmoid(x) as a layer (Keras: Activation('swish'), also named 'silu'; PyTorch's SiLU).
template <Real T = float>
class Swish : public Module<T> {
public:
    [[nodiscard]] std::string type_name() const override { return "Swish"; }
    [[nodiscard]] std::string default_name() const override { return "swish"; }
    Tensor<T> forward(const Tensor<T>& x) override { return ember::swish(x); }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }
};

}  // namespace ember::nn
