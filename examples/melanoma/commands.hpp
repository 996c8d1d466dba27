// examples/melanoma/commands.hpp - the melanoma program's subcommands as main.cpp's command line hands them their
// arguments (train's in train_options.hpp, with the table of its options), and the helpers they share. The
// subcommands live in their own translation units (audit.cpp, train.cpp, evaluate.cpp for evaluate and predict,
// cv.cpp and cv_report.cpp; models.cpp loads the checkpoints they score), so a build compiles them in parallel and an edit to
// one recompiles only it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ember/vision/image_folder.hpp>
#include <ember/train/metrics.hpp>

#include "classifier.hpp"

#include "basics.hpp"
#include "train_options.hpp"

namespace melanoma {

inline constexpr const char* kDatasetRepo = "https://github.com/AmitBytesSage/Melanoma-Skin-Cancer-Detection-Model.git";
inline constexpr const char* kDatasetFolder = "Skin cancer ISIC The International Skin Imaging Collaboration";
inline constexpr const char* kMelanoma = "melanoma";

// ---- the subcommands ------------------------------------------------------------------------------------------

int run_audit(const fs::path& data_dir, const fs::path& out_dir);

/// `melanoma train` (train.cpp); TrainArgs and its options are in train_options.hpp.
int run_train(TrainArgs a);

/// `melanoma cv` (cv.cpp): k-fold cross-validation of a recipe over the Train folder.
struct CvArgs {
    fs::path recipe, data, out = "runs/cv";
    int folds = 5;
    int fold = 0;  // 1-based: train only this fold; 0: every fold not yet done
    int threads = 0, loader_threads = 1;
    long limit = 0;
    bool strict = false;
};
int run_cv(const CvArgs& a);
/// The out-of-fold report of a finished cross-validation (cv_report.cpp): pools the folds' held-out predictions
/// (`oof` files, one per fold, which must share the recipe `base` and the Train folder), writes cv_report.json,
/// oof_predictions.csv and the plots in `dir`, prints the table, and returns 0.
int write_cv_report(const fs::path& dir, const std::vector<fs::path>& oof, const TrainArgs& base);

/// `melanoma release` (release.cpp): train a cross-validated recipe on all of Train, store the out-of-fold alert
/// threshold, score Test once and write the model card.
struct ReleaseArgs {
    fs::path recipe, cv, data, out = "examples/melanoma/models", work = "runs/release";
    std::string model_name = "ember-melanoma";
    int threads = 0, loader_threads = 1;
    long limit = 0;
    bool strict = false;
};
int run_release(const ReleaseArgs& a);

struct EvalArgs {
    fs::path data, out;
    std::vector<fs::path> models;  // one checkpoint, or the members of an ensemble
    double threshold = -1;  // < 0: the checkpoint's
    bool strict = false;
    std::string tta = "none";
    std::string on = "test";
    double alert_sensitivity = TrainArgs{}.alert_sensitivity;
    long batch = TrainArgs{}.batch;
    bool releasing = false;  // set by release for its one scoring of Test: no "already released" warning
};

int run_evaluate(const EvalArgs& a);

struct PredictArgs {
    std::vector<fs::path> models;  // one checkpoint, or the members of an ensemble; none: the shipped model
    fs::path explain;              // where Grad-CAM heat maps go; empty: none
    std::vector<fs::path> images;
    double threshold = -1;  // < 0: the checkpoint's
    bool json = false;      // print JSON rather than text
    std::string tta = "none";
};

int run_predict(const PredictArgs& a);
/// The model shipped in examples/melanoma/models/, which predict uses without --model; UsageError when it is missing.
fs::path default_model();

// ---- shared helpers (common.cpp) ------------------------------------------------------------------------------

/// `dir`/<split> (Train or Test), or the same inside the ISIC folder name of the public copy, when it exists.
std::optional<fs::path> find_split_dir(const fs::path& dir, const std::string& split);
/// find_split_dir(), else `dir` itself as a folder of class folders - unless `dir` holds the other split (a
/// dataset folder lacking this one), which is a UsageError naming both.
fs::path split_dir(const fs::path& dir, const std::string& split);
/// Without --data: the default download folder, fetched with git when the network allows.
fs::path default_data_dir();
/// The index of class `name`, or -1.
int find_class(const std::vector<std::string>& names, const std::string& name);
/// Creates `dir` and checks that a file can be written in it, else throws UsageError.
void ensure_writable_dir(const fs::path& dir);
/// Writes `j` to `path` through a temporary file and a rename.
void write_json(const fs::path& path, const json& j);
/// The Minkowski norm of a --color-constancy name (0: none), as vision::LoadOptions::shades_of_gray takes it.
double shades_of_gray_norm(const std::string& color_constancy);
/// How images are loaded for a model: at its input size, colours corrected as it was trained.
ember::vision::LoadOptions image_options(bool strict, const std::string& color_constancy);
/// Warns on stderr about what an index left out: files that are not images (the first few by name, then a
/// count) and class folders not among the classes it was given (`whose` classes: "the model's").
void warn_not_indexed(const ember::vision::FolderIndex& index, const char* whose);
/// Indexes and decodes a folder of class folders, with a progress bar and warn_not_indexed()'s warnings
/// (class_names: a model's classes, in its order; empty: the folder's own).
ember::vision::ImageSet load_folder(const fs::path& dir, bool strict, const std::string& color_constancy,
                                  std::vector<std::string> class_names = {});
/// Decodes the images of a folder already indexed, with load_folder()'s report and progress bar.
ember::vision::ImageSet load_indexed(const ember::vision::FolderIndex& index, bool strict, const std::string& color_constancy);
/// A fingerprint of what a folder of class folders held: the labels and file names of its images, in order.
std::string folder_fingerprint(const ember::vision::ImageSet& set);
/// The melanoma column of the probabilities and who is truly melanoma.
std::pair<std::vector<double>, std::vector<bool>> melanoma_scores(const Evaluation& ev, int mel);
/// "sensitivity 0.909 (80/88), specificity 0.742 (267/360)"; n/a where a set has no such images.
std::string rates_text(const ember::train::BinaryRates& r);
/// Prints the evaluation report (accuracy, per-class precision/recall/F1, confusion matrix, melanoma alert) to
/// `os` and returns it as JSON.
json report(const Evaluation& ev, const std::vector<std::string>& names, double threshold, std::ostream& os);
/// predictions.csv (unless !per_image) and the melanoma ROC curve of an evaluation in `dir`; returns the names of the curve's files it
/// wrote (melanoma_roc.csv, and melanoma_roc.png where gnuplot drew it; none without a curve), for the caller's
/// "Wrote ..." line.
std::vector<std::string> write_details(const fs::path& dir, const Evaluation& ev, const std::vector<std::string>& names,
                   double threshold, const std::vector<fs::path>& paths, bool per_image = true);

}  // namespace melanoma
