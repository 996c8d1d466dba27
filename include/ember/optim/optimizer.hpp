// ember/optim/optimizer.hpp - Optimizer<T>: the parameters an optimiser updates, zero_grad() and the rate.
#pragma once

#include <cmath>
#include <vector>

#include "ember/core/tensor.hpp"

namespace ember::optim {

template <Real T>
class Optimizer {
public:
    explicit Optimizer(std::vector<Tensor<T>> params) : params_(std::move(params)) {
        for (std::size_t i = 0; i < params_.size(); ++i)
            EMBER_CHECK(params_[i].defined() && params_[i].requires_grad(), ValueError,
                        "optimizer: parameter ", i, " is undefined or does not require grad (build the model first)");
    }
    virtual ~Optimizer() = default;

    /// Forgets every parameter's gradient (the next backward starts from zero).
    void zero_grad() {
        for (auto& p : params_) p.zero_grad();
    }
    /// Applies one update from the parameters' current gradients (parameters without a gradient are skipped).
    virtual void step() = 0;

    [[nodiscard]] virtual double learning_rate() const = 0;
    /// Changes the rate for later steps (learning-rate schedules). Throws ValueError for a negative or NaN rate.
    virtual void set_learning_rate(double lr) = 0;
    [[nodiscard]] const std::vector<Tensor<T>>& parameters() const { return params_; }

protected:
    static void check_option(bool ok, const char* opt, const char* rule, double value, const char* who) {
        EMBER_CHECK(ok, ValueError, who, ": option '", opt, "' must be ", rule, ", got ", value);
    }
    std::vector<Tensor<T>> params_;
};

}  // namespace ember::optim
