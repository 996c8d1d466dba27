// ember/train/metric.hpp - Metric<T>: a figure accumulated over the batches of an epoch (Keras' metric objects:
// reset_state, update_state, result), and the built-in ones: accuracy, balanced accuracy, mean absolute and squared
// error. fit() reports each under its name, and with validation data again as "val_" + name.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/tensor.hpp"
#include "ember/nn/loss.hpp"
#include "ember/train/metrics.hpp"

namespace ember::train {

/// A streaming metric. fit() clones the ones it is given, one copy for training and one for validation.
template <Real T>
class Metric {
public:
    virtual ~Metric() = default;
    /// The history's name of the figure ("accuracy").
    [[nodiscard]] virtual std::string name() const = 0;
    virtual void reset() = 0;
    /// Adds a batch: the model's outputs [N, ...] (detached) and the batch's targets [N, ...].
    virtual void update(const Tensor<T>& outputs, const Tensor<T>& targets) = 0;
    /// The figure over the batches since reset(); NaN before any.
    [[nodiscard]] virtual double result() const = 0;
    /// A metric of the same kind and settings (its state need not be copied: users reset() it).
    [[nodiscard]] virtual std::unique_ptr<Metric<T>> clone() const = 0;
};

/// Keras' SparseCategoricalAccuracy ("accuracy"): the share of rows whose arg-max is the target class index.
template <Real T>
class SparseCategoricalAccuracy final : public Metric<T> {
public:
    [[nodiscard]] std::string name() const override { return "accuracy"; }
    void reset() override { right_ = seen_ = 0; }
    void update(const Tensor<T>& outputs, const Tensor<T>& targets) override {
        const auto labels = nn::class_indices(targets);
        const auto pred = argmax_rows(outputs);
        EMBER_CHECK(pred.size() == labels.size(), ShapeError, "accuracy: outputs ", outputs.shape(), " for targets ",
                    targets.shape());
        for (std::size_t i = 0; i < pred.size(); ++i) right_ += pred[i] == labels[i];
        seen_ += static_cast<std::int64_t>(pred.size());
    }
    [[nodiscard]] double result() const override {
        return seen_ ? static_cast<double>(right_) / static_cast<double>(seen_) : std::nan("");
    }
    [[nodiscard]] std::unique_ptr<Metric<T>> clone() const override {
        return std::make_unique<SparseCategoricalAccuracy>(*this);
    }

private:
    std::int64_t right_ = 0, seen_ = 0;
};

/// Balanced accuracy ("balanced_accuracy"): the mean recall over the classes present, which does not reward
/// predicting the majority class as accuracy does on imbalanced data. The classes are the outputs' last extent.
template <Real T>
class BalancedAccuracy final : public Metric<T> {
public:
    [[nodiscard]] std::string name() const override { return "balanced_accuracy"; }
    void reset() override { confusion_.reset(); }
    void update(const Tensor<T>& outputs, const Tensor<T>& targets) override {
        EMBER_CHECK(outputs.rank() == 2, ShapeError, "balanced_accuracy: expected outputs [N, classes], got ",
                    outputs.shape());
        if (!confusion_) confusion_ = std::make_shared<ConfusionMatrix>(static_cast<int>(outputs.size(1)));
        confusion_->add(nn::class_indices(targets), argmax_rows(outputs));
    }
    [[nodiscard]] double result() const override {
        return confusion_ && confusion_->total() ? confusion_->balanced_accuracy() : std::nan("");
    }
    [[nodiscard]] std::unique_ptr<Metric<T>> clone() const override { return std::make_unique<BalancedAccuracy>(); }

private:
    std::shared_ptr<ConfusionMatrix> confusion_;
};

/// Keras' MeanAbsoluteError ("mae") and MeanSquaredError ("mse") metrics: the mean over all elements.
template <Real T>
class MeanError final : public Metric<T> {
public:
    explicit MeanError(bool squared) : squared_(squared) {}
    [[nodiscard]] std::string name() const override { return squared_ ? "mse" : "mae"; }
    void reset() override { sum_ = 0, count_ = 0; }
    void update(const Tensor<T>& outputs, const Tensor<T>& targets) override {
        EMBER_CHECK(outputs.shape() == targets.shape(), ShapeError, name(), ": outputs ", outputs.shape(),
                    " and targets ", targets.shape(), " differ");
        for (index_t i = 0; i < outputs.numel(); ++i) {
            const double d = static_cast<double>(outputs.data()[i]) - static_cast<double>(targets.data()[i]);
            sum_ += squared_ ? d * d : std::abs(d);
        }
        count_ += outputs.numel();
    }
    [[nodiscard]] double result() const override { return count_ ? sum_ / static_cast<double>(count_) : std::nan(""); }
    [[nodiscard]] std::unique_ptr<Metric<T>> clone() const override { return std::make_unique<MeanError>(squared_); }

private:
    bool squared_;
    double sum_ = 0;
    index_t count_ = 0;
};

/// Shorthands for FitOptions::metrics: {train::accuracy<float>(), train::balanced_accuracy<float>()}.
template <Real T>
std::shared_ptr<Metric<T>> accuracy() { return std::make_shared<SparseCategoricalAccuracy<T>>(); }
template <Real T>
std::shared_ptr<Metric<T>> balanced_accuracy() { return std::make_shared<BalancedAccuracy<T>>(); }
template <Real T>
std::shared_ptr<Metric<T>> mean_absolute_error() { return std::make_shared<MeanError<T>>(false); }
template <Real T>
std::shared_ptr<Metric<T>> mean_squared_error() { return std::make_shared<MeanError<T>>(true); }

}  // namespace ember::train
