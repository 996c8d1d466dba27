// Tests of `melanoma cv` (folds trained one by one, resumable, then the out-of-fold report), `melanoma release` (the
// cross-validated recipe trained on all of Train, Test scored once, the model card) and `melanoma predict` with
// --explain (Grad-CAM heat maps) and with the shipped model; the cross-validation of isic-mini is a short smoke run.
#include <catch2/catch.hpp>

#include <set>

#include <ember/version.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;
using nlohmann::json;

namespace {

/// The recipe the smoke runs train with: one epoch, one batch of 16 images (with --limit 16).
const char* kOneEpoch = R"({"name": "smoke", "description": "one short epoch", "epochs": 1, "batch": 16})";

json read_json(const fs::path& file) { return json::parse(bytes(file)); }

/// The lines of a text file.
std::vector<std::string> lines_of(const fs::path& file) {
    std::ifstream in(file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

/// Checks what a finished cross-validation of isic-mini (270 Train images, 9 classes) over 2 folds left in `cv`: each
/// fold's held-out predictions, the pooled report and the predictions with their folds; returns the report.
json check_finished_cv(const fs::path& cv) {
    const json report = read_json(cv / "cv_report.json");
    std::set<std::string> held_out;  // every image is held out by one fold
    for (int k = 1; k <= 2; ++k) {
        CAPTURE(k);
        const fs::path fold = cv / ("fold-" + std::to_string(k));
        const json oof = read_json(fold / "oof.json");
        CHECK(oof.at("fold") == k - 1);
        CHECK(oof.at("folds") == 2);
        CHECK(oof.at("recipe") == report.at("recipe"));
        CHECK(oof.at("labels").size() == oof.at("images").size());
        CHECK(oof.at("probabilities").size() == oof.at("images").size());
        for (const auto& image : oof.at("images")) CHECK(held_out.insert(image.get<std::string>()).second);
        // a fold's model: its threshold is a placeholder, cv chooses the alert threshold on all folds' scores
        const auto meta = checkpoint_metadata(fold / "last.safetensors");
        CHECK(meta.at("alert_threshold_from") == "cross-validation");
        CHECK(meta.at("checkpoint_format") == "2");
    }
    CHECK(held_out.size() == 270);
    CHECK(report.at("images") == held_out.size());  // the pooled held-out images
    CHECK(report.at("folds") == 2);
    CHECK(report.at("class_names").size() == 9);
    CHECK(report.at("recipe").at("epochs") == 1);
    const double threshold = report.at("alert").at("threshold").get<double>();
    CHECK((threshold >= 0 && threshold <= 1));
    for (const char* name : {"accuracy", "balanced_accuracy", "recall melanoma", "melanoma_roc_auc",
                             "melanoma_sensitivity_at_specificity_0.80", "alert_threshold", "alert_sensitivity_cross_fitted",
                             "alert_specificity_cross_fitted"})
        CHECK(report.at("figures").contains(name));
    for (const auto& [name, figure] : report.at("figures").items()) {
        CAPTURE(name);
        REQUIRE((figure.at("value").is_number() && figure.at("low").is_number() && figure.at("high").is_number()));
        CHECK(figure.at("low").get<double>() <= figure.at("high").get<double>());
    }
    // oof_predictions.csv: a header, then one row per held-out image with its fold
    const auto rows = lines_of(cv / "oof_predictions.csv");
    REQUIRE(rows.size() == held_out.size() + 1);
    CHECK_THAT(rows[0], Catch::StartsWith("image,fold,true_class,p_actinic keratosis,"));
    std::map<std::string, int> per_fold;
    for (std::size_t i = 1; i < rows.size(); ++i) {
        const auto after_image = rows[i].find("\",");
        REQUIRE(after_image != std::string::npos);
        ++per_fold[rows[i].substr(after_image + 2, rows[i].find(',', after_image + 2) - after_image - 2)];
    }
    CHECK(per_fold.size() == 2);
    CHECK(per_fold["1"] + per_fold["2"] == 270);
    return report;
}

/// Checks the release of the smoke recipe cross-validated in `cv` into `model`: the checkpoint, its metadata and
/// the model card; then that release does not overwrite it, nor releases another recipe on that report.
void check_release(const fs::path& data, const fs::path& cv, const fs::path& root, const std::string& recipe) {
    const std::string release = "release --cv " + q(cv) + " --data " + q(data) + " --limit 16 --work " + q(root / "work");
    auto r = melanoma(release + " " + recipe + " --out " + q(root / "model"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Scoring the Test folder, once, with ") && Catch::Contains("Images 54 ") &&
                             Catch::Contains("Released "));
    CHECK_THAT(r.output, !Catch::Contains("is a released model"));  // release's own scoring is the one it reports
    const fs::path model = root / "model" / "ember-melanoma.safetensors";
    REQUIRE(fs::exists(model));
    const auto meta = checkpoint_metadata(model);
    CHECK(meta.at("library_version") == EMBER_VERSION_STRING);
    CHECK(meta.at("checkpoint_format") == "2");
    CHECK(meta.at("model_name") == "ember-melanoma");
    CHECK_THAT(meta.at("alert_threshold_from"), Catch::Contains("out-of-fold scores of 2-fold cross-validation"));
    // the alert threshold is the out-of-fold one, exactly
    CHECK(std::stod(meta.at("alert_threshold")) == read_json(cv / "cv_report.json").at("alert").at("threshold").get<double>());
    // the recipe cross-validated, and what release changed to train it on all of Train, deduplicated
    CHECK(checkpoint_recipe(model) == read_json(cv / "cv_report.json").at("recipe"));
    CHECK(json::parse(meta.at("release_overrides")) == json{{"val_split", 0}, {"dedup", true}});
    CHECK(meta.at("alert_threshold_tta") == "none");
    const std::string card = bytes(root / "model" / "MODEL_CARD.md");
    CHECK_THAT(card, Catch::Contains("# Model card: ember-melanoma") && Catch::Contains("not a medical device") &&
                         Catch::Contains("scored once") && Catch::Contains("2-fold stratified cross-validation") &&
                         Catch::Contains("| balanced_accuracy | ") && Catch::Contains("N = 54"));

    // a released model is not overwritten, and said so before any training
    const std::string released = bytes(model);
    r = melanoma(release + " " + recipe + " --out " + q(root / "model"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: release: " + model.string() + " exists: a released model is scored on "
                                         "Test once, so release does not overwrite one") &&
                             !Catch::Contains("Epoch "));
    CHECK(bytes(model) == released);
    // another recipe than the one cross-validated, or a folder without a report, is refused before any output
    r = melanoma(release + " " + recipe_arg("smoke-other", R"({"epochs": 1, "batch": 16, "lr": 0.002})") + " --out " +
                 q(root / "other"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: release: " + (cv / "cv_report.json").string() + " cross-validated another "
                                         "recipe (") && Catch::Contains("release the recipe that was cross-validated"));
    CHECK_FALSE(fs::exists(root / "other"));
    r = melanoma("release --cv " + q(root / "work") + " --data " + q(data) + " " + recipe + " --out " + q(root / "other"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("cv_report.json does not exist: run melanoma cv with this recipe into "));
}

/// A PNG's width and height, from its IHDR chunk.
std::pair<int, int> png_size(const std::string& png) {
    REQUIRE(png.size() > 24);
    REQUIRE(png.substr(1, 3) == "PNG");
    const auto be32 = [&](std::size_t at) {
        int v = 0;
        for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(png[at + i]);
        return v;
    };
    return {be32(16), be32(20)};
}

/// predict --explain with `model` on `image`: the heat maps of the predicted class and of melanoma, as PNGs at the
/// model's input size, named after the image and the class, and listed in the output.
void check_explain(const fs::path& model, const fs::path& image, const fs::path& dir) {
    const auto r = melanoma("predict --model " + q(model) + " --explain " + q(dir) + " " + q(image));
    REQUIRE(r.code == 0);
    std::set<std::string> written;
    for (const auto& entry : fs::directory_iterator(dir)) written.insert(entry.path().filename().string());
    CHECK((written.size() == 1 || written.size() == 2));  // one where melanoma is the predicted class
    CHECK(written.count(image.stem().string() + "-gradcam-melanoma.png") == 1);
    for (const auto& name : written) {
        CAPTURE(name);
        CHECK_THAT(name, Catch::StartsWith(image.stem().string() + "-gradcam-"));
        CHECK_THAT(r.output, Catch::Contains("): " + (dir / name).string() + "\n"));  // "heat map (<class>): <file>"
        CHECK(png_size(bytes(dir / name)) == std::pair{180, 180});
    }
}

/// The recipe of the cv runs on the tiny datasets: one epoch, batches of 4.
const char* kTiny = R"({"epochs": 1, "batch": 4})";

}  // namespace

TEST_CASE("cv, release and predict --explain on isic-mini: folds, out-of-fold report, model card, heat maps",
          "[examples][melanoma][isic]") {
    const fs::path data = fs::path(EMBER_SHARED_DATA_DIR) / "isic-mini";
    if (ember::test::shared_data_missing(data)) return;
    const fs::path root = fresh_dir("cli-cv-isic"), cv = root / "cv";
    const std::string recipe = recipe_arg("smoke", kOneEpoch);
    const std::string command = "cv " + recipe + " --data " + q(data) + " --folds 2 --limit 16 --out " + q(cv);
    auto r = melanoma(command);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Cross-validation fold 1 of 2: 16 training images, 135 held out") &&
                             Catch::Contains("Cross-validation fold 2 of 2: 16 training images, 135 held out") &&
                             Catch::Contains("Out-of-fold report: 270 images, 2 folds"));
    check_finished_cv(cv);
    // again: both folds are done, and the report is written again, the same (its bootstrap is seeded)
    const std::string report = bytes(cv / "cv_report.json");
    fs::remove(cv / "cv_report.json");
    fs::remove(cv / "oof_predictions.csv");
    r = melanoma(command);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Fold 1 of 2 is done") && Catch::Contains("Fold 2 of 2 is done") &&
                             !Catch::Contains("Epoch ") && Catch::Contains("Out-of-fold report: 270 images, 2 folds"));
    CHECK(bytes(cv / "cv_report.json") == report);
    CHECK(fs::exists(cv / "oof_predictions.csv"));

    // a fold's model scores with a threshold given, not with its placeholder
    const fs::path image = *fs::directory_iterator(data / "Test" / "melanoma");
    r = melanoma("predict --model " + q(cv / "fold-1" / "last.safetensors") + " " + q(image));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("is a cross-validation fold's model") && Catch::Contains("--threshold P"));
    r = melanoma("predict --threshold 0.5 --model " + q(cv / "fold-1" / "last.safetensors") + " " + q(image));
    CHECK(r.code == 0);

    check_release(data, cv, root, recipe);
    check_explain(root / "model" / "ember-melanoma.safetensors", image, root / "heat");
}

TEST_CASE("cv --fold trains that fold alone, a later cv the others, and a class smaller than the folds is named",
          "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-cv-fold");  // 6 + 6 images, and one of a third class
    write_image(root / "Train" / "rare" / "r0.png", 24, 24, 3, 200);
    const std::string cv = "cv " + recipe_arg("tiny", kTiny) + " --data " + q(root) + " --folds 2 --out " + q(root / "cv");
    auto r = melanoma(cv + " --fold 1");
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: class 'rare' has 1 image(s) after deduplication, fewer than the 2 folds: "
                                         "1 fold(s) hold none of it, and its recall rests on 1 image(s)") &&
                             Catch::Contains("== fold 1 of 2") && !Catch::Contains("== fold 2 of 2") &&
                             Catch::Contains("1 of 2 folds are done: the out-of-fold report comes when all are"));
    CHECK(fs::exists(root / "cv" / "fold-1" / "oof.json"));
    CHECK(fs::exists(root / "cv" / "folds.json"));
    CHECK_FALSE(fs::exists(root / "cv" / "fold-2"));
    CHECK_FALSE(fs::exists(root / "cv" / "cv_report.json"));
    r = melanoma(cv + " --fold 3");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --fold 3 of --folds 2"));
    // the same command without --fold trains the fold not yet done, then reports on both
    r = melanoma(cv);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Fold 1 of 2 is done") && Catch::Contains("== fold 2 of 2") &&
                             Catch::Contains("Out-of-fold report: 13 images, 2 folds"));
    const json report = read_json(root / "cv" / "cv_report.json");
    CHECK(report.at("images") == 13);
    CHECK(report.at("figures").contains("recall rare"));
    // a fold trained with another recipe is not pooled with the others
    r = melanoma("cv " + recipe_arg("tiny-other", R"({"epochs": 1, "batch": 4, "lr": 0.002})") + " --data " + q(root) +
                 " --folds 2 --out " + q(root / "cv"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("oof.json was trained with another recipe"));
    // another --folds into the same --out would hold out other images than the folds trained so far
    r = melanoma(cv.substr(0, cv.find(" --folds")) + " --folds 3 --out " + q(root / "cv"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("holds a cross-validation with other folds"));
}

TEST_CASE("cv skips a fold another cv process holds, so that two may run side by side on one --out",
          "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-cv-lock");
    fs::create_directories(root / "cv" / "fold-1");
    const int fd = ::open((root / "cv" / "fold-1" / "lock").c_str(), O_RDWR | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);  // as a cv process training fold 1 holds it
    const auto r = melanoma("cv " + recipe_arg("tiny-lock", kTiny) + " --data " + q(root) + " --folds 2 --out " + q(root / "cv"));
    ::close(fd);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Fold 1 of 2 is being trained by another cv process: skipped") &&
                             Catch::Contains("== fold 2 of 2") && Catch::Contains("1 of 2 folds are done"));
    CHECK_FALSE(fs::exists(root / "cv" / "fold-1" / "oof.json"));
    CHECK(fs::exists(root / "cv" / "fold-2" / "oof.json"));
}

