// ember/train/history.hpp - per-epoch training history, written as CSV (epoch, losses, accuracies, rate, time,
// gradient norms).
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <string>
#include <vector>

#include "ember/core/error.hpp"

namespace ember::train {

struct EpochRecord {
    int epoch = 0;  // 1-based
    double loss = 0, accuracy = 0;
    /// NaN when fit() had no validation data.
    double val_loss = std::numeric_limits<double>::quiet_NaN(), val_accuracy = std::numeric_limits<double>::quiet_NaN(),
           val_balanced_accuracy = std::numeric_limits<double>::quiet_NaN();
    double learning_rate = 0;
    double seconds = 0;
    /// The global L2 norm of the training gradients before clipping (Optimizer::last_gradient_norm()), mean and
    /// maximum over the epoch's steps: the scale a global_clipnorm acts on.
    double grad_norm_mean = std::numeric_limits<double>::quiet_NaN(), grad_norm_max = std::numeric_limits<double>::quiet_NaN();
};

struct History {
    std::vector<EpochRecord> epochs;

    /// Whether the epochs were validated (fit() with validation data).
    [[nodiscard]] bool validated() const {
        return std::any_of(epochs.begin(), epochs.end(), [](const EpochRecord& e) { return !std::isnan(e.val_accuracy); });
    }

    /// Writes the CSV header and every epoch to `path` (replacing it); a figure that was not measured (NaN: no
    /// validation) is an empty field, as pandas and spreadsheets read a missing value. Throws IoError when it
    /// cannot be written.
    void write_csv(const std::filesystem::path& path) const {
        std::ofstream out(path);
        EMBER_CHECK(out.good(), IoError, "cannot write history to '", path.string(), "'");
        out << "epoch,loss,accuracy,val_loss,val_accuracy,val_balanced_accuracy,learning_rate,seconds,grad_norm_mean,grad_norm_max\n";
        out << std::setprecision(8);
        const auto field = [&](double v) -> std::ostream& {
            if (!std::isnan(v)) out << v;
            return out;
        };
        for (const auto& e : epochs) {
            out << e.epoch << ',';
            field(e.loss) << ',';
            field(e.accuracy) << ',';
            field(e.val_loss) << ',';
            field(e.val_accuracy) << ',';
            field(e.val_balanced_accuracy) << ',';
            field(e.learning_rate) << ',' << e.seconds << ',';
            field(e.grad_norm_mean) << ',';
            field(e.grad_norm_max) << '\n';
        }
        EMBER_CHECK(out.good(), IoError, "error while writing history to '", path.string(), "'");
    }
};

}  // namespace ember::train
