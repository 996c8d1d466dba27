// ember/optim/adam.hpp - Adam with Keras' update rule (Kingma & Ba 2015, Algorithm 1 with "epsilon hat").
#pragma once

#include "ember/optim/optimizer.hpp"

namespace ember::optim {

/// Keras' defaults. Note epsilon is 1e-7 (PyTorch: 1e-8) and is added to sqrt(v) of the *uncorrected* v.
struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-7;
};

/// Adam as keras/src/optimizers/adam.py computes it. With t = 1, 2, ...:
///   alpha_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
///   m <- m + (g - m) * (1 - beta1);  v <- v + (g^2 - v) * (1 - beta2)
///   theta <- theta - alpha_t * m / (sqrt(v) + epsilon)
/// Throws ValueError naming the option when an option is out of range.
template <Real T>
class Adam : public Optimizer<T> {
public:
    explicit Adam(std::vector<Tensor<T>> params, AdamOptions o = {}) : Optimizer<T>(std::move(params)), o_(o) {
        this->check_option(o.lr >= 0, "lr", ">= 0", o.lr, "Adam");
        this->check_option(o.beta1 >= 0 && o.beta1 < 1, "beta1", "in [0, 1)", o.beta1, "Adam");
        this->check_option(o.beta2 >= 0 && o.beta2 < 1, "beta2", "in [0, 1)", o.beta2, "Adam");
        this->check_option(o.epsilon >= 0, "epsilon", ">= 0", o.epsilon, "Adam");
        for (auto& p : this->params_) {
            m_.push_back(Tensor<T>::zeros(p.shape()));
            v_.push_back(Tensor<T>::zeros(p.shape()));
        }
    }

    void step() override {
        ++t_;
        const double alpha = o_.lr * std::sqrt(1 - std::pow(o_.beta2, static_cast<double>(t_))) /
                             (1 - std::pow(o_.beta1, static_cast<double>(t_)));
        const T a = static_cast<T>(alpha), b1 = static_cast<T>(1 - o_.beta1), b2 = static_cast<T>(1 - o_.beta2),
                eps = static_cast<T>(o_.epsilon);
        for (std::size_t i = 0; i < this->params_.size(); ++i) {
            Tensor<T> g = this->params_[i].grad();
            if (!g.defined()) continue;
            T* theta = this->params_[i].data();
            T* m = m_[i].data();
            T* v = v_[i].data();
            const T* pg = g.data();
            for (index_t j = 0, n = g.numel(); j < n; ++j) {
                m[j] += (pg[j] - m[j]) * b1;
                v[j] += (pg[j] * pg[j] - v[j]) * b2;
                theta[j] -= a * m[j] / (std::sqrt(v[j]) + eps);
            }
        }
    }

    [[nodiscard]] double learning_rate() const override { return o_.lr; }
    void set_learning_rate(double lr) override {
        this->check_option(lr >= 0, "lr", ">= 0", lr, "Adam");
        o_.lr = lr;
    }
    [[nodiscard]] const AdamOptions& options() const { return o_; }
    /// Steps taken so far (t in the formulas).
    [[nodiscard]] std::int64_t iterations() const { return t_; }
    /// First and second moment estimates of parameter i (for checkpoints and tests).
    [[nodiscard]] const Tensor<T>& m(std::size_t i) const { return m_.at(i); }
    [[nodiscard]] const Tensor<T>& v(std::size_t i) const { return v_.at(i); }

private:
    AdamOptions o_;
    std::int64_t t_ = 0;
    std::vector<Tensor<T>> m_, v_;
};

}  // namespace ember::optim
