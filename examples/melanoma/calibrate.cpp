// examples/melanoma/calibrate.cpp - `melanoma calibrate`: the alert threshold chosen on several labelled sources
// pooled (the run's validation split, other labelled folders, the validation split under a colour cast).
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
#include "models.hpp"
#include "model.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

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


}  // namespace melanoma
