// Tests of the melanoma program on the input it is given: bad options, missing, empty and corrupt folders and
// images, no --data; audit, and running without gnuplot.
#include <catch2/catch.hpp>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;

TEST_CASE("melanoma refuses bad options and recipe fields before doing any work", "[examples][melanoma][errors]") {
    const fs::path root = tiny_dataset("cli-options");
    const std::string train = "train --data " + q(root) + " --out " + q(root / "run");
    auto r = melanoma(train + " --epochs 0");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --epochs must be > 0, got 0"));
    r = melanoma(train + " --batch 0");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --batch must be > 0, got 0"));
    // what a recipe holds is checked as the flags were: refused naming the file and the key, before any image is read
    const auto refused_field = [&](const std::string& name, const std::string& fields, const std::string& message) {
        const fs::path recipe = recipe_file(name, fields);
        const auto out = melanoma(train + " --recipe " + q(recipe));
        CAPTURE(fields);
        CHECK(out.code == 2);
        CHECK_THAT(out.output, Catch::Contains("error: recipe '" + recipe.string() + "': " + message) && !Catch::Contains("Found"));
    };
    refused_field("monitor", R"({"monitor": "accuracy"})",
                  "\"monitor\" must be one of val_accuracy | val_balanced_accuracy | val_loss, got \"accuracy\"");
    refused_field("ema", R"({"ema": 1})", "\"ema\" must be in [0, 1) (0: off), got 1");
    refused_field("weight-decay", R"({"weight_decay": -0.1})", "\"weight_decay\" must be finite and >= 0 (0: off), got -0.1");
    refused_field("clipnorm", R"({"global_clipnorm": -1})", "\"global_clipnorm\" must be finite and >= 0 (0: off), got -1");
    for (const char* bad : {"1.5", "-0.1"})
        refused_field(std::string("smoothing") + bad, std::string(R"({"label_smoothing": )") + bad + "}",
                      std::string("\"label_smoothing\" must be in [0, 1] (0: off), got ") + bad);
    for (const char* bad : {"-3", "7"})
        refused_field(std::string("sensitivity") + bad, std::string(R"({"alert_sensitivity": )") + bad + "}",
                      std::string("\"alert_sensitivity\" must be in [0, 1], got ") + bad);
    r = melanoma(train + " " + recipe_arg("hue", R"({"color_jitter": [0.2, 0.2, 0.2, 0.7]})"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: the recipe's \"color_jitter\": ColorJitter: hue must lie in [0, 0.5], got 0.7"));
    CHECK_THAT(r.output, !Catch::Contains("Found"));
    for (const char* bad : {"nan", "-3", "7"}) {  // a probability, never silently the checkpoint's instead
        for (const std::string& cmd : std::vector<std::string>{"predict --model x.safetensors a.png", "evaluate --data " + q(root) + " --model x.safetensors"}) {
            r = melanoma(cmd + " --threshold " + bad);
            CHECK(r.code == 2);
            CHECK_THAT(r.output, Catch::Contains("--threshold: must be in [0, 1], got " + std::string(bad)));
        }
        r = melanoma(train + " --val-split 0 --alert-threshold " + bad);
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("--alert-threshold: must be in [0, 1], got " + std::string(bad)));
    }
    r = melanoma(train + " --loader-threads 0");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("--loader-threads") && !Catch::Contains("Found"));
    // whatever CLI11 rejects is a usage error too (exit 2, not CLI11's own 105, 106, 109, ...); --help is not
    r = melanoma(train + " --no-such-option");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("--no-such-option"));
    r = melanoma("evaluate --data " + q(root) + " --model x.safetensors --threads -1");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("--threads"));
    r = melanoma("evaluate --data " + q(root));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("--model") && Catch::Contains("required"));
    r = melanoma("train --help");
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("--recipe") && !Catch::Contains("--weight-decay"));  // a recipe's field, not a flag
    write_text(root / "a-file", "x");
    r = melanoma("train --data " + q(root) + " --out " + q(root / "a-file" / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: cannot write to output folder '" + (root / "a-file" / "run").string() + "'"));
    CHECK_THAT(r.output, !Catch::Contains("Found"));  // refused before loading data
}

TEST_CASE("melanoma names missing, empty and class-less data folders", "[examples][melanoma][errors]") {
    const fs::path root = fresh_dir("cli-folders");
    auto r = melanoma("train --data " + q(root / "nope") + " --out " + q(root / "run"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: data folder '" + (root / "nope").string() + "' does not exist or is not a directory"));
    fs::create_directories(root / "empty");
    r = melanoma("train --data " + q(root / "empty") + " --out " + q(root / "run"));
    CHECK_THAT(r.output, Catch::Contains("has no class folders"));
    write_image(root / "one" / "melanoma" / "a.png", 8, 8, 3);
    fs::create_directories(root / "one" / "nevus");
    r = melanoma("train --data " + q(root / "one") + " --out " + q(root / "run"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("class folder '" + (root / "one" / "nevus").string() + "' holds no images"));
}

TEST_CASE("melanoma skips corrupt and zero-size images with a warning, or stops with --strict", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-corrupt");
    write_text(root / "Train" / "melanoma" / "broken.jpg", "not a jpeg");
    write_zero_width_png(root / "Train" / "melanoma" / "zero.png");
    write_text(root / "Train" / "melanoma" / "notes.txt", "ignored: not an image extension");
    const fs::path cut = root / "Train" / "melanoma" / "cut.jpg";  // a real JPEG, truncated in its image data
    write_image(cut, 32, 32, 3, 77);
    fs::resize_file(cut, fs::file_size(cut) / 2);
    auto r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: skipped cannot decode '" + cut.string()));
    CHECK_THAT(r.output, Catch::Contains("Found 15 images in 2 classes"));  // 12 good and 3 bad, each named
    CHECK_THAT(r.output, Catch::Contains("warning: skipped cannot decode '" + (root / "Train" / "melanoma" / "broken.jpg").string()));
    CHECK_THAT(r.output, Catch::Contains("warning: skipped cannot decode '" + (root / "Train" / "melanoma" / "zero.png").string()));
    CHECK_THAT(r.output, Catch::Contains("warning: skipped '" + (root / "Train" / "melanoma" / "notes.txt").string() +
                                         "': not an image (.bmp .gif .jpeg .jpg .png)"));
    CHECK(fs::exists(root / "run" / "best.safetensors"));
    CHECK(fs::exists(root / "run" / "history.csv"));
    r = melanoma("train --strict --data " + q(root) + " --epochs 1 --out " + q(root / "run2"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: cannot decode '"));
}

TEST_CASE("without --data, a data/isic folder left by an interrupted download is named, not cloned into", "[examples][melanoma][errors]") {
    const fs::path cwd = fresh_dir("cli-default-data");
    write_text(cwd / "data" / "isic" / "partial", "x");
    const auto r = melanoma("train --epochs 1 --out run", "cd " + q(cwd) + " &&");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: no --data folder given, and data/isic exists but does not hold '") &&
                             Catch::Contains("remove data/isic to fetch the dataset again"));
}

TEST_CASE("audit counts copies within a class, across classes and between Train and Test", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-audit");
    fs::copy_file(root / "Train" / "melanoma" / "m0.png", root / "Train" / "melanoma" / "m0 copy.png");
    fs::copy_file(root / "Train" / "melanoma" / "m1.png", root / "Train" / "benign lesion" / "also m1.png");
    fs::copy_file(root / "Train" / "benign lesion" / "b3.png", root / "Test" / "benign lesion" / "t2.png");
    write_text(root / "Train" / "melanoma" / "notes.txt", "not an image");
    write_image(root / "Train" / "melanoma" / "renamed.png", 24, 24, 3, 55);
    fs::rename(root / "Train" / "melanoma" / "renamed.png", root / "Train" / "melanoma" / "renamed.jpg");  // a PNG named .jpg
    const auto r = melanoma("audit --data " + q(root) + " --out " + q(root / "audit"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: skipped '" + (root / "Train" / "melanoma" / "notes.txt").string() +
                                         "': not an image"));
    CHECK_THAT(r.output, Catch::Contains("Train: identical images within a class:\n  melanoma: 1 extra copies\n"));
    CHECK_THAT(r.output, Catch::Contains("Train: identical images under two classes (contradictory labels):\n  "
                                         "benign lesion / melanoma: 1\n"));
    CHECK_THAT(r.output, Catch::Contains("Test: identical images within a class: none"));
    CHECK_THAT(r.output, Catch::Contains("Test images identical to a Train image (leakage): 1 of 3"));
    CHECK_THAT(r.output, Catch::Contains("Formats (by content): PNG (18)\nFiles whose extension names another format: 1\n"
                                         "Unreadable files: 0") &&
                             Catch::Contains("warning: '" + (root / "Train" / "melanoma" / "renamed.jpg").string() +
                                             "' is a PNG file named .jpg"));
    const std::string report = bytes(root / "audit" / "audit.json");
    CHECK_THAT(report, Catch::Contains("\"test_images_in_train\": 1") && Catch::Contains("\"t2.png\"") &&
                           Catch::Contains("\"benign lesion / melanoma\": 1"));
    const bool plotted = std::system("command -v gnuplot > /dev/null 2>&1") == 0;
    CHECK(fs::exists(root / "audit" / "class_distribution.png") == plotted);
}

TEST_CASE("without gnuplot, audit and train say so once and still write their JSON and CSV", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-no-gnuplot");
    const fs::path empty = fresh_dir("cli-no-gnuplot-path");  // a PATH on which no gnuplot can be found
    const std::string env = "PATH=" + q(empty);
    const std::string note = "note: gnuplot not found (apt-get install gnuplot-nox): plots skipped, CSV/JSON written";
    auto once = [&](const std::string& out) {
        const auto at = out.find(note);
        return at != std::string::npos && out.find(note, at + 1) == std::string::npos;
    };
    auto r = melanoma("audit --data " + q(root) + " --out " + q(root / "audit"), env);
    CHECK(r.code == 0);
    CHECK(once(r.output));
    CHECK_THAT(r.output, Catch::Contains("Wrote \"" + (root / "audit" / "audit.json").string() + "\"\n"));
    CHECK(fs::exists(root / "audit" / "audit.json"));
    r = melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --out " + q(root / "run"), env);
    CHECK(r.code == 0);
    CHECK(once(r.output));
    for (const char* file : {"history.csv", "val_metrics.json", "best.safetensors", "melanoma_roc.csv"})
        CHECK(fs::exists(root / "run" / file));
    for (const auto& entry : fs::directory_iterator(root / "run")) CHECK(entry.path().extension() != ".png");
}
