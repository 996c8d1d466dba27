// examples/melanoma/train_data.hpp - the images `melanoma train` trains and validates on: the Train folder loaded,
// deduplicated and split, copies added to the training side only (train_data.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ember/data/split.hpp>
#include <ember/vision/image_folder.hpp>

#include "train_options.hpp"

namespace melanoma {

/// The images a run trains and validates on, and what the run's records say of them.
struct TrainData {
    ember::vision::ImageSet set;  // the Train folder (deduplicated with --dedup or for cross-validation), then --rebalance's copies
    ember::data::Split split;     // rows of `set`
    int mel = -1;          // the melanoma class, or -1
    Resolved resolved;     // the split seed, the folders' fingerprints (train_options.hpp)
    [[nodiscard]] const std::vector<std::string>& names() const { return set.class_names; }
    [[nodiscard]] int classes() const { return static_cast<int>(set.class_names.size()); }
};

/// The Train folder loaded, deduplicated and split (a cross-validation fold, or the validation split), --rebalance's
/// copies added to the training side; refuses a validation side nothing can be chosen on.
TrainData load_train_data(const TrainArgs& a);

/// The seed of the cross-validation folds: one for every recipe and seed, so that recipes are compared on the
/// same folds.
inline constexpr std::uint64_t kFoldSeed = 123;

/// The cross-validation fold of each image of a deduplicated Train folder (stratified; no copies remain to group).
std::vector<std::size_t> cv_folds(const ember::vision::ImageSet& set, int folds, std::uint64_t seed);

/// The training side's images of each class.
std::vector<long> training_counts(const TrainData& d);

}  // namespace melanoma
