// examples/melanoma/models.cpp - loading and checking the checkpoints evaluate, predict and release score
// (models.hpp), and remaking a checkpoint's validation split.
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include <ember/vision/color.hpp>
#include <ember/vision/dedup.hpp>
#include <ember/vision/image.hpp>
#include <ember/data/loader.hpp>
#include <ember/vision/image_dataset.hpp>
#include <ember/data/split.hpp>
#include <ember/io/checkpoint.hpp>

#include "models.hpp"
#include "model.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

namespace {

/// "checkpoint '<path>'", after checking that `ckpt` is a file: UsageError (exit 2) for a path that is missing or a
/// folder, as for any other argument that names nothing to read.
std::string checkpoint_file(const fs::path& ckpt) {
    const std::string where = "checkpoint '" + ckpt.string() + "'";
    std::error_code ec;
    const auto status = fs::status(ckpt, ec);
    if (fs::is_directory(status))
        throw UsageError(where + " is a directory, not a checkpoint file (a run folder holds best.safetensors or "
                         "last.safetensors)");
    if (!fs::exists(status)) throw UsageError(where + " does not exist");
    if (!fs::is_regular_file(status)) throw UsageError(where + " is not a regular file");
    return where;
}

/// The metadata value of `key`, or IoError naming the key and the file where it is missing.
const std::string& metadata_value(const std::map<std::string, std::string>& meta, const std::string& where,
                                  const char* key) {
    const auto it = meta.find(key);
    if (it == meta.end())
        throw IoError(where + " has no " + key + " metadata (melanoma train writes it into best.safetensors and "
                      "last.safetensors)");
    return it->second;
}
/// A value from the file, for a message: cut to 80 characters.
std::string shown(const std::string& value) { return io::detail::shown(value); }

/// Checks what a checkpoint says of itself before a model is built for it, key by key: its format (a training
/// state is named as one: UsageError), class_names (a JSON array of distinct, non-empty strings, as many as the
/// model's outputs) and alert_threshold (a number in [0, 1]); IoError naming the key and the file otherwise.
void read_checkpoint_classes(LoadedModel& m, const std::string& where) {
    const auto& meta = m.meta;
    const auto format = meta.find("format");
    if (format != meta.end() && format->second == "ember-training-state")
        throw UsageError(where + " is a training state (train writes it as backup.safetensors for train --resume), "
                         "not a model checkpoint: use the run's best.safetensors or last.safetensors");
    if (format == meta.end() || format->second != io::kCheckpointFormat)
        throw IoError(where + " is not an ember checkpoint (format: " +
                      (format == meta.end() ? std::string("(missing)") : shown(format->second)) + ")");

    // Older versions of train wrote checkpoints without the recipe; what they were trained with cannot be told
    // in full, so they are refused rather than guessed at.
    const auto version = meta.find("checkpoint_format");
    const std::string found = version == meta.end() ? std::string("1") : shown(version->second);
    if (found != std::to_string(kCheckpointFormat))
        throw UsageError(where + " was written by " + (version == meta.end() ? "an older" : "another") +
                         " version of melanoma train (checkpoint format " + found + "; this program reads format " +
                         std::to_string(kCheckpointFormat) + "): train the model again with this version");

    const std::string& names = metadata_value(meta, where, "class_names");
    json j;
    try {
        j = json::parse(names);
    } catch (const json::exception&) {
        throw IoError(where + ": its class_names '" + shown(names) + "' is not JSON");
    }
    if (!j.is_array() || !std::all_of(j.begin(), j.end(), [](const json& v) { return v.is_string(); }))
        throw IoError(where + ": its class_names '" + shown(names) + "' is not a JSON array of class names (strings)");
    m.names = j.get<std::vector<std::string>>();
    if (m.names.size() < 2)
        throw IoError(where + ": its class_names '" + shown(names) + "' lists " + std::to_string(m.names.size()) +
                      " class(es), a classifier has at least 2");
    for (std::size_t i = 0; i < m.names.size(); ++i)
        if (m.names[i].empty() || std::find(m.names.begin(), m.names.begin() + static_cast<std::ptrdiff_t>(i),
                                            m.names[i]) != m.names.begin() + static_cast<std::ptrdiff_t>(i))
            throw IoError(where + ": its class_names '" + shown(names) + "' holds an empty or repeated name ('" +
                          shown(m.names[i]) + "')");
    // The model's outputs: the shape of the last layer of the recorded architecture, "...;dense:Dense:[K]". One
    // that does not read so is left to load_checkpoint, which compares the whole architecture.
    if (const auto arch = meta.find("architecture"); arch != meta.end()) {
        const std::string& a = arch->second;
        const std::size_t open = a.rfind(":[");
        if (open != std::string::npos && a.find(';', open) == std::string::npos && a.back() == ']') {
            const std::string k = a.substr(open + 2, a.size() - open - 3);
            const bool digits = !k.empty() && k.size() < 10 &&
                                std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (digits && std::stoul(k) != m.names.size())
                throw IoError(where + ": its class_names lists " + std::to_string(m.names.size()) +
                              " classes, its model has " + k + " outputs");
        }
    }

    const std::string& threshold = metadata_value(meta, where, "alert_threshold");
    const std::size_t first = threshold.find_first_not_of(' ');
    const std::string trimmed =
        first == std::string::npos ? "" : threshold.substr(first, threshold.find_last_not_of(' ') - first + 1);
    std::size_t used = 0;
    try {
        m.threshold = std::stod(trimmed, &used);
    } catch (const std::exception&) {  // invalid_argument, out_of_range
        used = 0;
    }
    if (trimmed.empty() || used != trimmed.size())
        throw IoError(where + ": its alert_threshold '" + shown(threshold) + "' is not a number");
    if (!(m.threshold >= 0 && m.threshold <= 1))  // NaN included
        throw IoError(where + ": its alert_threshold '" + shown(threshold) + "' is not a probability in [0, 1]");
}


}  // namespace