TEST_CASE("cv refuses a recipe that would choose on the held-out fold", "[examples][melanoma][errors]") {
    const fs::path root = tiny_dataset("cli-cv-choosing");
    const std::pair<const char*, const char*> refused[] = {
        {R"({"epochs": 1, "patience": 2})", "\"patience\""},
        {R"({"epochs": 1, "lr_schedule": "plateau"})", "\"lr_schedule\": \"plateau\""},
    };
    int n = 0;
    for (const auto& [fields, what] : refused) {
        const auto r = melanoma("cv " + recipe_arg("choosing-" + std::to_string(n++), fields) + " --data " + q(root) +
                                " --folds 2 --out " + q(root / "cv"));
        CAPTURE(fields);
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains(std::string("error: cross-validation trains each fold for its epochs: ") + what +
                                             " would choose on the held-out fold, whose scores must stay out of fold") &&
                                 !Catch::Contains("Epoch "));
        CHECK_FALSE(fs::exists(root / "cv" / "fold-1" / "oof.json"));
    }
}

TEST_CASE("predict --explain into a folder that cannot be made fails before any work", "[examples][melanoma][errors]") {
    const fs::path root = fresh_dir("cli-explain-unwritable");
    write_text(root / "a-file", "x");
    write_image(root / "lesion.png", 24, 24, 3, 5);
    // the model does not exist either: the folder is refused first, before the model is read
    for (const fs::path& dir : {root / "a-file" / "heat", root / "a-file"}) {
        const auto r = melanoma("predict --model " + q(root / "missing.safetensors") + " --explain " + q(dir) + " " +
                                q(root / "lesion.png"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::StartsWith("error: cannot write to output folder '" + dir.string() + "'") &&
                                 !Catch::Contains("missing.safetensors"));
    }
}

TEST_CASE("predict without --model uses the shipped model, or names it where it is missing", "[examples][melanoma]") {
    const fs::path shipped = fs::path(EMBER_SOURCE_DIR) / "examples" / "melanoma" / "models" / "ember-melanoma.safetensors";
    const fs::path root = fresh_dir("cli-shipped-model");
    write_image(root / "lesion.png", 32, 24, 3, 9);
    const auto r = melanoma("predict " + q(root / "lesion.png"));
    if (fs::is_regular_file(shipped)) {
        CHECK(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("p(melanoma) = ") && Catch::Contains("  1. "));
    } else {
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::StartsWith("error: no --model given, and the shipped model " + shipped.string() +
                                               " is missing"));
    }
}
