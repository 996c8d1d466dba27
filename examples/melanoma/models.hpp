// examples/melanoma/models.hpp - the checkpoints evaluate, predict and release load (a model with its classes,
// alert threshold and how it was trained), and the validation split remade from a checkpoint's record.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ember/nn/sequential.hpp>
#include <ember/vision/image_folder.hpp>

#include "commands.hpp"

namespace melanoma {

struct LoadedModel {
    ember::nn::Sequential<float> model;
    std::vector<std::string> names;
    double threshold = 0.5;
    /// The stored threshold is 0.5 as a stand-in: a cross-validation fold's model (cv chooses the threshold on all
    /// folds' scores pooled).
    bool placeholder_threshold = false;
    /// The test-time augmentation of the scores the stored threshold was chosen on ("none" or "flips"), or empty
    /// where it was given by hand (train --alert-threshold).
    std::string threshold_tta = "none";
    std::string color_constancy = "none";  // how its images were loaded in training
    std::map<std::string, std::string> meta;
    fs::path path;
};

/// Loads a checkpoint written by train: its weights, classes and alert threshold, each checked (UsageError for a
/// path that names no checkpoint file or a training state, IoError naming the key for bad metadata).
LoadedModel load_model(const fs::path& ckpt);
/// One checkpoint, or the members of an ensemble, which must share their classes in order.
std::vector<LoadedModel> load_models(const std::vector<fs::path>& paths, const char* command);
/// The alert threshold: `override` when given (>= 0), else the checkpoint's, or for an ensemble the mean of its
/// members' (each was chosen for its own probabilities). A stored threshold chosen on scores of another test-time
/// augmentation than `tta` gets a warning: its sensitivity was promised for those scores, not for these.
double alert_threshold(const std::vector<LoadedModel>& models, double override, const std::string& tta);

/// How train split a checkpoint's Train folder, as its metadata records it.
struct SplitSpec {
    std::uint64_t seed = 0;
    double val_split = 0;
    std::string kind;
    bool dedup = false;
    std::string folder;  // fingerprint

    [[nodiscard]] std::string describe() const {
        std::ostringstream os;
        os << kind << " split, seed " << seed << ", fraction " << val_split << (dedup ? ", deduplicated" : "");
        return os.str();
    }
    /// Same images on the validation side.
    [[nodiscard]] bool same_as(const SplitSpec& o) const {
        return seed == o.seed && val_split == o.val_split && kind == o.kind && dedup == o.dedup && folder == o.folder;
    }
    /// UsageError unless train kept a validation split (`command` names who asks, `hint` what to do instead).
    void require_validation(const std::string& command, const fs::path& model, const std::string& hint = "") const {
        EMBER_CHECK(val_split > 0, UsageError, command, ": ", model,
                    " was trained on all of Train (--val-split 0): it has no validation split", hint.empty() ? "" : "; ",
                    hint);
    }
};

SplitSpec split_spec(const LoadedModel& m);
/// The validation split of the Train folder, remade as `train` made it (the checkpoint's record of seed, split
/// and deduplication), so a checkpoint can be studied on validation - e.g.
/// whether test-time augmentation helps, and at which alert threshold - without touching Test.
std::pair<ember::vision::ImageSet, std::vector<std::size_t>> validation_side(const EvalArgs& a, const LoadedModel& m,
                                                                           const SplitSpec& spec, const char* command);

}  // namespace melanoma
