// examples/melanoma/train_data.cpp - loading and splitting `melanoma train`'s images (train_data.hpp): dedup
// before the split (always for cross-validation), --limit and rebalancing after it, on the training side only.
#include "train_data.hpp"

#include <algorithm>
#include <iostream>
#include <numeric>
#include <utility>

#include <ember/vision/augment.hpp>
#include <ember/vision/dedup.hpp>

#include "commands.hpp"

using namespace ember;

namespace melanoma {

namespace {

/// The Train folder, deduplicated with the recipe's dedup (before the split, so no image has a copy on the other side).
/// Cross-validation always deduplicates: a copy in two folds would be scored by a model that trained on it.
vision::ImageSet load_train_folder(const TrainArgs& a, std::string& fingerprint) {
    vision::ImageSet set = load_folder(split_dir(a.data, "Train"), a.strict, a.color_constancy);
    fingerprint = folder_fingerprint(set);
    if (!a.dedup && a.folds == 0) return set;
    const auto d = vision::deduplicate(set);
    std::cout << "Deduplicated: dropped " << d.same_class_copies << " same-class copies and " << d.contradictory
              << " images filed under two or more classes (" << d.contradictory_groups << " distinct); "
              << d.keep.size() << " of " << set.size() << " images remain\n";
    return vision::subset(set, d.keep);
}

/// Split first: augmentation and rebalancing touch only the training side. Without validation every image
/// trains; --limit then keeps a seeded sample of the training side.
data::Split split_train_folder(const TrainArgs& a, const vision::ImageSet& set, std::uint64_t split_seed) {
    data::Split split;
    if (a.folds > 0) {
        split = data::fold_split(cv_folds(set, a.folds, kFoldSeed), static_cast<std::size_t>(a.fold));
    } else if (a.val_split > 0) {
        split = a.split == "keras" ? data::keras_split(set.size(), a.val_split, static_cast<std::uint32_t>(split_seed))
                                   : data::stratified_split(set.labels, a.val_split, split_seed);
    } else {
        split.train.resize(set.size());
        std::iota(split.train.begin(), split.train.end(), std::size_t{0});
    }
    if (a.limit > 0 && static_cast<long>(split.train.size()) > a.limit) {
        // A seeded sample, not the first N: the split lists the training side class by class, so its head is
        // one or two classes.
        Generator gen(split_seed + 2);
        for (std::size_t i = split.train.size() - 1; i > 0; --i) std::swap(split.train[i], split.train[gen.below(i + 1)]);
        split.train.resize(static_cast<std::size_t>(a.limit));
        std::sort(split.train.begin(), split.train.end());
    }
    return split;
}

/// What is chosen on validation needs images there: said now, not after hours of training.
void check_validation_side(const TrainArgs& a, const TrainData& d) {
    if (d.split.validation.empty())
        throw UsageError("the validation split is empty (" + std::to_string(d.set.size()) + " images, --val-split " +
                         exact(a.val_split) + ", " + a.split + "): nothing to choose the best epoch or the alert "
                         "threshold on; use more images, a larger --val-split, or --val-split 0 with --alert-threshold");
    const auto has_melanoma = [&](std::size_t i) { return d.set.labels[i] == d.mel; };
    // (a cross-validation fold needs none: cv chooses the threshold on all folds' held-out scores pooled)
    if (d.mel >= 0 && a.folds == 0 && std::none_of(d.split.validation.begin(), d.split.validation.end(), has_melanoma))
        throw UsageError("the validation split (" + std::to_string(d.split.validation.size()) +
                         " images) holds no melanoma image: the alert threshold cannot be chosen on it; use more "
                         "melanoma images or a larger --val-split, or --val-split 0 with --alert-threshold");
}

/// --rebalance: copies of each class's training images, most of them rotated (Augmentor's recipe).
void rebalance_training_side(const TrainArgs& a, TrainData& d) {
    const std::size_t before = d.split.train.size();
    // A class with a handful of training images becomes a few lesions rotated hundreds of times (deduplicated,
    // seborrheic keratosis keeps 1 training image): say so, as class_weights does.
    const std::vector<long> counts = training_counts(d);
    for (std::size_t c = 0; c < counts.size(); ++c)
        if (counts[c] > 0 && a.rebalance >= 50 * counts[c])
            std::cerr << "warning: class '" << d.names()[c] << "' has only " << counts[c]
                      << " training image(s); rebalance " << a.rebalance
                      << " adds copies of them (70% rotated), about " << a.rebalance / counts[c] << " of each\n";
    vision::rebalance(d.set, d.split.train, a.rebalance, a.seed + 1);
    std::cout << "Rebalanced the training side: " << before << " -> " << d.split.train.size() << " images (+"
              << a.rebalance << " per class, Augmentor rotate p=0.7 up to 10 degrees)\n";
}

}  // namespace

std::vector<std::size_t> cv_folds(const vision::ImageSet& set, int folds, std::uint64_t seed) {
    return data::stratified_kfold(set.labels, static_cast<std::size_t>(folds), seed);
}

/// The training side's images of each class.
std::vector<long> training_counts(const TrainData& d) {
    std::vector<long> counts(static_cast<std::size_t>(d.classes()), 0);
    for (auto i : d.split.train) ++counts[static_cast<std::size_t>(d.set.labels[i])];
    return counts;
}

/// The Train folder loaded, deduplicated and split, --rebalance's copies added to the training side; refuses a
/// validation side nothing can be chosen on.
TrainData load_train_data(const TrainArgs& a) {
    TrainData d;
    d.set = load_train_folder(a, d.resolved.train_folder);
    d.split = split_train_folder(a, d.set, a.seed);
    d.mel = find_class(d.names(), kMelanoma);
    if (d.mel < 0)
        std::cerr << "warning: no class folder is named '" << kMelanoma << "' (the names are matched exactly): there "
                  << "will be no melanoma alert\n";
    if (a.val_split > 0 || a.folds > 0) check_validation_side(a, d);
    if (a.rebalance > 0) rebalance_training_side(a, d);
    if (a.folds > 0)
        std::cout << "Cross-validation fold " << a.fold + 1 << " of " << a.folds << ": " << d.split.train.size()
                  << " training images, " << d.split.validation.size() << " held out\n";
    else if (a.val_split > 0)
        std::cout << "Split (" << a.split << ", seed " << a.seed << "): " << d.split.train.size()
                  << " training, " << d.split.validation.size() << " validation images\n";
    else
        std::cout << "No validation split (--val-split 0): " << d.split.train.size()
                  << " training images; the last epoch is the model, the alert threshold p(melanoma) >= "
                  << a.alert_threshold << " is the one given\n";
    return d;
}

}  // namespace melanoma
