// ember/optim/sgd.hpp - stochastic gradient descent with optional (Nesterov) momentum, Keras' formulation.
#pragma once

#include "ember/optim/optimizer.hpp"

namespace ember::optim {

struct SGDOptions {
    double lr = 0.01;        // Keras' default
    double momentum = 0.0;
    bool nesterov = false;
    CommonOptions common{};  // clipping, weight decay, EMA (Keras' base optimizer arguments)
};

/// Keras' SGD: v <- momentum * v - lr * g; theta <- theta + v (nesterov: theta <- theta + momentum * v - lr * g).
/// For a constant rate this equals PyTorch's form. Throws ValueError naming a bad option.
template <Real T>
class SGD : public Optimizer<T> {
public:
    explicit SGD(std::vector<Tensor<T>> params, SGDOptions o = {}) : Optimizer<T>(std::move(params), o.common, "SGD"), o_(o) {
        this->check_option(o.lr >= 0, "lr", ">= 0", o.lr, "SGD");
        this->check_option(o.momentum >= 0 && o.momentum < 1, "momentum", "in [0, 1)", o.momentum, "SGD");
        for (auto& p : this->params_) velocity_.push_back(Tensor<T>::zeros(p.shape()));
    }

    [[nodiscard]] double learning_rate() const override { return o_.lr; }
    void set_learning_rate(double lr) override {
        this->check_option(lr >= 0, "lr", ">= 0", lr, "SGD");
        o_.lr = lr;
    }

protected:
    [[nodiscard]] std::vector<std::pair<std::string, Tensor<T>>> slots() const override {
        std::vector<std::pair<std::string, Tensor<T>>> out;
        this->add_slot(out, "velocity", velocity_);
        return out;
    }

    void update(std::size_t i, std::span<const T> g, std::int64_t) override {
        const T lr = static_cast<T>(o_.lr), mom = static_cast<T>(o_.momentum);
        T* theta = this->params_[i].data();
        T* v = velocity_[i].data();
        for (std::size_t j = 0; j < g.size(); ++j) {
            v[j] = mom * v[j] - lr * g[j];
            theta[j] += o_.nesterov ? mom * v[j] - lr * g[j] : v[j];
        }
    }

private:
    SGDOptions o_;
    std::vector<Tensor<T>> velocity_;
};

}  // namespace ember::optim
