// ember/train/history.hpp - per-epoch training history, written as CSV (epoch, losses, accuracies, rate, time).
#pragma once

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <string>
#include <vector>

#include "ember/core/error.hpp"

namespace ember::train {

struct EpochRecord {
    int epoch = 0;  // 1-based
    double loss = 0, accuracy = 0;
    double val_loss = 0, val_accuracy = 0, val_balanced_accuracy = 0;
    double learning_rate = 0;
    double seconds = 0;
};

struct History {
    std::vector<EpochRecord> epochs;

    /// Writes the CSV header and every epoch to `path` (replacing it). Throws IoError when it cannot be written.
    void write_csv(const std::filesystem::path& path) const {
        std::ofstream out(path);
        EMBER_CHECK(out.good(), IoError, "cannot write history to '", path.string(), "'");
        out << "epoch,loss,accuracy,val_loss,val_accuracy,val_balanced_accuracy,learning_rate,seconds\n";
        out << std::setprecision(8);
        for (const auto& e : epochs)
            out << e.epoch << ',' << e.loss << ',' << e.accuracy << ',' << e.val_loss << ',' << e.val_accuracy << ','
                << e.val_balanced_accuracy << ',' << e.learning_rate << ',' << e.seconds << '\n';
        EMBER_CHECK(out.good(), IoError, "error while writing history to '", path.string(), "'");
    }
};

}  // namespace ember::train
