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
    CommonOptions common{};  // clipping, weight decay, EMA (Keras' base optimizer arguments)
};

/// Adam as keras/src/optimizers/adam.py computes it. With t = 1, 2, ...:
///   alpha_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
///   m <- m + (g - m) * (1 - beta1);  v <- v + (g^2 - v) * (1 - beta2)
///   theta <- theta - alpha_t * m / (sqrt(v) + epsilon)
/// Throws ValueError naming the option when an option is out of range.
template <Real T>
class Adam : public Optimizer<T> {
public:
    explicit Adam(std::vector<Tensor<T>> params, AdamOptions o = {}) : Adam(std::move(params), o, "Adam") {}

    [[nodiscard]] double learning_rate() const override { return o_.lr; }
    void set_learning_rate(double lr) override {
        this->check_option(lr >= 0, "lr", ">= 0", lr, this->who());
        o_.lr = lr;
    }
    [[nodiscard]] const AdamOptions& options() const { return o_; }
    /// First and second moment estimates of parameter i (for checkpoints and tests).
    [[nodiscard]] const Tensor<T>& m(std::size_t i) const { return m_.at(i); }
    [[nodiscard]] const Tensor<T>& v(std::size_t i) const { return v_.at(i); }

protected:
    Adam(std::vector<Tensor<T>> params, AdamOptions o, const char* name)
        : Optimizer<T>(std::move(params), o.common, name), o_(o) {
        this->check_option(o.lr >= 0, "lr", ">= 0", o.lr, name);
        this->check_option(o.beta1 >= 0 && o.beta1 < 1, "beta1", "in [0, 1)", o.beta1, name);
        this->check_option(o.beta2 >= 0 && o.beta2 < 1, "beta2", "in [0, 1)", o.beta2, name);
        this->check_option(o.epsilon >= 0, "epsilon", ">= 0", o.epsilon, name);
        for (auto& p : this->params_) {
            m_.push_back(Tensor<T>::zeros(p.shape()));
            v_.push_back(Tensor<T>::zeros(p.shape()));
        }
    }

    [[nodiscard]] std::vector<std::pair<std::string, Tensor<T>>> slots() const override {
        std::vector<std::pair<std::string, Tensor<T>>> out;
        this->add_slot(out, "m", m_);
        this->add_slot(out, "v", v_);
        return out;
    }

    void update(std::size_t i, std::span<const T> g, std::int64_t t) override {
        const double alpha = o_.lr * std::sqrt(1 - std::pow(o_.beta2, static_cast<double>(t))) /
                             (1 - std::pow(o_.beta1, static_cast<double>(t)));
        const T a = static_cast<T>(alpha), b1 = static_cast<T>(1 - o_.beta1), b2 = static_cast<T>(1 - o_.beta2),
                eps = static_cast<T>(o_.epsilon);
        T* theta = this->params_[i].data();
        T* m = m_[i].data();
        T* v = v_[i].data();
        for (std::size_t j = 0; j < g.size(); ++j) {
            m[j] += (g[j] - m[j]) * b1;
            v[j] += (g[j] * g[j] - v[j]) * b2;
            theta[j] -= a * m[j] / (std::sqrt(v[j]) + eps);
        }
    }

private:
    AdamOptions o_;
    std::vector<Tensor<T>> m_, v_;
};

/// Keras' AdamW options: Adam's, with decoupled weight decay on by default.
struct AdamWOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-7;
    double weight_decay = 0.004;
    CommonOptions common{};  // clipping and EMA; its weight_decay must stay 0 (AdamW's is the one above)
};

/// Keras' AdamW: Adam with decoupled weight decay, 0.004 by default (Loshchilov & Hutter 2019): before each
/// update theta <- theta - theta * weight_decay * lr. Throws ValueError when weight_decay is not > 0 (that is
/// Adam) or is given twice.
template <Real T>
class AdamW : public Adam<T> {
public:
    explicit AdamW(std::vector<Tensor<T>> params, AdamWOptions o = {}) : Adam<T>(std::move(params), adam(o), "AdamW") {}

private:
    static AdamOptions adam(const AdamWOptions& o) {
        Optimizer<T>::check_option(o.weight_decay > 0, "weight_decay", "> 0 (without it, use Adam)", o.weight_decay,
                                   "AdamW");
        EMBER_CHECK(o.common.weight_decay == 0, ValueError,
                    "AdamW: give weight_decay once, as AdamWOptions::weight_decay (common.weight_decay is ",
                    o.common.weight_decay, ")");
        AdamOptions a{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .epsilon = o.epsilon, .common = o.common};
        a.common.weight_decay = o.weight_decay;
        return a;
    }
};

}  // namespace ember::optim
