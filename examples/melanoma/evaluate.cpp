// examples/melanoma/evaluate.cpp - `melanoma evaluate` (a checkpoint or an ensemble on Test or on its own
// validation split: accuracy, per-class figures, confusion matrix, melanoma alert), `melanoma calibrate` (the
// alert threshold chosen on several labelled sources pooled) and `melanoma predict` (probabilities, top-3 and the
// alert per image).
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

#include "commands.hpp"
#include "model.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

namespace {

struct LoadedModel {
    nn::Sequential<float> model;
    std::vector<std::string> names;
    double threshold = 0.5;
    /// The stored threshold is 0.5 as a stand-in: written by a run stopped before training ended (older versions
    /// of train chose the threshold of best.safetensors on validation only once training ended).
    bool placeholder_threshold = false;
    /// The test-time augmentation of the scores the stored threshold was chosen on ("none" or "flips"; train and
    /// older checkpoints: "none"), or empty where it was given by hand (train --alert-threshold).
    std::string threshold_tta = "none";
    std::string color_constancy = "none";  // how its images were loaded in training
    std::map<std::string, std::string> meta;
    fs::path path;
};

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

LoadedModel load_model(const fs::path& ckpt) {
    const std::string where = checkpoint_file(ckpt);
    const auto meta = io::read_checkpoint_metadata(ckpt);
    LoadedModel m;
    m.meta = meta;
    read_checkpoint_classes(m, where);
    if (meta.count("color_constancy")) m.color_constancy = meta.at("color_constancy");  // older: none
    m.placeholder_threshold = meta.count("alert_threshold_from") && meta.at("alert_threshold_from").starts_with("none");
    if (meta.count("alert_threshold_tta")) {  // empty: given by hand
        m.threshold_tta = meta.at("alert_threshold_tta");
        try {
            if (!m.threshold_tta.empty()) parse_test_time_augment(m.threshold_tta);
        } catch (const ValueError&) {
            throw IoError("checkpoint '" + ckpt.string() + "': its alert_threshold_tta '" + m.threshold_tta +
                          "' is not a test-time augmentation (none | flips)");
        }
    } else if (meta.count("alert_threshold_from") && meta.at("alert_threshold_from") == "--alert-threshold") {
        m.threshold_tta.clear();
    }
    m.path = ckpt;
    try {
        shades_of_gray_norm(m.color_constancy);
    } catch (const ValueError& e) {
        throw IoError("checkpoint '" + ckpt.string() + "': " + e.what());
    }
    m.model = reference_model(static_cast<int>(m.names.size()));
    m.model.build({kImageSize, kImageSize, 3});
    io::load_checkpoint(ckpt, m.model);
    m.model.eval();
    return m;
}

/// One checkpoint, or the members of an ensemble, which must share their classes in order.
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

/// The alert threshold: `override` when given (>= 0), else the checkpoint's, or for an ensemble the mean of its
/// members' (each was chosen for its own probabilities). A stored threshold chosen on scores of another test-time
/// augmentation than `tta` gets a warning: its sensitivity was promised for those scores, not for these.
double alert_threshold(const std::vector<LoadedModel>& models, double override, const std::string& tta) {
    if (override >= 0) return override;
    for (const auto& member : models)
        if (member.placeholder_threshold)
            throw UsageError("checkpoint '" + member.path.string() + "' was saved by a training run that stopped before "
                             "it chose the alert threshold on validation (its " + exact(member.threshold) +
                             " is a placeholder): give one with --threshold P");
    for (const auto& member : models)
        if (!member.threshold_tta.empty() && member.threshold_tta != tta)
            std::cerr << "warning: the alert threshold of " << member.path << " was chosen on scores "
                      << (member.threshold_tta == "none" ? "without test-time augmentation" : "with --tta " + member.threshold_tta)
                      << ", these are scored " << (tta == "none" ? "without it" : "with --tta " + tta)
                      << ": its melanoma sensitivity may differ from the one it was chosen for (choose one for these "
                         "scores with calibrate --tta " << tta << " and pass it with --threshold, or save it with --save)\n";
    double t = 0;
    for (const auto& member : models) t += member.threshold / static_cast<double>(models.size());
    return t;
}

/// How train split a checkpoint's Train folder: from its metadata, or for what older checkpoints do not record,
/// from the flags (`guessed` lists those).
struct SplitSpec {
    std::uint64_t seed = 0;
    double val_split = 0;
    std::string kind;
    bool dedup = false;
    std::string folder;  // fingerprint; empty when not recorded
    std::vector<std::string> guessed;

