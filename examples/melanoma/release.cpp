// examples/melanoma/release.cpp - `melanoma release`: the one way a model of this example is released. It trains
// the cross-validated recipe on all of the Train folder, stores the alert threshold chosen out of fold, scores the
// Test folder once (the only time Test is scored for that model) and writes the model card beside the checkpoint.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include <ember/io/checkpoint.hpp>
#include <ember/version.hpp>

#include "commands.hpp"
#include "models.hpp"

using namespace ember;

namespace melanoma {

namespace {

/// The cross-validation's report, checked to be of this recipe and finished.
json read_cv_report(const fs::path& cv_dir, const json& recipe) {
    const fs::path file = cv_dir / "cv_report.json";
    if (!fs::is_regular_file(file))
        throw UsageError("release: " + file.string() + " does not exist: run melanoma cv with this recipe into " +
                         cv_dir.string() + " first (every fold), then release");
    json report;
    try {
        std::ifstream in(file);
        report = json::parse(in);
        (void)report.at("alert").at("threshold").get<double>();
        (void)report.at("figures").get<json::object_t>();
    } catch (const json::exception& e) {
        throw UsageError("release: " + file.string() + " is not a report written by melanoma cv: " + e.what());
    }
    if (report.at("recipe") != recipe)
        throw UsageError("release: " + file.string() + " cross-validated another recipe (" + report.at("recipe").dump() +
                         "): release the recipe that was cross-validated, or cross-validate this one");
    return report;
}

/// "0.812 [0.774, 0.848]" from a figure of the report.
std::string figure_text(const json& f) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(3) << f.at("value").get<double>() << " [" << f.at("low").get<double>() << ", "
       << f.at("high").get<double>() << "]";
    return os.str();
}

/// A number as the card shows it.
std::string number(double v, int digits = 3) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(digits) << v;
    return os.str();
}

/// MODEL_CARD.md, from the recipe, the out-of-fold report and the one Test scoring.
void write_model_card(const fs::path& file, const ReleaseArgs& a, const json& cv, const json& test,
                      const std::map<std::string, std::string>& meta, std::uintmax_t bytes) {
    const json& recipe = cv.at("recipe");
    std::ostringstream md;
    md << "# Model card: " << a.model_name << "\n\n"
       << "A " << cv.at("class_names").size() << "-class classifier of dermoscopic images of skin lesions with a "
       << "melanoma alert, trained with ember "
       << EMBER_VERSION_STRING << " by `melanoma release` (this file is written by that command).\n\n"
       << "**Intended use: research and teaching. It is not a medical device** and must not be used to diagnose "
          "anyone.\n\n## The model\n\n"
       << "- Checkpoint: `" << a.model_name << ".safetensors` (" << bytes << " bytes; safetensors with the recipe, "
       << "class names, alert threshold and library version in its metadata).\n"
       << "- Network: " << recipe.at("model").get<std::string>()
       << (recipe.at("model") == "reference-cnn" ? " (the Keras original's CNN)" : "") << ", input 180x180 RGB.\n"
       << "- Classes: " << cv.at("class_names").dump() << ".\n- Recipe (`" << a.recipe.filename().string() << "`): `" << recipe.dump() << "`\n"
       << "- Melanoma alert: p(melanoma) >= " << exact(cv.at("alert").at("threshold").get<double>())
       << ", chosen on the pooled out-of-fold scores for melanoma sensitivity "
       << cv.at("alert").at("target_sensitivity").get<double>() << ".\n\n"
       << "## Data\n\nThe Train folder (`" << a.data.string() << "`), deduplicated: copies of an image within a class "
       << "kept once, images filed under two or more classes dropped (their label cannot be told). "
       << meta.at("training_images") << " images trained the model; the cross-validation pooled "
       << cv.at("images").get<long>() << " held-out images. The audit of the public copy is in docs/melanoma.md.\n\n"
       << "## Out-of-fold figures (the estimate to rely on)\n\n"
       << cv.at("folds").get<int>() << "-fold stratified cross-validation over the deduplicated Train folder, each "
       << "image scored by the model that did not train on it. " << cv.at("interval").get<std::string>() << ".\n\n"
       << "| figure | value [95% interval] |\n|---|---|\n";
    for (const auto& [name, f] : cv.at("figures").items()) md << "| " << name << " | " << figure_text(f) << " |\n";
    md << "\n## Test folder (scored once by release; not an unbiased estimate)\n\n"
       << "The public copy's Test folder had been scored more than 70 times in this project's history before this "
          "release (docs/melanoma.md keeps the count), and earlier recipes and alert rules were chosen by reading its scores; 18 of its 118 images sit "
          "in Train under another label. Its figures below are reported for completeness only: "
          "N = " << test.at("images").get<long>() << ", accuracy " << number(test.at("accuracy").get<double>())
       << " (95% interval " << number(test.at("accuracy_ci95").at(0).get<double>()) << "-"
       << number(test.at("accuracy_ci95").at(1).get<double>()) << "), balanced accuracy "
       << number(test.at("balanced_accuracy").get<double>());
    if (test.contains("melanoma_alert")) {
        const json& alert = test.at("melanoma_alert");
        md << ", melanoma alert sensitivity " << alert.at("tp").get<long>() << "/"
           << alert.at("tp").get<long>() + alert.at("fn").get<long>() << ", specificity " << alert.at("tn").get<long>()
           << "/" << alert.at("tn").get<long>() + alert.at("fp").get<long>();
    }
    if (test.contains("melanoma_roc_auc")) md << ", melanoma ROC AUC " << number(test.at("melanoma_roc_auc").get<double>());
    md << ".\n\n## Known limits\n\n"
       << "- One collection, one image size, few images in some classes (their recalls above have the widest "
          "intervals): figures on other clinics' cameras and populations will be lower.\n"
       << "- Labels of the public copy are not all right (the copies filed under two classes above).\n"
       << "- The alert threshold was chosen for a sensitivity on this collection; another population needs its own.\n";
    std::ofstream out(file);
    out << md.str();
}

