// ember/nn/layers.hpp - the parameter-free layers: Dropout, Flatten, Rescaling, ReLU, Softmax, and the pooling
// layers (nn/pooling.hpp, included here).
#pragma once

#include <optional>

#include "ember/nn/conv2d.hpp"
#include "ember/nn/module.hpp"
#include "ember/nn/pooling.hpp"

namespace ember::nn {

/// Keras' Dropout: inverted dropout, active only in training mode. Its mask generator is seeded at build from
/// the model's generator, so a model seed fixes the masks too.
template <Real T = float>
class Dropout : public Module<T> {
public:
    explicit Dropout(double rate) : rate_(rate) {
        EMBER_CHECK(rate >= 0.0 && rate < 1.0, ValueError, "Dropout: rate must be in [0, 1), got ", rate);
    }
    [[nodiscard]] std::string type_name() const override { return "Dropout"; }
    [[nodiscard]] std::string default_name() const override { return "dropout"; }
    Tensor<T> forward(const Tensor<T>& x) override { return dropout(x, rate_, this->is_training(), gen_); }
    [[nodiscard]] double rate() const { return rate_; }
    /// The generator the masks come from (reseed it to replay masks).
    Generator& generator() { return gen_; }
    [[nodiscard]] std::vector<std::pair<std::string, Generator*>> named_generators() override { return {{"mask", &gen_}}; }

protected:
    Shape do_build(const Shape& in, Generator& gen) override {
        gen_ = gen.split();
        return in;
    }

private:
    double rate_;
    Generator gen_;
};

/// Keras' Flatten: [N, d1, d2, ...] -> [N, d1*d2*...], a view.
template <Real T = float>
class Flatten : public Module<T> {
public:
    [[nodiscard]] std::string type_name() const override { return "Flatten"; }
    [[nodiscard]] std::string default_name() const override { return "flatten"; }
    Tensor<T> forward(const Tensor<T>& x) override { return flatten(x); }

protected:
    Shape do_build(const Shape& in, Generator&) override { return {in.numel()}; }
};

/// Keras' Rescaling: y = x * scale + offset (Rescaling(1/255) maps bytes to [0, 1]).
template <Real T = float>
class Rescaling : public Module<T> {
public:
    explicit Rescaling(T scale, T offset = T(0)) : scale_(scale), offset_(offset) {}
    [[nodiscard]] std::string type_name() const override { return "Rescaling"; }
    [[nodiscard]] std::string default_name() const override { return "rescaling"; }
    Tensor<T> forward(const Tensor<T>& x) override { return rescale(x, scale_, offset_); }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }

private:
    T scale_, offset_;
};

/// max(x, 0) as a layer.
template <Real T = float>
class ReLU : public Module<T> {
public:
    [[nodiscard]] std::string type_name() const override { return "ReLU"; }
    [[nodiscard]] std::string default_name() const override { return "re_lu"; }
    Tensor<T> forward(const Tensor<T>& x) override { return ember::relu(x); }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }
};

/// softmax over the last axis as a layer (for probabilities at inference; train on logits instead).
template <Real T = float>
class Softmax : public Module<T> {
public:
    [[nodiscard]] std::string type_name() const override { return "Softmax"; }
    [[nodiscard]] std::string default_name() const override { return "softmax"; }
    Tensor<T> forward(const Tensor<T>& x) override { return softmax(x); }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }
};

}  // namespace ember::nn