LoadedModel load_model(const fs::path& ckpt) {
    const std::string where = checkpoint_file(ckpt);
    const auto meta = io::read_checkpoint_metadata(ckpt);
    LoadedModel m;
    m.meta = meta;
    read_checkpoint_classes(m, where);
    m.color_constancy = metadata_value(meta, where, "color_constancy");
    m.placeholder_threshold = metadata_value(meta, where, "alert_threshold_from") == "cross-validation";
    m.threshold_tta = metadata_value(meta, where, "alert_threshold_tta");  // empty: given by hand
    if (!m.threshold_tta.empty() && m.threshold_tta != "none" && m.threshold_tta != "flips")
        throw IoError(where + ": its alert_threshold_tta '" + shown(m.threshold_tta) +
                      "' is not a test-time augmentation (none | flips)");
    m.path = ckpt;
    try {
        shades_of_gray_norm(m.color_constancy);
    } catch (const ValueError& e) {
        throw IoError("checkpoint '" + ckpt.string() + "': " + e.what());
    }
    // A checkpoint without a "model" key holds the reference CNN.
    const auto network = meta.find("model");
    const std::string name = network == meta.end() ? "reference-cnn" : network->second;
    if (std::find(kModelNames.begin(), kModelNames.end(), name) == kModelNames.end())
        throw IoError(where + ": its model '" + shown(name) + "' is not a network of this program (reference-cnn | "
                      "ember-separable)");
    m.model = make_model(name, static_cast<int>(m.names.size()));
    m.model.build({kImageSize, kImageSize, 3});
    io::load_checkpoint(ckpt, m.model);
    m.model.eval();
    return m;
}

std::vector<LoadedModel> load_models(const std::vector<fs::path>& paths, const char* command) {
    EMBER_CHECK(!paths.empty(), ValueError, command, ": no --model given");
    std::vector<LoadedModel> models;
    for (const auto& path : paths) models.push_back(load_model(path));
    for (std::size_t i = 1; i < models.size(); ++i) {
        EMBER_CHECK(models[i].names == models.front().names, ValueError, command, ": ", paths[i], " has other classes than ",
                    paths.front(), ": an ensemble needs the same classes in the same order");
        EMBER_CHECK(models[i].color_constancy == models.front().color_constancy, ValueError, command, ": ", paths[i],
                    " was trained on images with colour constancy '", models[i].color_constancy, "', ", paths.front(),
                    " with '", models.front().color_constancy, "': an ensemble's members must see the same images");
    }
    return models;
}

double alert_threshold(const std::vector<LoadedModel>& models, double override, const std::string& tta) {
    if (override >= 0) return override;
    for (const auto& member : models)
        if (member.placeholder_threshold)
            throw UsageError("checkpoint '" + member.path.string() + "' is a cross-validation fold's model, whose alert "
                             "threshold is chosen on all folds' scores (cv_report.json): give one with --threshold P");
    for (const auto& member : models)
        if (!member.threshold_tta.empty() && member.threshold_tta != tta)
            std::cerr << "warning: the alert threshold of " << member.path << " was chosen on scores "
                      << (member.threshold_tta == "none" ? "without test-time augmentation" : "with --tta " + member.threshold_tta)
                      << ", these are scored " << (tta == "none" ? "without it" : "with --tta " + tta)
                      << ": its melanoma sensitivity may differ from the one it was chosen for (choose one for these "
                         "scores with evaluate --on validation --tta " << tta << " and pass it with --threshold)\n";
    double t = 0;
    for (const auto& member : models) t += member.threshold / static_cast<double>(models.size());
    return t;
}

SplitSpec split_spec(const LoadedModel& m) {
    const std::string where = "checkpoint '" + m.path.string() + "'";
    SplitSpec s;
    s.seed = static_cast<std::uint64_t>(std::stoull(metadata_value(m.meta, where, "seed")));
    s.val_split = std::stod(metadata_value(m.meta, where, "val_split"));
    s.kind = metadata_value(m.meta, where, "split");
    s.dedup = metadata_value(m.meta, where, "dedup") == "true";
    s.folder = metadata_value(m.meta, where, "train_folder");
    return s;
}

std::pair<vision::ImageSet, std::vector<std::size_t>> validation_side(const EvalArgs& a, const LoadedModel& m,
                                                                    const SplitSpec& spec, const char* command) {
    const fs::path dir = split_dir(a.data, "Train");
    const auto index = vision::index_image_folder(dir);
    EMBER_CHECK(index.class_names == m.names, ValueError, command, ": ", dir,
                " has other class folders than the checkpoint's classes: cannot remake the training split");
    vision::ImageSet set = load_folder(dir, a.strict, m.color_constancy, m.names);
    EMBER_CHECK(spec.folder == folder_fingerprint(set), ValueError, command, ": ", dir,
                    " is not the folder the checkpoint was trained on (images or names differ: ",
                    folder_fingerprint(set), " vs the recorded ", spec.folder, "): cannot remake its validation split");
    if (spec.dedup) set = vision::subset(set, vision::deduplicate(set).keep);
    const data::Split split = spec.kind == "keras"
                                  ? data::keras_split(set.size(), spec.val_split, static_cast<std::uint32_t>(spec.seed))
                                  : data::stratified_split(set.labels, spec.val_split, spec.seed);
    std::cout << "Validation side of " << dir << ": " << spec.describe() << ": " << split.validation.size() << " images\n";
    return {std::move(set), split.validation};
}


}  // namespace melanoma