/// The recipe's training run on all of the deduplicated Train folder, with the out-of-fold threshold; refuses a
/// cross-validation of another Train folder or --limit before hours of training.
TrainArgs release_run(const ReleaseArgs& a, const json& cv) {
    TrainArgs t;
    apply_recipe(t, a.recipe);
    t.recipe = a.recipe;
    t.data = a.data.empty() ? default_data_dir() : a.data;
    (void)split_dir(t.data, "Test");  // scored at the end: a missing Test folder is said now, not after training
    if (cv.at("limit").get<long>() != a.limit)
        throw UsageError("release: the cross-validation in " + a.cv.string() + " ran with --limit " + cv.at("limit").dump() +
                         ", this release with --limit " + std::to_string(a.limit) + ": its threshold is not this model's");
    if (folder_fingerprint(load_folder(split_dir(t.data, "Train"), a.strict, t.color_constancy)) !=
        cv.at("train_folder").get<std::string>())
        throw UsageError("release: " + a.cv.string() + " cross-validated another Train folder than " + t.data.string() +
                         "'s (images or names differ)");
    t.out = a.work;
    t.threads = a.threads;
    t.loader_threads = a.loader_threads;
    t.strict = a.strict;
    t.limit = a.limit;
    t.val_split = 0;  // all of Train; the threshold is the out-of-fold one
    t.dedup = true;   // the images the cross-validation judged
    t.alert_threshold = cv.at("alert").at("threshold").get<double>();
    t.resume = true;  // a release cut short goes on from its last complete epoch
    return t;
}

}  // namespace

int run_release(const ReleaseArgs& a) {
    const json cv = [&] {
        TrainArgs recipe;
        apply_recipe(recipe, a.recipe);
        return read_cv_report(a.cv, recipe_of(recipe));
    }();
    const fs::path model_file = a.out / (a.model_name + ".safetensors");
    if (fs::exists(model_file))
        throw UsageError("release: " + model_file.string() + " exists: a released model is scored on Test once, so "
                         "release does not overwrite one; remove it (and its model card) to release another");
    ensure_writable_dir(a.out);
    const TrainArgs t = release_run(a, cv);
    if (const int code = run_train(t); code != 0) return code;

    // The model with what it is: the recipe cross-validated (release trains it with val_split 0 and dedup), the
    // out-of-fold threshold (chosen on scores without test-time augmentation) and the library that made it.
    LoadedModel m = load_model(a.work / "last.safetensors");
    auto meta = m.meta;
    meta["recipe"] = cv.at("recipe").dump();
    meta["release_overrides"] = R"({"val_split": 0, "dedup": true})";
    meta["alert_threshold_from"] = "out-of-fold scores of " + std::to_string(cv.at("folds").get<int>()) + "-fold cross-validation";
    meta["alert_threshold_tta"] = "none";
    meta["library_version"] = EMBER_VERSION_STRING;
    meta["model_name"] = a.model_name;
    const fs::path staged = a.work / model_file.filename();  // moved beside its card once Test is scored
    io::save_checkpoint(staged, m.model, meta);

    std::cout << "\nScoring the Test folder, once, with " << staged << "\n";
    EvalArgs e;
    e.data = t.data;
    e.models = {staged};
    e.out = a.work / "test";
    e.strict = a.strict;
    e.releasing = true;
    if (const int code = run_evaluate(e); code != 0) return code;
    json test;
    std::ifstream(e.out / "metrics.json") >> test;
    ReleaseArgs resolved = a;
    resolved.data = t.data;  // the folder the model trained on, also when it was downloaded
    const std::uintmax_t bytes = fs::file_size(staged);
    write_model_card(a.work / "MODEL_CARD.md", resolved, cv, test, meta, bytes);
    fs::copy_file(a.work / "MODEL_CARD.md", a.out / "MODEL_CARD.md", fs::copy_options::overwrite_existing);
    fs::copy_file(staged, a.out / (model_file.filename().string() + ".tmp"), fs::copy_options::overwrite_existing);
    fs::rename(a.out / (model_file.filename().string() + ".tmp"), model_file);
    std::cout << "Released " << model_file << " (" << bytes << " bytes) and " << (a.out / "MODEL_CARD.md") << "\n";
    return 0;
}

}  // namespace melanoma
