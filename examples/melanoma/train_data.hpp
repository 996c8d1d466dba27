// examples/melanoma/train_data.hpp - the images `melanoma train` trains and validates on: the Train folder loaded,
// deduplicated and split, other folders and copies added to the training side only (train_data.cpp).
#pragma once

#include <string>
#include <vector>

#include <ember/data/split.hpp>
#include <ember/vision/image_folder.hpp>

#include "train_options.hpp"

namespace melanoma {

/// The images a run trains and validates on, and what the run's records say of them.
struct TrainData {
    ember::vision::ImageSet set;  // the Train folder (deduplicated with --dedup), then --extra-train's images and --rebalance's copies
    ember::data::Split split;     // rows of `set`
    int mel = -1;          // the melanoma class, or -1
    Resolved resolved;     // the split seed, the folders' fingerprints (train_options.hpp)
    [[nodiscard]] const std::vector<std::string>& names() const { return set.class_names; }
    [[nodiscard]] int classes() const { return static_cast<int>(set.class_names.size()); }
};

/// The Train folder loaded, deduplicated and split, --extra-train's images and --rebalance's copies added to the
/// training side; refuses a validation side nothing can be chosen on.
TrainData load_train_data(const TrainArgs& a);

/// The training side's images of each class.
std::vector<long> training_counts(const TrainData& d);

}  // namespace melanoma