    [[nodiscard]] std::string describe() const {
        std::ostringstream os;
        os << kind << " split, seed " << seed << ", fraction " << val_split << (dedup ? ", deduplicated" : "");
        return os.str();
    }
    /// Same images on the validation side (an unrecorded folder matches any).
    [[nodiscard]] bool same_as(const SplitSpec& o) const {
        return seed == o.seed && val_split == o.val_split && kind == o.kind && dedup == o.dedup &&
               (folder.empty() || o.folder.empty() || folder == o.folder);
    }
    /// UsageError unless train kept a validation split (`command` names who asks, `hint` what to do instead).
    void require_validation(const std::string& command, const fs::path& model, const std::string& hint = "") const {
        EMBER_CHECK(val_split > 0, UsageError, command, ": ", model,
                    " was trained on all of Train (--val-split 0): it has no validation split", hint.empty() ? "" : "; ",
                    hint);
    }
};

SplitSpec split_spec(const EvalArgs& a, const LoadedModel& m) {
    SplitSpec s;
    const auto meta = [&](const char* key, const std::string& fallback) {
        const auto it = m.meta.find(key);
        if (it != m.meta.end()) return it->second;
        s.guessed.push_back(key);
        return fallback;
    };
    // Before --split-seed existed, the split's seed was the seed.
    s.seed = static_cast<std::uint64_t>(
        std::stoull(m.meta.count("split_seed") ? m.meta.at("split_seed") : meta("seed", std::to_string(a.seed))));
    s.val_split = std::stod(meta("val_split", exact(a.val_split)));
    s.kind = meta("split", a.split);
    s.dedup = meta("dedup", a.dedup ? "true" : "false") == "true";
    if (m.meta.count("train_folder")) s.folder = m.meta.at("train_folder");
    return s;
}

/// The validation split of the Train folder, remade as `train` made it (the checkpoint's record of seed, split
/// and deduplication where it has one, else the flags'), so a checkpoint can be studied on validation - e.g.
/// whether test-time augmentation helps, and at which alert threshold - without touching Test.
std::pair<vision::ImageSet, std::vector<std::size_t>> validation_side(const EvalArgs& a, const LoadedModel& m,
                                                                    const SplitSpec& spec, const char* command) {
    const fs::path dir = split_dir(a.data, "Train");
    if (!spec.guessed.empty()) {
        std::cerr << "warning: the checkpoint does not record";
        for (const auto& k : spec.guessed) std::cerr << " " << k;
        std::cerr << " (written before they were recorded): using the flags' values; the split is only train's if "
                     "they match how it was trained\n";
    }
    const auto index = vision::index_image_folder(dir);
    EMBER_CHECK(index.class_names == m.names, ValueError, command, ": ", dir,
                " has other class folders than the checkpoint's classes: cannot remake the training split");
    vision::ImageSet set = load_folder(dir, a.strict, m.color_constancy, m.names);
    if (spec.folder.empty())
        std::cerr << "warning: the checkpoint does not record which images its Train folder held; the split is "
                     "only train's if " << dir << " is unchanged\n";
    else
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

}  // namespace

namespace {

/// evaluate --on validation judges an ensemble on one validation split: every member must have kept one, the same.
void check_member_splits(const EvalArgs& a, const std::vector<LoadedModel>& models, const SplitSpec& s0) {
    for (std::size_t i = 0; i < models.size(); ++i) {
        const SplitSpec si = i == 0 ? s0 : split_spec(a, models[i]);
        if (a.on == "validation") si.require_validation("evaluate --on validation", a.models[i]);
        EMBER_CHECK(a.on != "validation" || si.same_as(s0), UsageError, "evaluate --on validation: ", a.models[i],
                    " was validated on another split (", si.describe(), ") than ", a.models.front(), " (", s0.describe(),
                    "): their ensemble cannot be judged on either; train ensemble members with the same --split-seed");
    }
}

/// Where evaluate writes: --out, else beside the checkpoint, named after the images and the test-time augmentation.
fs::path evaluation_folder(const EvalArgs& a, TestTimeAugment tta) {
    if (!a.out.empty()) return a.out;
    const std::string images =
        a.on == "validation" ? std::string("validation") : fs::absolute(a.data).lexically_normal().filename().string();
    return a.models.front().parent_path() / ("eval-" + images + (tta == TestTimeAugment::none ? "" : "-tta-" + a.tta));
}

/// The images evaluate scores: `rows` of `set`, from the folder `dir`.
struct ScoredImages {
    vision::ImageSet set;
    std::vector<std::size_t> rows;
    fs::path dir;
};

/// The Test folder, or the validation side of the Train folder (--on validation), without the images
/// --exclude-copies-of's folder also holds.
ScoredImages images_to_score(const EvalArgs& a, const LoadedModel& m, const SplitSpec& spec) {
    ScoredImages s;
    if (a.on == "validation") {
        s.dir = split_dir(a.data, "Train");
        std::tie(s.set, s.rows) = validation_side(a, m, spec, "evaluate --on validation");
    } else {
        s.dir = split_dir(a.data, "Test");
        s.set = load_folder(s.dir, a.strict, m.color_constancy, m.names);
        s.rows.resize(s.set.size());
        std::iota(s.rows.begin(), s.rows.end(), 0);
    }
    if (!a.exclude_copies_of.empty()) {  // leave out images the model may have trained on
        const vision::ImageSet seen = load_folder(a.exclude_copies_of, a.strict, m.color_constancy);
        const auto copy = vision::copies_in(s.set, seen);
        const std::size_t before = s.rows.size();
        std::erase_if(s.rows, [&](std::size_t i) { return copy[i]; });
        std::cout << "Left out " << before - s.rows.size() << " of " << before << " images identical to an image in "
                  << a.exclude_copies_of << "\n";
        EMBER_CHECK(!s.rows.empty(), ValueError, "evaluate: every image of ", s.dir, " is also in ", a.exclude_copies_of);
    }
    return s;
}

/// The evaluation's report on stdout and in metrics.json (`j`: report()'s, to which this adds what was scored and
/// how), confusion_matrix.txt and .png, predictions.csv and the ROC curve, all in `out`.
void write_evaluation(const EvalArgs& a, const fs::path& out, const Evaluation& ev, const LoadedModel& m,
                      const ScoredImages& images, double threshold, json j) {
    j["checkpoint"] = a.models.front().string();
    if (a.models.size() > 1)
        for (const auto& path : a.models) j["ensemble"].push_back(path.string());
    j["data"] = images.dir.string();
    j["on"] = a.on;
    j["test_time_augmentation"] = a.tta;
    j["images"] = images.rows.size();
    if (!a.exclude_copies_of.empty()) j["excluded_copies_of"] = a.exclude_copies_of.string();
    const int mel = find_class(m.names, kMelanoma);
    if (a.on == "validation" && mel >= 0) {  // the threshold train would store, for these probabilities
        const auto [p, pos] = melanoma_scores(ev, mel);
        const double t = train::threshold_for_sensitivity(p, pos, a.alert_sensitivity);
        std::cout << "Alert threshold for melanoma sensitivity >= " << a.alert_sensitivity << " on this split: " << exact(t)
                  << " (pass it to evaluate/predict with --threshold)\n";
        j["threshold_for_sensitivity"] = {{"sensitivity", a.alert_sensitivity}, {"threshold", t}};
    }
    write_json(out / "metrics.json", j);
    {
        std::ofstream txt(out / "confusion_matrix.txt");
        txt << ev.confusion.to_string(m.names);
    }
    const bool drawn = plots::confusion_matrix(out, ev.confusion, m.names);
    std::vector<fs::path> paths;
    for (const auto i : images.rows) paths.push_back(images.set.paths[i]);
    const auto roc_files = write_details(out, ev, m.names, threshold, paths);
    std::cout << "\nWrote metrics.json, confusion_matrix.txt, predictions.csv" << (drawn ? ", confusion_matrix.png" : "");
    for (const auto& f : roc_files) std::cout << ", " << f;
    std::cout << " in " << out << "\n";
}

}  // namespace

int run_evaluate(const EvalArgs& a) {
    std::vector<LoadedModel> models = load_models(a.models, "evaluate");
    const LoadedModel& m = models.front();
    const SplitSpec s0 = split_spec(a, m);
    check_member_splits(a, models, s0);
    const auto tta = parse_test_time_augment(a.tta);
    const fs::path out = evaluation_folder(a, tta);
    ensure_writable_dir(out);
    const double threshold = alert_threshold(models, a.threshold, a.tta);
    if (a.threshold < 0 && models.size() > 1)
        std::cout << "Ensemble of " << models.size() << " models: alert threshold " << threshold
                  << ", the mean of theirs (choose one with --on validation and pass it with --threshold)\n";
    const ScoredImages images = images_to_score(a, m, s0);
    const vision::ImageDataset dataset(images.set);
    data::DataLoader loader(dataset, images.rows, {.batch_size = a.batch});
    std::vector<Evaluation> evs;
    for (auto& member : models) evs.push_back(evaluate(member.model, loader, static_cast<int>(m.names.size()), tta));
    const Evaluation ev = evs.size() == 1 ? std::move(evs.front()) : ensemble(evs);
    std::cout << "\nEvaluation of " << a.models.front();
    for (std::size_t i = 1; i < a.models.size(); ++i) std::cout << " + " << a.models[i];
    std::cout << " on " << (a.on == "validation" ? "the validation side of " : "") << images.dir
              << (tta == TestTimeAugment::none ? "" : " (test-time augmentation: " + a.tta + ")") << "\n";
    write_evaluation(a, out, ev, m, images, threshold, report(ev, m.names, threshold, std::cout));
    return 0;
}

namespace {

/// One source of labelled images for calibrate: its name and the model's p(melanoma) on each of its images.
struct ScoredSource {
    std::string name;
    std::vector<double> score;
    std::vector<bool> melanoma;
    std::size_t melanomas() const { return static_cast<std::size_t>(std::count(melanoma.begin(), melanoma.end(), true)); }
};

/// What a checkpoint recorded of the folders it trained on beside its Train folder (--extra-train): each one's
/// path as given to train and the fingerprint of the images it took from it.
std::vector<std::pair<fs::path, std::string>> extra_training_folders(const LoadedModel& m) {
    std::vector<std::pair<fs::path, std::string>> dirs;
    const auto it = m.meta.find("extra_train");
    if (it == m.meta.end()) return dirs;
    try {
        for (const auto& f : json::parse(it->second))
            dirs.emplace_back(f.at("folder").get<std::string>(), f.at("fingerprint").get<std::string>());
    } catch (const std::exception&) {
        throw IoError("checkpoint '" + m.path.string() + "': its extra_train metadata is not the list train writes");
    }
    return dirs;
}

/// calibrate's refusals before any work: no source, a folder given twice, --save onto a folder or onto --model
/// itself, --cast-copy without the validation side it casts.
void check_calibrate_args(const CalibrateArgs& a) {
    const EvalArgs& e = a.eval;
    const fs::path& model_path = e.models.at(0);  // main.cpp's --model takes one path
    EMBER_CHECK(!e.data.empty() || !a.folders.empty(), UsageError,
                "calibrate: nothing to choose the threshold on: give --validation DATASET (the checkpoint's own "
                "validation split) and/or --data DIR (a folder of class folders), repeatable");
    for (std::size_t i = 0; i < a.folders.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            EMBER_CHECK(fs::weakly_canonical(a.folders[i]) != fs::weakly_canonical(a.folders[j]), UsageError,
                        "calibrate: --data ", a.folders[i], " is given twice: its images would count twice");
    if (!a.save.empty()) {
        EMBER_CHECK(a.save.has_filename() && !fs::is_directory(a.save), UsageError, "calibrate: --save ", a.save,
                    " is a folder: give the checkpoint file to write");
        EMBER_CHECK(fs::weakly_canonical(a.save) != fs::weakly_canonical(model_path), UsageError, "calibrate: --save ",
                    a.save, " is --model itself: write the calibrated copy beside it, so the run keeps the threshold it chose");
        ensure_writable_dir(fs::absolute(a.save).parent_path());
    }
    EMBER_CHECK(a.cast_copy.empty() || !e.data.empty(), UsageError,
                "calibrate: --cast-copy puts a colour cast on the validation side: give --validation DATASET too");
}

/// Images the model trained on would flatter its scores (and the validation side would count twice): a --data
/// folder is refused by path before any work (`fingerprint` empty), and by what it holds once it is loaded (a path
/// recorded relative to another working directory, a copy of the folder).
void refuse_trained_on(const CalibrateArgs& a, const LoadedModel& m, const fs::path& dir, const std::string& fingerprint) {
    const fs::path c = fs::weakly_canonical(dir);
    const auto trained_folder = m.meta.find("train_folder");
    EMBER_CHECK((a.eval.data.empty() || c != fs::weakly_canonical(split_dir(a.eval.data, "Train"))) &&
                    (fingerprint.empty() || trained_folder == m.meta.end() || fingerprint != trained_folder->second),
                UsageError, "calibrate: --data ", dir, " is the Train folder the checkpoint was trained on (use "
                "--validation for its validation side): its scores would flatter the alert");
    for (const auto& [folder, print] : extra_training_folders(m))
        EMBER_CHECK(c != fs::weakly_canonical(folder) && (fingerprint.empty() || fingerprint != print), UsageError,
                    "calibrate: --data ", dir, " was on the checkpoint's training side (--extra-train ", folder,
                    "): its scores would flatter the alert");
}

/// The model's p(melanoma) on each source: the validation side of --validation's Train folder (and the same under
/// --cast-copy's cast), then each --data folder.
std::vector<ScoredSource> score_sources(const CalibrateArgs& a, LoadedModel& m, int mel, TestTimeAugment tta) {
    const EvalArgs& e = a.eval;
    std::vector<ScoredSource> sources;
    const auto score = [&](std::string name, const vision::ImageSet& set, const std::vector<std::size_t>& rows) {
        const vision::ImageDataset dataset(set);
        data::DataLoader loader(dataset, rows, {.batch_size = e.batch});
        const Evaluation ev = evaluate(m.model, loader, static_cast<int>(m.names.size()), tta);
        auto [p, pos] = melanoma_scores(ev, mel);
        sources.push_back({std::move(name), std::move(p), std::move(pos)});
    };
    if (!e.data.empty()) {
        const SplitSpec spec = split_spec(e, m);
        spec.require_validation("calibrate --validation", m.path, "give --data folders instead");
        const auto [set, rows] = validation_side(e, m, spec, "calibrate --validation");
        const std::string name = "validation side of " + split_dir(e.data, "Train").string();
        score(name, set, rows);
        if (!a.cast_copy.empty()) {
            vision::ImageSet cast = vision::subset(set, rows);
            vision::apply_channel_gains(cast.pixels.data(), cast.pixels.size() / 3,
                                      {a.cast_copy.at(0), a.cast_copy.at(1), a.cast_copy.at(2)});
            std::vector<std::size_t> all(cast.size());
            std::iota(all.begin(), all.end(), 0);
            score(name + " under the gains R " + exact(a.cast_copy[0]) + ", G " + exact(a.cast_copy[1]) + ", B " +
                      exact(a.cast_copy[2]),
                  cast, all);
        }
    }
    for (const auto& dir : a.folders) {
        const vision::ImageSet set = load_folder(dir, e.strict, m.color_constancy, m.names);
        refuse_trained_on(a, m, dir, folder_fingerprint(set));
        std::vector<std::size_t> rows(set.size());
        std::iota(rows.begin(), rows.end(), 0);
        score(dir.string(), set, rows);
    }
    return sources;
}

/// Prints what each source alone would choose and how each (and all pooled, the last source) fares at
/// `threshold`; returns the record the saved checkpoint keeps (alert_calibration) and where the threshold came
/// from (alert_threshold_from).
std::pair<json, std::string> report_calibration(const CalibrateArgs& a, const LoadedModel& m,
                                                const std::vector<ScoredSource>& sources, double threshold) {
    const EvalArgs& e = a.eval;
    const ScoredSource& pooled = sources.back();
    std::cout << "\nCalibrating the melanoma alert of " << m.path << " (its threshold: " << exact(m.threshold)
              << ", from " << (m.meta.count("alert_threshold_from") ? m.meta.at("alert_threshold_from") : "?") << ")\n";
    std::ostringstream from;
    from << "calibrate: melanoma sensitivity >= " << e.alert_sensitivity << " on";
    for (const auto& s : sources) {
        if (&s == &pooled) break;
        std::cout << "  " << s.name << ": " << s.score.size() << " images, " << s.melanomas() << " melanomas";
        if (s.melanomas() > 0)
            std::cout << "; alone it would choose " << exact(train::threshold_for_sensitivity(s.score, s.melanoma, e.alert_sensitivity));
        std::cout << "\n";
        from << (&s == &sources.front() ? " " : " + ") << s.name << " (" << s.score.size() << " images, "
             << s.melanomas() << " melanomas)";
    }
    from << (e.tta == "none" ? ", scored without test-time augmentation" : ", scored with test-time augmentation " + e.tta);
    std::cout << "Alert threshold for melanoma sensitivity >= " << e.alert_sensitivity << " on the " << pooled.score.size()
              << " images pooled (" << pooled.melanomas() << " melanomas): " << exact(threshold) << "\n";
    json record = json::array();
    for (const auto& s : sources) {
        const auto r = train::binary_rates(s.score, s.melanoma, threshold);
        std::cout << "  " << s.name << ": " << rates_text(r) << "\n";
        record.push_back({{"source", s.name}, {"images", s.score.size()}, {"melanomas", s.melanomas()},
                          {"tp", r.tp}, {"fn", r.fn}, {"tn", r.tn}, {"fp", r.fp}});
    }
    return {record, from.str()};
}

}  // namespace

int run_calibrate(const CalibrateArgs& a) {
    const EvalArgs& e = a.eval;
    check_calibrate_args(a);
    LoadedModel m = load_model(e.models.at(0));
    // The cast must come before the colour correction a checkpoint may make as images are loaded, and the loaded
    // validation side is already corrected.
    EMBER_CHECK(a.cast_copy.empty() || m.color_constancy == "none", UsageError, "calibrate: --cast-copy: ", m.path,
                " corrects colour as images are loaded (", m.color_constancy, "), after which a cast put on them would "
                "reach the model uncorrected: write a cast copy with examples/melanoma/tools/cast_copy.cpp and give it "
                "with --data");
    const auto tta = parse_test_time_augment(e.tta);
    const int mel = find_class(m.names, kMelanoma);
    EMBER_CHECK(mel >= 0, UsageError, "calibrate: ", m.path, " has no class named '", kMelanoma,
                "': it has no melanoma alert to calibrate");
    for (const auto& dir : a.folders) {
        EMBER_CHECK(!find_split_dir(dir, "Train") && !find_split_dir(dir, "Test"), UsageError, "calibrate: --data ", dir,
                    " is a dataset folder (it holds Train or Test), not a folder of class folders: give --validation "
                    "for its Train folder's validation split");
        refuse_trained_on(a, m, dir, "");
    }

    std::vector<ScoredSource> sources = score_sources(a, m, mel, tta);
    ScoredSource pooled{"pooled", {}, {}};
    for (const auto& s : sources) {
        pooled.score.insert(pooled.score.end(), s.score.begin(), s.score.end());
        pooled.melanoma.insert(pooled.melanoma.end(), s.melanoma.begin(), s.melanoma.end());
    }
    EMBER_CHECK(pooled.melanomas() > 0, UsageError, "calibrate: none of the ", pooled.score.size(),
                " images is labelled '", kMelanoma, "': a sensitivity cannot be reached on them");
    const double threshold = train::threshold_for_sensitivity(pooled.score, pooled.melanoma, e.alert_sensitivity);
    sources.push_back(std::move(pooled));
    const auto [record, from] = report_calibration(a, m, sources, threshold);
    if (a.save.empty()) {
        std::cout << "Pass it to evaluate/predict with --threshold " << exact(threshold)
                  << ", or write a checkpoint that carries it with --save\n";
        return 0;
    }
    auto meta = m.meta;
    meta["alert_threshold"] = exact(threshold);
    meta["alert_threshold_from"] = from;
    meta["alert_threshold_tta"] = e.tta;
    meta["alert_calibration"] = record.dump();
    io::save_checkpoint(a.save, m.model, meta);
    std::cout << "Wrote " << a.save << ": the weights of " << m.path << " with alert threshold " << exact(threshold)
              << " (evaluate and predict use it)\n";
    return 0;
}

int run_predict(const PredictArgs& a) {
    std::vector<LoadedModel> models = load_models(a.models, "predict");
    LoadedModel& m = models.front();
    const auto tta = parse_test_time_augment(a.tta);
    const double threshold = alert_threshold(models, a.threshold, a.tta);
    const int mel = find_class(m.names, kMelanoma);
    if (mel < 0)
        std::cerr << "warning: the model has no class named '" << kMelanoma << "': no melanoma alert is given\n";
    const vision::LoadOptions options = image_options(true, m.color_constancy);  // as the members were trained
    NoGradGuard no_grad;
    json out = json::array();
    int failures = 0;
    for (const auto& path : a.images) {
        json item{{"image", path.string()}};
        try {
            const Tensor<float> x = vision::load_image_tensor(path, options);
            Tensor<float> p = predict_probabilities(m.model, x, tta);
            for (std::size_t i = 1; i < models.size(); ++i) {  // an ensemble: the mean of the members' probabilities
                const Tensor<float> q = predict_probabilities(models[i].model, x, tta);
                for (index_t c = 0; c < p.numel(); ++c) p.data()[c] += q.data()[c];
            }
            for (auto& v : p.span()) v /= static_cast<float>(models.size());
            std::vector<int> order(m.names.size());
            std::iota(order.begin(), order.end(), 0);
            std::sort(order.begin(), order.end(), [&](int i, int j) { return p.data()[i] > p.data()[j]; });
            for (std::size_t c = 0; c < m.names.size(); ++c) item["probabilities"][m.names[c]] = p.data()[c];
            for (int k = 0; k < 3 && k < static_cast<int>(order.size()); ++k)
                item["top3"].push_back({{"class", m.names[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])]},
                                        {"probability", p.data()[order[static_cast<std::size_t>(k)]]}});
            const bool alert = mel >= 0 && p.data()[mel] >= threshold;
            item["melanoma_probability"] = mel >= 0 ? json(p.data()[mel]) : json(nullptr);  // null: no such class
            item["melanoma_alert"] = alert;
            item["threshold"] = threshold;
            if (!a.json) {
                std::cout << path.string() << "\n";
                for (int k = 0; k < 3 && k < static_cast<int>(order.size()); ++k)
                    std::cout << "  " << k + 1 << ". " << std::left << std::setw(28) << m.names[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])]
                              << std::right << std::fixed << std::setprecision(3) << p.data()[order[static_cast<std::size_t>(k)]] << "\n";
                std::cout << "  all:";  // every class, in the model's order
                for (std::size_t c = 0; c < m.names.size(); ++c)
                    std::cout << (c ? ", " : " ") << m.names[c] << " " << p.data()[c];
                std::cout << "\n";
                if (mel >= 0) {
                    std::cout << "  p(melanoma) = " << p.data()[mel] << " (alert threshold " << threshold << ")\n";
                    if (alert) std::cout << "  MELANOMA ALERT: refer this lesion to a dermatologist\n";
                }
                std::cout.unsetf(std::ios::floatfield);
            }
        } catch (const IoError& e) {
            ++failures;
            item["error"] = e.what();
            if (!a.json) std::cerr << "error: " << e.what() << "\n";
        }
        out.push_back(item);
    }
    if (a.json) std::cout << std::setw(2) << out << "\n";
    return failures ? 1 : 0;
}

}  // namespace melanoma
