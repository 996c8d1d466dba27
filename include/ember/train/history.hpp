// ember/train/history.hpp - per-epoch training history: each epoch's figures by name ("loss", "accuracy",
// "val_loss", "learning_rate", ...), as Keras' History.history, written as CSV.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/error.hpp"

namespace ember::train {

/// One epoch's figures (Keras' `logs`): named values in the order fit() measured them - the training loss and
/// metrics, learning_rate and the gradient norms, then the validation ones ("val_" + name), then seconds.
struct EpochRecord {
    int epoch = 0;  // 1-based
    std::vector<std::pair<std::string, double>> values;

    /// The figure `name`, or NaN when this epoch has none (e.g. a val_ figure of an unvalidated run).
    [[nodiscard]] double get(const std::string& name) const {
        for (const auto& [n, v] : values)
            if (n == name) return v;
        return std::numeric_limits<double>::quiet_NaN();
    }
    [[nodiscard]] bool has(const std::string& name) const {
        return std::any_of(values.begin(), values.end(), [&](const auto& p) { return p.first == name; });
    }
    /// Sets figure `name` (appended when new, so the order of first setting is the column order).
    void set(const std::string& name, double value) {
        for (auto& [n, v] : values)
            if (n == name) {
                v = value;
                return;
            }
        values.emplace_back(name, value);
    }
};

struct History {
    std::vector<EpochRecord> epochs;

    /// Whether the epochs were validated (fit() with validation data).
    [[nodiscard]] bool validated() const {
        return std::any_of(epochs.begin(), epochs.end(), [](const EpochRecord& e) { return e.has("val_loss"); });
    }

    /// Every figure name of the history, in the order the epochs first set them: the CSV's columns after "epoch".
    [[nodiscard]] std::vector<std::string> columns() const {
        std::vector<std::string> names;
        for (const auto& e : epochs)
            for (const auto& [n, v] : e.values)
                if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
        return names;
    }

    /// The values of figure `name`, one per epoch (NaN where an epoch lacks it).
    [[nodiscard]] std::vector<double> column(const std::string& name) const {
        std::vector<double> out;
        for (const auto& e : epochs) out.push_back(e.get(name));
        return out;
    }

    /// Writes the CSV header ("epoch" and columns()) and every epoch to `path` (replacing it); a figure that was not
    /// measured (NaN) is an empty field, as pandas and spreadsheets read a missing value. Throws IoError when it
    /// cannot be written.
    void write_csv(const std::filesystem::path& path) const {
        std::ofstream out(path);
        EMBER_CHECK(out.good(), IoError, "cannot write history to '", path.string(), "'");
        const auto names = columns();
        out << "epoch";
        for (const auto& n : names) out << ',' << n;
        out << '\n' << std::setprecision(8);
        for (const auto& e : epochs) {
            out << e.epoch;
            for (const auto& n : names) {
                out << ',';
                if (const double v = e.get(n); !std::isnan(v)) out << v;
            }
            out << '\n';
        }
        EMBER_CHECK(out.good(), IoError, "error while writing history to '", path.string(), "'");
    }
};

}  // namespace ember::train
