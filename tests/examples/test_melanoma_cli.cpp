// End-to-end tests of the melanoma program: bad input on generated files, and a short real run on isic-mini.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <ember/vision/color.hpp>
#include <ember/vision/image.hpp>

#include "image_files.hpp"

namespace fs = std::filesystem;
using ember::test::fresh_dir;
using ember::test::write_image;
using ember::test::write_text;

namespace {
struct Run {
    int code = 0;
    std::string output;  // stdout and stderr together
};

/// Runs the program with `args`; `env` ("NAME=value ...") prefixes the command, for its environment.
Run melanoma(const std::string& args, const std::string& env = "") {
    // ctest runs test cases in parallel processes: each run gets its own log file
    static int runs = 0;
    const fs::path log = ember::test::scratch_root() / ("melanoma-cli-" + std::to_string(runs++) + ".log");
    fs::create_directories(log.parent_path());
    const std::string cmd = env + " '" + MELANOMA_BIN + "' " + args + " > '" + log.string() + "' 2>&1";
    const int status = std::system(cmd.c_str());
    Run r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    r.output = ss.str();
    fs::remove(log);
    return r;
}

std::string q(const fs::path& p) { return std::string("'").append(p.string()).append("'"); }

/// Two classes ("benign lesion", "melanoma") of small PNG images.
/// A file's bytes.
std::string bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/// A safetensors checkpoint's tensor bytes: what follows its 8-byte length and JSON header.
std::string tensor_bytes(const std::string& ckpt) {
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(ckpt[static_cast<std::size_t>(i)]);
    return ckpt.substr(8 + n);
}

fs::path tiny_dataset(const std::string& name, int per_class = 6) {
    const fs::path root = fresh_dir(name);
    for (int i = 0; i < per_class; ++i) {
        write_image(root / "Train" / "benign lesion" / std::string("b").append(std::to_string(i)).append(".png"), 24, 20, 3, i);
        write_image(root / "Train" / "melanoma" / std::string("m").append(std::to_string(i)).append(".png"), 20, 24, 3, 100 + i);
    }
    write_image(root / "Test" / "benign lesion" / "t0.png", 24, 24, 3, 7);
    write_image(root / "Test" / "melanoma" / "t1.png", 24, 24, 3, 107);
    return root;
}

/// Two classes a model learns in one epoch: dark "benign lesion" and bright "melanoma" images (a faint diagonal
/// texture each), 6 of each in Train.
fs::path separable_dataset(const std::string& name) {
    const fs::path root = fresh_dir(name);
    const auto write = [](const fs::path& p, int w, int h, int level) {
        std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * 3));
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int c = 0; c < 3; ++c) px[static_cast<std::size_t>((y * w + x) * 3 + c)] = static_cast<std::uint8_t>(level + (x + y) % 7);
        ember::test::write_pixels(p, w, h, 3, px);
    };
    for (int i = 0; i < 6; ++i) {
        write(root / "Train" / "benign lesion" / std::string("b").append(std::to_string(i)).append(".png"), 24, 20, 30 + 3 * i);
        write(root / "Train" / "melanoma" / std::string("m").append(std::to_string(i)).append(".png"), 20, 24, 200 + 3 * i);
    }
    return root;
}

/// A PNG whose header declares a zero width.
void write_zero_width_png(const fs::path& p) {
    const unsigned char bytes[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                   0, 0, 0, 0, 0, 0, 0, 10, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes), sizeof bytes);
}
}  // namespace

TEST_CASE("melanoma refuses bad options before doing any work", "[examples][melanoma][errors]") {
    const fs::path root = tiny_dataset("cli-options");
    auto r = melanoma("train --data " + q(root) + " --epochs 0 --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --epochs must be > 0, got 0"));
    r = melanoma("train --data " + q(root) + " --batch 0 --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --batch must be > 0, got 0"));
    r = melanoma("train --data " + q(root) + " --monitor accuracy --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("--monitor") && Catch::Contains("accuracy not in"));
    r = melanoma("train --data " + q(root) + " --color-jitter 0.2 0.2 0.2 0.7 --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --color-jitter: ColorJitter: hue must lie in [0, 0.5], got 0.7"));
    CHECK_THAT(r.output, !Catch::Contains("Found"));
    r = melanoma("train --data " + q(root) + " --ema 1 --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("--ema") && Catch::Contains("must be in [0, 1) (0: off), got 1"));
    for (const char* bad : {"-0.1", "nan"}) {
        r = melanoma("train --data " + q(root) + " --weight-decay " + bad + " --out " + q(root / "run"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("--weight-decay") && Catch::Contains(std::string("must be finite and >= 0 (0: off), got ") + bad) &&
                                 !Catch::Contains("Found"));
    }
    for (const char* bad : {"-1", "nan", "inf"}) {
        r = melanoma("train --data " + q(root) + " --global-clipnorm " + bad + " --out " + q(root / "run"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("--global-clipnorm") && Catch::Contains(std::string("must be finite and >= 0 (0: off), got ") + bad) &&
                                 !Catch::Contains("Found"));
    }
    for (const char* bad : {"1.5", "-0.1", "nan"}) {
        r = melanoma("train --data " + q(root) + " --label-smoothing " + bad + " --out " + q(root / "run"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("--label-smoothing") &&
                                 Catch::Contains(std::string("must be in [0, 1] (0: off), got ") + bad) && !Catch::Contains("Found"));
    }
    for (const char* bad : {"nan", "-3", "7"}) {  // a probability, never silently the checkpoint's instead
        for (const std::string& cmd : std::vector<std::string>{"predict --model x.safetensors a.png", "evaluate --data " + q(root) + " --model x.safetensors"}) {
            r = melanoma(cmd + " --threshold " + bad);
            CHECK(r.code == 2);
            CHECK_THAT(r.output, Catch::Contains("--threshold: must be in [0, 1], got " + std::string(bad)));
        }
        r = melanoma("train --data " + q(root) + " --alert-sensitivity " + bad + " --out " + q(root / "run"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("--alert-sensitivity: must be in [0, 1], got " + std::string(bad)));
        r = melanoma("train --data " + q(root) + " --val-split 0 --alert-threshold " + bad + " --out " + q(root / "run"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("--alert-threshold: must be in [0, 1], got " + std::string(bad)));
    }
    r = melanoma("train --data " + q(root) + " --loader-threads 0 --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("--loader-threads") && !Catch::Contains("Found"));
    // whatever CLI11 rejects is a usage error too (exit 2, not CLI11's own 105, 106, 109, ...); --help is not
    r = melanoma("train --data " + q(root) + " --no-such-option --out " + q(root / "run"));
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
    CHECK_THAT(r.output, Catch::Contains("--weight-decay"));
    write_text(root / "a-file", "x");
    r = melanoma("train --data " + q(root) + " --out " + q(root / "a-file" / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: cannot write to output folder '" + (root / "a-file" / "run").string() + "'"));
    CHECK_THAT(r.output, !Catch::Contains("Found"));  // refused before loading data
}

TEST_CASE("melanoma warns when --rebalance makes a class out of one lesion's rotations", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-rebalance", 5);
    write_image(root / "Train" / "rare" / "r0.png", 24, 24, 3, 200);
    const auto r = melanoma("train --data " + q(root) + " --epochs 1 --val-split 0 --alert-threshold 0.5 --rebalance 60 --out " +
                            q(root / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: class 'rare' has only 1 training image(s); --rebalance 60 adds "
                                         "copies of them (70% rotated), about 60 of each"));
    CHECK_THAT(r.output, !Catch::Contains("warning: class 'melanoma'") && Catch::Contains("Rebalanced the training side: 11 -> 191"));
}

TEST_CASE("train --extra-train adds another folder to the training side only, without Train's copies", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-extra");
    const fs::path extra = root / "extra";
    write_image(extra / "melanoma" / "e0.png", 24, 24, 3, 150);
    write_image(extra / "melanoma" / "e1.png", 20, 24, 3, 100);  // the same image as Train/melanoma/m0.png
    fs::create_directories(extra / "benign lesion");               // a class without images: allowed
    std::ofstream(extra / "melanoma" / "notes.txt") << "not an image";  // skipped with a warning, as in Train
    auto r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --val-split 0 --alert-threshold 0.5 --rebalance 5 "
                      "--extra-train " + q(extra) + " --out " + q(root / "all"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: --extra-train " + extra.string() +
                                         ": dropped 1 image(s) identical to images of the Train folder") &&
                             Catch::Contains("Extra training images from \"" + extra.string() + "\": 1 (melanoma 1)") &&
                             Catch::Contains("warning: skipped '" + (extra / "melanoma" / "notes.txt").string() +
                                             "': not an image") &&
                             Catch::Contains("Rebalanced the training side: 13 -> 23 images") &&  // the extra image counts
                             Catch::Contains("No validation split (--val-split 0): 23 training images"));
    CHECK_THAT(bytes(root / "all" / "last.safetensors"), Catch::Contains("\\\"folder\\\":"));

    // the validation split is the one Train alone gives: the extra images only join the training side
    r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "plain"));
    REQUIRE(r.code == 0);
    const auto split_line = [](const std::string& out) { return out.substr(out.find("Split ("), out.find('\n', out.find("Split (")) - out.find("Split (")); };
    const std::string plain_split = split_line(r.output);
    r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --extra-train " + q(extra) + " --out " + q(root / "validated"));
    REQUIRE(r.code == 0);
    CHECK(split_line(r.output) == "Split (stratified, seed 123): 11 training, 2 validation images");
    CHECK(plain_split == "Split (stratified, seed 123): 10 training, 2 validation images");
    // evaluate --on validation remakes that split from the Train folder alone: the same report as train's
    const auto report_line = [](const std::string& out) {
        const auto at = out.rfind("\nImages ");
        return at == std::string::npos ? std::string() : out.substr(at + 1, out.find('\n', at + 1) - at - 1);
    };
    const std::string trained_report = report_line(r.output);
    r = melanoma("evaluate --data " + q(root) + " --model " + q(root / "validated" / "best.safetensors") +
                 " --on validation --out " + q(root / "ev-val"));
    REQUIRE(r.code == 0);
    CHECK_THAT(trained_report, Catch::StartsWith("Images 2 "));
    CHECK(report_line(r.output) == trained_report);

    write_image(root / "rare" / "other" / "x.png", 24, 24, 3, 9);
    r = melanoma("train --data " + q(root) + " --epochs 1 --extra-train " + q(root / "rare") + " --out " + q(root / "bad"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --extra-train " + (root / "rare").string() +
                                         ": class folder 'other' is not one of the Train folder's 2 classes"));
    fs::create_directories(root / "empty" / "melanoma");
    r = melanoma("train --data " + q(root) + " --epochs 1 --extra-train " + q(root / "empty") + " --out " + q(root / "bad"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --extra-train " + (root / "empty").string() + ": no images in its class folders"));
    r = melanoma("train --data " + q(root) + " --epochs 1 --extra-train " + q(root / "nope") + " --out " + q(root / "bad"));
    CHECK(r.code != 0);
    CHECK_THAT(r.output, Catch::Contains("data folder '" + (root / "nope").string() + "' does not exist"));
}

TEST_CASE("train --extra-train with --dedup: an image --dedup dropped does not come back through another folder", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-extra-dedup");
    write_image(root / "Train" / "benign lesion" / "c.png", 20, 24, 3, 100);  // Train/melanoma/m0.png under another class
    const fs::path extra = root / "extra", later = root / "later";
    write_image(extra / "melanoma" / "e0.png", 24, 24, 3, 150);
    write_image(extra / "melanoma" / "e1.png", 20, 24, 3, 100);  // the contradictory image once more
    write_image(later / "melanoma" / "l0.png", 24, 24, 3, 150);  // extra's e0.png
    write_image(later / "benign lesion" / "l1.png", 24, 24, 3, 160);
    auto r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --val-split 0 --alert-threshold 0.5 --dedup "
                      "--extra-train " + q(extra) + " --extra-train " + q(later) + " --out " + q(root / "run"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Deduplicated: dropped 0 same-class copies and 2 images filed under two or more classes "
                                         "(1 distinct); 11 of 13 images remain") &&
                             Catch::Contains("warning: --extra-train " + extra.string() +
                                             ": dropped 1 image(s) identical to images --dedup dropped from the Train folder") &&
                             Catch::Contains("Extra training images from \"" + extra.string() + "\": 1 (melanoma 1)") &&
                             Catch::Contains("warning: --extra-train " + later.string() +
                                             ": dropped 1 image(s) identical to images of the Train folder or an earlier "
                                             "--extra-train folder") &&
                             Catch::Contains("Extra training images from \"" + later.string() + "\": 1 (benign lesion 1)") &&
                             Catch::Contains("No validation split (--val-split 0): 13 training images"));
    // a folder whose every image is a copy adds nothing, and says so
    r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --val-split 0 --alert-threshold 0.5 --dedup "
                 "--extra-train " + q(extra) + " --extra-train " + q(extra) + " --out " + q(root / "twice"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Extra training images from \"" + extra.string() + "\": 0 (all were copies)\n"));
}

TEST_CASE("train --lr-schedule plateau halves the rate after 3 epochs without a better monitored value", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-plateau");
    // a rate too small to change any prediction: validation accuracy stays where epoch 1 put it
    const auto r = melanoma("train --data " + q(root) + " --epochs 5 --batch 4 --lr 1e-12 --lr-schedule plateau --out " +
                            q(root / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Epoch 4: ReduceLROnPlateau reducing learning rate to 5e-13 (no better "
                                         "val_accuracy for 3 epochs)") &&
                             Catch::Contains("Epoch 5/5 (lr 5e-13)") && !Catch::Contains("Epoch 3: ReduceLROnPlateau"));
}

TEST_CASE("melanoma warns when --class-weights gives a nearly empty class a dominating weight", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-weights", 100);
    write_image(root / "Train" / "rare" / "r0.png", 24, 24, 3, 200);
    write_image(root / "Train" / "rare" / "r1.png", 24, 24, 3, 201);
    const auto r = melanoma("train --data " + q(root) + " --epochs 1 --class-weights --out " + q(root / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: class 'rare' has only ") &&
                             Catch::Contains("will dominate the gradient"));
    CHECK_THAT(r.output, !Catch::Contains("warning: class 'melanoma'"));
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

TEST_CASE("train stops at a NaN loss, names the batch and keeps no model it did not save", "[examples][melanoma][errors]") {
    const fs::path root = tiny_dataset("cli-nan");
    // A rate of 1e30 moves every weight by about 1e30 in the first step: the second batch's logits overflow.
    // An earlier run's checkpoint in the same folder must not be reported as kept.
    write_text(root / "run" / "best.safetensors", "an earlier run's");
    auto r = melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --lr 1e30 --out " + q(root / "run"));
    CHECK(r.code == 3);
    CHECK_THAT(r.output, Catch::Contains("error: fit: the loss became nan at epoch 1, batch 2 of ") &&
                             Catch::Contains("; training stopped after 0 complete epochs") &&
                             Catch::Contains("no epoch was saved: no checkpoint written by this run") &&
                             !Catch::Contains("kept"));
    CHECK(bytes(root / "run" / "best.safetensors") == "an earlier run's");
    CHECK_FALSE(fs::exists(root / "run" / "val_metrics.json"));
    // Without validation the last complete epoch is kept, and says where its threshold came from.
    r = melanoma("train --data " + q(root) + " --epochs 2 --batch 32 --lr 1e30 --val-split 0 --alert-threshold 0.4 --out " +
                 q(root / "all"));
    CHECK(r.code == 3);
    CHECK_THAT(r.output, Catch::Contains("at epoch 2, batch 1 of 1; training stopped after 1 complete epoch") &&
                             Catch::Contains("kept " + (root / "all" / "last.safetensors").string() +
                                             ", the last complete epoch (1)"));
    CHECK_THAT(bytes(root / "all" / "last.safetensors"), Catch::Contains("\"alert_threshold_from\":\"--alert-threshold\""));
    // Diverging after a good epoch: with one batch an epoch, a rate of 1e4 leaves epoch 1's training loss (initial
    // weights) finite and blows up later (here epoch 3's validation loss, then epoch 4's training loss; rates
    // 1e3-1e5 all do). Epoch 1 is kept, and its alert threshold is still chosen on validation.
    r = melanoma("train --data " + q(root) + " --epochs 5 --batch 16 --lr 1e4 --threads 1 --out " + q(root / "late"));
    CHECK(r.code == 3);
    CHECK_THAT(r.output, Catch::Contains("error: fit: the loss became ") &&
                             Catch::Contains("kept " + (root / "late" / "best.safetensors").string() +
                                             ", the best epoch before that (1)") &&
                             Catch::Contains("(validation loss not finite: not kept as best)") &&
                             !Catch::Contains("val_loss -nan"));
    CHECK_THAT(bytes(root / "late" / "best.safetensors"), Catch::Contains("\"alert_threshold_from\":\"validation\""));
    CHECK(fs::exists(root / "late" / "val_metrics.json"));
}

TEST_CASE("evaluate and predict use the checkpoint, and truncated checkpoints are refused", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-eval");
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "run")).code == 0);
    const fs::path ckpt = root / "run" / "best.safetensors";
    // a Test class the model does not know is left out, and said so
    write_image(root / "Test" / "unknown" / "u0.png", 24, 24, 3, 9);
    auto r = melanoma("evaluate --data " + q(root) + " --model " + q(ckpt) + " --threads 1 --out " + q(root / "eval"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Melanoma alert (p(melanoma) >= "));
    CHECK_THAT(r.output, Catch::Contains("warning: skipped class folder '" + (root / "Test" / "unknown").string() +
                                         "': not one of the model's 2 classes") &&
                             Catch::Contains("Found 2 images in 2 classes"));
    CHECK(fs::exists(root / "eval" / "metrics.json"));
    CHECK_THAT(bytes(ckpt), Catch::Contains("\"alert_threshold_from\":\"validation\""));
    r = melanoma("predict --model " + q(ckpt) + " --threads 2 " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("p(melanoma) = "));
    // the ranked classes (two here, of a top 3), and the alert line exactly when p(melanoma) reaches the threshold
    r = melanoma("predict --threshold 0 --model " + q(ckpt) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK_THAT(r.output, Catch::Contains("\n  1. ") && Catch::Contains("\n  2. ") && !Catch::Contains("\n  3. ") &&
                             Catch::Contains("\n  all: benign lesion 0.") && Catch::Contains(", melanoma 0.") &&
                             Catch::Contains("(alert threshold 0.000)") &&
                             Catch::Contains("  MELANOMA ALERT: refer this lesion to a dermatologist\n"));
    r = melanoma("predict --threshold 1 --model " + q(ckpt) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK_THAT(r.output, Catch::Contains("(alert threshold 1.000)") && !Catch::Contains("MELANOMA ALERT"));
    r = melanoma("predict --json --threshold 0 --model " + q(ckpt) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK_THAT(r.output, Catch::Contains("\"melanoma_alert\": true"));
    r = melanoma("predict --model " + q(ckpt) + " " + q(root / "missing.png"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: cannot decode '" + (root / "missing.png").string() + "': no such file"));
    // --on validation remakes the split from the Train folder; a folder changed since training is refused.
    r = melanoma("evaluate --data " + q(root) + " --model " + q(ckpt) + " --on validation --out " + q(root / "ev-val"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Validation side of"));
    // An ensemble: a second model trained with another seed on the same split (--split-seed) is judged with the
    // first on validation; one trained on another split is refused.
    const auto ensemble_on_validation = [&](const std::string& run, const std::string& train_flags) {
        REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 " + train_flags + " --out " + q(root / run)).code == 0);
        return melanoma("evaluate --data " + q(root) + " --model " + q(ckpt) + " --model " +
                        q(root / run / "best.safetensors") + " --on validation --out " + q(root / "ev-ens"));
    };
    r = ensemble_on_validation("run2", "--seed 5 --split-seed 123");
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Ensemble of 2 models") && Catch::Contains(" + "));
    r = melanoma("predict --json --model " + q(ckpt) + " --model " + q(root / "run2" / "best.safetensors") + " " +
                 q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("\"melanoma_probability\""));
    r = ensemble_on_validation("run3", "--seed 5");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("was validated on another split") && Catch::Contains("--split-seed"));
    write_image(root / "Train" / "melanoma" / "m-new.png", 20, 24, 3, 99);
    r = melanoma("evaluate --data " + q(root) + " --model " + q(ckpt) + " --on validation --out " + q(root / "ev-val"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("is not the folder the checkpoint was trained on"));
    fs::create_directories(root / "Train" / "nevus");
    write_image(root / "Train" / "nevus" / "n0.png", 20, 24, 3, 98);
    r = melanoma("evaluate --data " + q(root) + " --model " + q(ckpt) + " --on validation --out " + q(root / "ev-val"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("has other class folders than the checkpoint's classes"));
    fs::copy_file(ckpt, root / "cut.safetensors");
    fs::resize_file(root / "cut.safetensors", fs::file_size(ckpt) / 2);
    r = melanoma("predict --model " + q(root / "cut.safetensors") + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("has data offsets outside"));
}

TEST_CASE("train refuses a validation split it cannot choose on, and --limit samples every class", "[examples][melanoma][errors]") {
    const fs::path root = tiny_dataset("cli-small-validation", 1);  // 2 images: a stratified 20% is none
    auto r = melanoma("train --data " + q(root) + " --epochs 1 --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: the validation split is empty (2 images, --val-split 0.2, stratified): "
                                         "nothing to choose the best epoch or the alert threshold on"));
    for (int i = 1; i < 10; ++i)  // 10 benign lesions, 1 melanoma: 20% of each class holds no melanoma
        write_image(root / "Train" / "benign lesion" / std::string("x").append(std::to_string(i)).append(".png"), 24, 20, 3, 10 + i);
    r = melanoma("train --data " + q(root) + " --epochs 1 --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: the validation split (2 images) holds no melanoma image: the alert "
                                         "threshold cannot be chosen on it"));
    CHECK_FALSE(fs::exists(root / "run" / "history.csv"));  // refused before training

    // --limit: a sample of the training side, not its first images (which are one class)
    const fs::path six = tiny_dataset("cli-limit");
    r = melanoma("train --data " + q(six) + " --epochs 1 --batch 4 --limit 4 --class-weights --out " + q(six / "run"));
    REQUIRE(r.code == 0);
    const auto at = r.output.find("Class weights (n / (classes * count)): ");
    REQUIRE(at != std::string::npos);
    std::istringstream weights(r.output.substr(at + 39));
    double benign = 0, malignant = 0;
    weights >> benign >> malignant;
    CHECK(benign > 0);
    CHECK(malignant > 0);
}

TEST_CASE("a run stopped early leaves a checkpoint whose alert threshold was chosen on validation", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-stopped");
    const fs::path ckpt = root / "run" / "best.safetensors";
    // stopped once the first best epoch is saved, long before its 100000 epochs (SIGTERM: a shell's background job
    // ignores SIGINT)
    const std::string cmd = "('" + std::string(MELANOMA_BIN) + "' train --data " + q(root) + " --epochs 100000 --batch 4 --out " +
                            q(root / "run") + " > /dev/null 2>&1 & pid=$!; while [ ! -f " + q(ckpt) +
                            " ] && kill -0 $pid 2>/dev/null; do sleep 0.1; done; kill -TERM $pid; wait $pid) 2> /dev/null";  // (the shell's "Terminated" too)
    std::system(cmd.c_str());
    REQUIRE(fs::exists(ckpt));
    const std::string header = bytes(ckpt).substr(0, 4096);
    CHECK_THAT(header, Catch::Contains("\"alert_threshold_from\":\"validation\""));
    CHECK_FALSE(fs::exists(root / "run" / "val_metrics.json"));  // it did stop before the end
    auto r = melanoma("predict --model " + q(ckpt) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 0);

    // Checkpoints saved before session 19 by such a run held a placeholder, which is refused without --threshold.
    // The same-length edits below keep the header's length and offsets valid.
    const auto edited = [&](const std::string& from, const std::string& to, const std::string& name) {
        std::string b = bytes(ckpt);
        const auto at = b.find(from);
        REQUIRE(at != std::string::npos);
        REQUIRE(from.size() == to.size());
        b.replace(at, from.size(), to);
        std::ofstream(root / name, std::ios::binary) << b;
        return root / name;
    };
    const fs::path stale = edited("\"alert_threshold_from\":\"validation\"", "\"alert_threshold_from\":\"none: stop\"", "stale.safetensors");
    r = melanoma("predict --model " + q(stale) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: checkpoint '" + stale.string() + "' was saved by a training run that "
                                         "stopped before it chose the alert threshold on validation") &&
                             Catch::Contains("give one with --threshold P"));
    r = melanoma("predict --threshold 0.3 --model " + q(stale) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("(alert threshold 0.300)"));
    r = melanoma("evaluate --data " + q(root) + " --model " + q(stale) + " --out " + q(root / "ev"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("give one with --threshold P"));
    // a stored threshold that is not a probability
    const auto t0 = header.find("\"alert_threshold\":\"") + 19;
    const std::string value = header.substr(t0, header.find('"', t0) - t0);
    REQUIRE(value.size() >= 3);
    const fs::path nan = edited("\"alert_threshold\":\"" + value + "\"", "\"alert_threshold\":\"nan" + std::string(value.size() - 3, ' ') + "\"",
                                "nan.safetensors");
    r = melanoma("predict --model " + q(nan) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: checkpoint '" + nan.string() + "': its alert_threshold 'nan") &&
                             Catch::Contains("is not a probability in [0, 1]"));
}

TEST_CASE("without --data, a data/isic folder left by an interrupted download is named, not cloned into", "[examples][melanoma][errors]") {
    const fs::path cwd = fresh_dir("cli-default-data");
    write_text(cwd / "data" / "isic" / "partial", "x");
    const auto r = melanoma("train --epochs 1 --out run", "cd " + q(cwd) + " &&");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: no --data folder given, and data/isic exists but does not hold '") &&
                             Catch::Contains("remove data/isic to fetch the dataset again"));
}

TEST_CASE("a dataset folder without Test, and classes without a melanoma", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-train-only");
    fs::remove_all(root / "Test");
    auto r = melanoma("audit --data " + q(root) + " --out " + q(root / "audit"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Train\n") && !Catch::Contains("Test") && !Catch::Contains("skipped class folder"));
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "run")).code == 0);
    r = melanoma("evaluate --data " + q(root) + " --model " + q(root / "run" / "best.safetensors") + " --out " + q(root / "ev"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: data folder '" + root.string() + "' holds a Train folder but no Test folder"));
    // a folder without melanoma images: the alert has no sensitivity to report, and says so rather than 0
    fs::create_directories(root / "benign only");
    fs::copy(root / "Train" / "benign lesion", root / "benign only" / "benign lesion");
    r = melanoma("evaluate --data " + q(root / "benign only") + " --model " + q(root / "run" / "best.safetensors") +
                 " --out " + q(root / "ev"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("): sensitivity n/a (no such images), specificity ") && Catch::Contains("/6)\n") &&
                             Catch::Contains("confidence intervals: sensitivity n/a, specificity ") &&
                             Catch::Contains("Melanoma by arg-max: recall n/a, specificity "));
    CHECK_THAT(bytes(root / "ev" / "metrics.json"), Catch::Contains("\"sensitivity\": null") &&
                                                      Catch::Contains("\"sensitivity_ci95\": null"));

    // no class is named exactly "melanoma": said at training, and predict reports no melanoma probability
    const fs::path other = fresh_dir("cli-no-melanoma");
    for (int i = 0; i < 6; ++i) {
        write_image(other / "Train" / "benign" / std::string("b").append(std::to_string(i)).append(".png"), 24, 20, 3, i);
        write_image(other / "Train" / "Melanoma" / std::string("m").append(std::to_string(i)).append(".png"), 20, 24, 3, 100 + i);
    }
    r = melanoma("train --data " + q(other) + " --epochs 1 --batch 4 --out " + q(other / "run"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: no class folder is named 'melanoma' (the names are matched exactly): "
                                         "there will be no melanoma alert"));
    r = melanoma("predict --json --model " + q(other / "run" / "best.safetensors") + " " + q(other / "Train" / "Melanoma" / "m0.png"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: the model has no class named 'melanoma': no melanoma alert is given") &&
                             Catch::Contains("\"melanoma_probability\": null") && Catch::Contains("\"melanoma_alert\": false"));
    r = melanoma("calibrate --model " + q(other / "run" / "best.safetensors") + " --data " + q(other / "Train"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("has no class named 'melanoma': it has no melanoma alert to calibrate"));
}

TEST_CASE("train --val-split 0 trains on all of Train, keeps the last epoch and the given alert threshold", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-no-validation");
    const std::string base = "train --data " + q(root) + " --epochs 2 --batch 4 --out " + q(root / "run");
    // each refused as a usage error, before any training
    const std::pair<const char*, const char*> refused[] = {
        {" --val-split 0", "error: --val-split 0 leaves no validation split to choose the melanoma alert threshold on: "
                           "pass --alert-threshold P in [0, 1]"},
        {" --alert-threshold 0.3", "error: --alert-threshold is for --val-split 0"},
        {" --val-split 0 --alert-threshold 0.3 --patience 2",
         "error: --patience needs a validation split to monitor (--val-split 0 has none)"},
        {" --val-split 0 --alert-threshold 0.3 --monitor val_accuracy",
         "error: --monitor needs a validation split (--val-split 0 has none)"},
        {" --val-split 0 --alert-threshold 0.3 --alert-sensitivity 0.8", "error: --alert-sensitivity needs a validation split"},
        {" --val-split 0 --alert-threshold 0.3 --split-seed 7", "error: --split-seed has nothing to split with --val-split 0"},
        {" --val-split 0 --alert-threshold 0.3 --lr-schedule plateau",
         "error: --lr-schedule plateau needs a validation split to monitor (--val-split 0 has none)"},
        {" --val-split -0.1 --alert-threshold 0.3", "error: --val-split must be in [0, 1)"},
    };
    Run r;
    for (const auto& [flags, message] : refused) {
        r = melanoma(base + flags);
        CAPTURE(flags);
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains(message));
    }
    CHECK_FALSE(fs::exists(root / "run" / "history.csv"));  // all refused before training

    r = melanoma(base + " --val-split 0 --alert-threshold 0.3");
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("No validation split (--val-split 0): 12 training images"));
    CHECK_THAT(r.output, !Catch::Contains("val_acc"));
    CHECK(fs::exists(root / "run" / "last.safetensors"));
    CHECK_FALSE(fs::exists(root / "run" / "best.safetensors"));
    CHECK_FALSE(fs::exists(root / "run" / "val_metrics.json"));
    // the closing line names curves.png exactly when the last epoch drew it
    const bool curves_named = r.output.find("history.csv, curves.png") != std::string::npos;
    CHECK(curves_named == fs::exists(root / "run" / "curves.png"));
    if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) CHECK(curves_named);
    std::ifstream history(root / "run" / "history.csv");
    std::string line;
    int rows = 0;
    std::getline(history, line);
    while (std::getline(history, line)) {
        ++rows;
        CHECK_THAT(line, Catch::Contains(",,,"));  // no validation figures
    }
    CHECK(rows == 2);
    const std::string ckpt = bytes(root / "run" / "last.safetensors");
    CHECK_THAT(ckpt, Catch::Contains("\"alert_threshold\":\"0.3\"") &&
                         Catch::Contains("\"alert_threshold_from\":\"--alert-threshold\"") &&
                         Catch::Contains("\"epoch\":\"2\"") && Catch::Contains("\"val_split\":\"0\""));
    // Test is scored with the given threshold; there is no validation side to study it on
    const fs::path last = root / "run" / "last.safetensors";
    r = melanoma("evaluate --data " + q(root) + " --model " + q(last) + " --out " + q(root / "eval"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Melanoma alert (p(melanoma) >= 0.3"));
    CHECK_THAT(ckpt, Catch::Contains("\"alert_threshold_tta\":\"\""));  // given by hand: for no scores in particular
    r = melanoma("evaluate --data " + q(root) + " --model " + q(last) + " --tta flips --out " + q(root / "eval-flips"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, !Catch::Contains("warning: the alert threshold"));
    r = melanoma("evaluate --data " + q(root) + " --model " + q(last) + " --on validation --out " + q(root / "ev-val"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: evaluate --on validation: \"" + last.string() +
                                         "\" was trained on all of Train (--val-split 0): it has no validation split"));
    r = melanoma("calibrate --validation " + q(root) + " --model " + q(last));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: calibrate --validation: \"" + last.string() +
                                         "\" was trained on all of Train (--val-split 0): it has no validation split; "
                                         "give --data folders instead"));
    // the same for an ensemble member, named, and before any output folder is made
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "validated")).code == 0);
    r = melanoma("evaluate --data " + q(root) + " --model " + q(root / "validated" / "best.safetensors") + " --model " +
                 q(last) + " --on validation --out " + q(root / "ev-ens"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("\"" + last.string() + "\" was trained on all of Train"));
    CHECK_FALSE(fs::exists(root / "ev-ens"));
    r = melanoma("evaluate --data " + q(root) + " --model " + q(root / "validated" / "best.safetensors") +
                 " --on validation --val-split 0 --out " + q(root / "ev-ens"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("--val-split") && Catch::Contains("must be in (0, 1), got 0"));
    // a run folder reused across modes: the other mode's model is named as not this run's
    r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --val-split 0 --alert-threshold 0.3 --out " +
                 q(root / "validated"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: \"" + (root / "validated" / "best.safetensors").string() +
                                         "\" is from an earlier run with validation, not from this one"));
}

TEST_CASE("evaluate writes every image's prediction and the melanoma ROC curve", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-details");
    for (int i = 0; i < 6; ++i)  // a class name that needs quoting in CSV
        write_image(root / "Train" / "nevus, atypical" / std::string("n").append(std::to_string(i)).append(".png"), 22, 22, 3, 300 + i);
    write_image(root / "Test" / "nevus, atypical" / "t2.png", 24, 24, 3, 307);
    fs::create_directories(root / "run");
    std::ofstream(root / "run" / "curves.png") << "an older run's curves";
    const auto trained = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "run"));
    REQUIRE(trained.code == 0);
    CHECK(fs::exists(root / "run" / "predictions.csv"));  // train: on the validation split
    CHECK_FALSE(fs::exists(root / "run" / "curves.png"));  // one epoch draws no curve, claims none, leaves no older one
    CHECK_THAT(trained.output, Catch::Contains("history.csv; on the validation split val_metrics.json, predictions.csv"));
    const auto r = melanoma("evaluate --data " + q(root) + " --model " + q(root / "run" / "best.safetensors") +
                            " --threshold 0 --out " + q(root / "eval"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Melanoma ROC AUC (p(melanoma), melanoma against the rest): "));
    // threshold 0: every image alerts, so sensitivity is 1/1 and specificity 0/2, with Wilson's intervals
    CHECK_THAT(r.output, Catch::Contains("sensitivity 1.000 (1/1), specificity 0.000 (0/2)"));
    CHECK_THAT(r.output, Catch::Contains("  95% confidence intervals: sensitivity 0.207-1.000, specificity 0.000-0.658"));
    CHECK_THAT(r.output, Catch::Contains("  95% confidence interval (Wilson): accuracy "));
    std::ifstream csv(root / "eval" / "predictions.csv");
    std::vector<std::string> lines;
    for (std::string line; std::getline(csv, line);) lines.push_back(line);
    REQUIRE(lines.size() == 4);  // a header and the three Test images
    CHECK(lines[0] == "image,true_class,predicted_class,melanoma_alert,p_benign lesion,p_melanoma,\"p_nevus, atypical\"");
    CHECK(lines[1].rfind((root / "Test" / "benign lesion" / "t0.png").string() + ",benign lesion,", 0) == 0);
    CHECK(lines[3].rfind("\"" + (root / "Test" / "nevus, atypical" / "t2.png").string() + "\",\"nevus, atypical\",", 0) == 0);
    for (std::size_t i = 1; i < lines.size(); ++i) {  // threshold 0: every alert fires; probabilities sum to 1
        std::string field;
        std::vector<std::string> fields;
        bool quoted = false;
        for (const char ch : lines[i] + ",") {
            if (ch == '"') quoted = !quoted;
            else if (ch == ',' && !quoted) fields.push_back(std::exchange(field, ""));
            else field += ch;
        }
        REQUIRE(fields.size() == 7);
        CHECK(fields[3] == "1");
        CHECK(std::stod(fields[4]) + std::stod(fields[5]) + std::stod(fields[6]) == Approx(1.0).epsilon(1e-5));
    }
    if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) {  // plots into a folder whose name has a quote
        const fs::path odd = root / "it's here";  // quoted for the shell below with double quotes
        const auto drawn = melanoma("evaluate --data " + q(root) + " --model " + q(root / "run" / "best.safetensors") +
                                    " --out " + "\"" + odd.string() + "\"");
        REQUIRE(drawn.code == 0);
        CHECK(fs::exists(odd / "confusion_matrix.png"));
        CHECK(fs::exists(odd / "melanoma_roc.png"));
        CHECK_THAT(drawn.output, Catch::Contains("Wrote metrics.json, confusion_matrix.txt, predictions.csv, "
                                                 "confusion_matrix.png, melanoma_roc.csv, melanoma_roc.png in "));
    } else {
        WARN("gnuplot not installed: the plots into a folder named with quotes are not checked");
    }
    std::ifstream roc(root / "eval" / "melanoma_roc.csv");
    std::string header, last;
    std::getline(roc, header);
    CHECK(header == "threshold,false_positive_rate,true_positive_rate");
    for (std::string line; std::getline(roc, line);) last = line;
    CHECK(last.substr(last.find(',')) == ",1,1");
}

/// The p(melanoma) column (the last of two classes) and who is truly melanoma, from a predictions.csv of a
/// two-class model (benign lesion, melanoma) whose paths need no quoting.
void read_melanoma_scores(const fs::path& csv, std::vector<double>& score, std::vector<bool>& melanoma) {
    std::ifstream in(csv);
    std::string line;
    REQUIRE(std::getline(in, line));
    while (std::getline(in, line)) {
        std::vector<std::string> fields;
        std::stringstream ss(line);
        for (std::string f; std::getline(ss, f, ',');) fields.push_back(f);
        REQUIRE(fields.size() == 6);
        score.push_back(std::stod(fields[5]));
        melanoma.push_back(fields[1] == "melanoma");
    }
}

TEST_CASE("calibrate chooses the alert threshold on sources pooled and saves it into a copy of the checkpoint", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-calibrate", 10);
    const fs::path extra = root / "extra";  // another labelled source: 5 images of each class
    for (int i = 0; i < 5; ++i) {
        write_image(extra / "benign lesion" / std::string("b").append(std::to_string(i)).append(".png"), 22, 26, 3, 500 + i);
        write_image(extra / "melanoma" / std::string("m").append(std::to_string(i)).append(".png"), 26, 22, 3, 600 + i);
    }
    const fs::path trained_on = root / "more";  // an --extra-train folder: its scores would flatter the alert
    write_image(trained_on / "melanoma" / "x0.png", 24, 24, 3, 700);
    const fs::path trained_copy = root / "more-copy";  // the same images elsewhere: found by what it holds
    fs::create_directories(trained_copy);
    fs::copy(trained_on, trained_copy, fs::copy_options::recursive);
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --extra-train " + q(trained_on) + " --out " +
                     q(root / "run")).code == 0);
    const fs::path ckpt = root / "run" / "best.safetensors", saved = root / "calibrated.safetensors";
    auto r = melanoma("calibrate --model " + q(ckpt) + " --validation " + q(root) + " --data " + q(extra) +
                      " --alert-sensitivity 0.8 --save " + q(saved));
    REQUIRE(r.code == 0);
    // the validation side holds 4 images, 2 of them melanomas, extra 5 of 10: 6 of the 7 melanomas must alert
    CHECK_THAT(r.output, Catch::Contains("validation side of " + (root / "Train").string() + ": 4 images, 2 melanomas; alone it would choose ") &&
                             Catch::Contains(extra.string() + ": 10 images, 5 melanomas; alone it would choose ") &&
                             Catch::Contains("Alert threshold for melanoma sensitivity >= 0.8 on the 14 images pooled (7 melanomas): ") &&
                             Catch::Contains("  pooled: sensitivity 0.857 (6/7), specificity "));

    // the same threshold from evaluate's scores of each source, pooled here by the rule of threshold_for_sensitivity
    REQUIRE(melanoma("evaluate --on validation --data " + q(root) + " --model " + q(ckpt) + " --out " + q(root / "v")).code == 0);
    REQUIRE(melanoma("evaluate --data " + q(extra) + " --model " + q(ckpt) + " --out " + q(root / "x")).code == 0);
    std::vector<double> score;
    std::vector<bool> is_melanoma;
    read_melanoma_scores(root / "v" / "predictions.csv", score, is_melanoma);
    read_melanoma_scores(root / "x" / "predictions.csv", score, is_melanoma);
    REQUIRE(score.size() == 14);
    std::vector<double> positives;
    for (std::size_t i = 0; i < score.size(); ++i)
        if (is_melanoma[i]) positives.push_back(score[i]);
    std::sort(positives.begin(), positives.end(), std::greater<>());
    const double sixth = positives[5];
    double below = -1;
    for (const double v : score)
        if (v < sixth) below = std::max(below, v);
    REQUIRE(below >= 0);
    const std::string header = bytes(saved).substr(0, 4096);
    const auto at = header.find("\"alert_threshold\":\"");
    REQUIRE(at != std::string::npos);
    const double stored = std::stod(header.substr(at + 19));
    CHECK(stored == Approx((below + sixth) / 2).margin(1e-8));
    CHECK_THAT(r.output, Catch::Contains("on the 14 images pooled (7 melanomas): " + header.substr(at + 19, header.find('"', at + 19) - at - 19) + "\n"));

    // the copy: the same weights, the new threshold and where it came from; evaluate uses it
    CHECK(tensor_bytes(bytes(saved)) == tensor_bytes(bytes(ckpt)));
    CHECK_THAT(header, Catch::Contains("\"alert_threshold_from\":\"calibrate: melanoma sensitivity >= 0.8 on validation side of ") &&
                           Catch::Contains(" (10 images, 5 melanomas), scored without test-time augmentation\"") &&
                           Catch::Contains("\"alert_calibration\":\"[{\\\"fn\\\":"));
    r = melanoma("evaluate --data " + q(extra) + " --model " + q(saved) + " --out " + q(root / "x2"));
    REQUIRE(r.code == 0);
    std::ostringstream shown;
    shown << std::fixed << std::setprecision(3) << stored;
    CHECK_THAT(r.output, Catch::Contains("Melanoma alert (p(melanoma) >= " + shown.str() + ")"));
    CHECK_THAT(r.output, !Catch::Contains("warning: the alert threshold"));

    // test-time flips: calibrate --tta flips chooses on the flipped scores, the threshold evaluate --on validation
    // --tta flips reports for them; a stored threshold used on scores of another augmentation is warned about
    const fs::path flipped = root / "calibrated-flips.safetensors";
    r = melanoma("calibrate --model " + q(ckpt) + " --validation " + q(root) + " --tta flips --save " + q(flipped));
    REQUIRE(r.code == 0);
    const auto on_split = melanoma("evaluate --on validation --data " + q(root) + " --model " + q(ckpt) +
                                   " --tta flips --out " + q(root / "vf"));
    REQUIRE(on_split.code == 0);
    const std::string said = "on this split: ";
    const auto from = on_split.output.find(said);
    REQUIRE(from != std::string::npos);
    const std::string flips_threshold = on_split.output.substr(from + said.size(), on_split.output.find(' ', from + said.size()) - from - said.size());
    CHECK_THAT(r.output, Catch::Contains("on the 4 images pooled (2 melanomas): " + flips_threshold + "\n"));
    const std::string flipped_header = bytes(flipped).substr(0, 4096);
    CHECK_THAT(flipped_header, Catch::Contains("\"alert_threshold\":\"" + flips_threshold + "\"") &&
                                   Catch::Contains("\"alert_threshold_tta\":\"flips\"") &&
                                   Catch::Contains(", scored with test-time augmentation flips\""));
    CHECK_THAT(header, Catch::Contains("\"alert_threshold_tta\":\"none\""));
    CHECK_THAT(bytes(ckpt).substr(0, 4096), Catch::Contains("\"alert_threshold_tta\":\"none\""));  // train's
    const std::string mismatch = ": its melanoma sensitivity may differ from the one it was chosen for (choose one for "
                                 "these scores with calibrate --tta ";
    r = melanoma("evaluate --data " + q(extra) + " --model " + q(saved) + " --tta flips --out " + q(root / "x3"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: the alert threshold of \"" + saved.string() + "\" was chosen on scores "
                                         "without test-time augmentation, these are scored with --tta flips" + mismatch + "flips"));
    r = melanoma("evaluate --data " + q(extra) + " --model " + q(flipped) + " --out " + q(root / "x4"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("was chosen on scores with --tta flips, these are scored without it" + mismatch + "none"));
    r = melanoma("evaluate --data " + q(extra) + " --model " + q(flipped) + " --tta flips --out " + q(root / "x5"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, !Catch::Contains("warning: the alert threshold"));
    const std::string image = q(extra / "melanoma" / "m0.png");
    r = melanoma("predict --tta flips --model " + q(ckpt) + " " + image);
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("was chosen on scores without test-time augmentation, these are scored with --tta flips"));
    r = melanoma("predict --tta flips --threshold 0.5 --model " + q(ckpt) + " " + image);  // a threshold given: no warning
    CHECK(r.code == 0);
    CHECK_THAT(r.output, !Catch::Contains("warning: the alert threshold"));

    // without --save it only reports; with no source, a source given twice or no melanoma, a clear refusal
    r = melanoma("calibrate --model " + q(ckpt) + " --data " + q(extra));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Pass it to evaluate/predict with --threshold "));
    r = melanoma("calibrate --model " + q(ckpt));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: calibrate: nothing to choose the threshold on: give --validation DATASET"));
    r = melanoma("calibrate --model " + q(ckpt) + " --data " + q(extra) + " --data " + q(root / "extra" / ".." / "extra"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("is given twice: its images would count twice"));
    const std::pair<std::string, std::string> refused[] = {
        {" --data " + q(extra) + " --save " + q(root), "error: calibrate: --save \"" + root.string() + "\" is a folder: give the checkpoint file to write"},
        {" --data " + q(extra) + " --save " + q(ckpt), " is --model itself: write the calibrated copy beside it"},
        {" --data " + q(trained_on), " was on the checkpoint's training side (--extra-train \"" + trained_on.string() + "\"): its scores would flatter the alert"},
        {" --validation " + q(root) + " --data " + q(root / "Train"), " is the Train folder the checkpoint was trained on"},
        {" --data " + q(root / "Train"), " is the Train folder the checkpoint was trained on"},  // found by its images
        {" --data " + q(trained_copy), " was on the checkpoint's training side (--extra-train "},
        {" --data " + q(root), " is a dataset folder (it holds Train or Test), not a folder of class folders: give --validation"},
    };
    const std::string before = bytes(ckpt);
    for (const auto& [args, message] : refused) {
        INFO(args);
        r = melanoma("calibrate --model " + q(ckpt) + args);
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains(message));
    }
    CHECK(bytes(ckpt) == before);  // --save onto --model was refused: the run keeps its threshold
    fs::remove_all(extra / "melanoma");
    r = melanoma("calibrate --model " + q(ckpt) + " --data " + q(extra));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: calibrate: none of the 5 images is labelled 'melanoma': a sensitivity cannot be reached on them"));
}

TEST_CASE("calibrate --cast-copy pools the validation side under a colour cast, as a cast copy given with --data", "[examples][melanoma]") {
    // with --dedup the validation side is split from what deduplication keeps: the cast must be put on those images
    for (const std::string dedup : {"", " --dedup"}) {
        INFO("train" << dedup);
        const fs::path root = tiny_dataset(dedup.empty() ? "cli-cast" : "cli-cast-dedup", 10);
        if (!dedup.empty()) {  // a copy under both classes (both dropped, first in their folders) and a later copy
            fs::copy_file(root / "Train" / "melanoma" / "m0.png", root / "Train" / "benign lesion" / "a0.png");
            fs::copy_file(root / "Train" / "melanoma" / "m0.png", root / "Train" / "melanoma" / "a0.png");
            fs::copy_file(root / "Train" / "benign lesion" / "b1.png", root / "Train" / "benign lesion" / "b1c.png");
        }
        const auto trained = melanoma("train --data " + q(root) + " --epochs 1 --batch 4" + dedup + " --out " + q(root / "run"));
        REQUIRE(trained.code == 0);
        if (!dedup.empty()) CHECK_THAT(trained.output, Catch::Contains("Deduplicated: dropped ") && Catch::Contains("; 19 of 23 images remain"));
        const fs::path ckpt = root / "run" / "best.safetensors";
        // the cast copy as tools/cast_copy.cpp writes it: each validation image at the model's size, cast, as PNG
        REQUIRE(melanoma("evaluate --on validation --data " + q(root) + " --model " + q(ckpt) + " --out " + q(root / "v")).code == 0);
        std::ifstream in(root / "v" / "predictions.csv");
        std::string line;
        REQUIRE(std::getline(in, line));
        int copied = 0, melanomas = 0;
        while (std::getline(in, line)) {
            const std::string image = line.substr(0, line.find(',')), rest = line.substr(line.find(',') + 1);
            const std::string label = rest.substr(0, rest.find(','));
            auto img = ember::vision::resize_bilinear_u8(ember::vision::decode_image(image), 180, 180);
            ember::vision::apply_channel_gains(img.pixels.data(), img.pixels.size() / 3, {0.9, 1.05, 1.2});
            ember::test::write_pixels(root / "cast" / label / (fs::path(image).stem().string() + ".png"), img.width, img.height, 3,
                                      img.pixels);
            ++copied;
            melanomas += label == "melanoma";
        }
        REQUIRE(copied >= 3);
        REQUIRE(melanomas >= 1);
        const std::string counts = std::to_string(copied) + " images, " + std::to_string(melanomas) + " melanomas";
        const auto chosen = [](const std::string& output) {  // the pooled threshold calibrate prints
            const std::string said = "melanomas): ";
            const auto at = output.find(said);
            return at == std::string::npos ? std::string("none") : output.substr(at + said.size(), output.find('\n', at) - at - said.size());
        };
        auto in_memory = melanoma("calibrate --model " + q(ckpt) + " --validation " + q(root) + " --cast-copy 0.9 1.05 1.2 --save " +
                                  q(root / "cast.safetensors"));
        auto on_disk = melanoma("calibrate --model " + q(ckpt) + " --validation " + q(root) + " --data " + q(root / "cast"));
        REQUIRE(in_memory.code == 0);
        REQUIRE(on_disk.code == 0);
        const std::string validation = "validation side of " + (root / "Train").string();
        const std::string cast = validation + " under the gains R 0.9, G 1.05, B 1.2";
        CHECK_THAT(in_memory.output, Catch::Contains(cast + ": " + counts + "; alone it would choose ") &&
                                         Catch::Contains("on the " + std::to_string(2 * copied) + " images pooled (" +
                                                         std::to_string(2 * melanomas) + " melanomas): "));
        CHECK(chosen(in_memory.output) != "none");
        CHECK(chosen(in_memory.output) == chosen(on_disk.output));
        // the cast reaches the model: the same images without it score otherwise
        const auto alone = [&](const std::string& source) {  // the threshold one source alone would choose
            const std::string said = source + ": " + counts + "; alone it would choose ";
            const auto at = in_memory.output.find(said);
            return at == std::string::npos ? std::string("none")
                                           : in_memory.output.substr(at + said.size(), in_memory.output.find('\n', at) - at - said.size());
        };
        CHECK(alone(validation) != "none");
        CHECK(alone(cast) != "none");
        CHECK(alone(validation) != alone(cast));
        // the saved copy records the cast among its sources
        CHECK_THAT(bytes(root / "cast.safetensors").substr(0, 4096),
                   Catch::Contains(" + " + cast + " (" + counts + "), scored without"));
        if (!dedup.empty()) continue;

        const std::pair<std::string, std::string> refused[] = {
            {" --data " + q(root / "cast") + " --cast-copy 0.9 1.05 1.2", "error: calibrate: --cast-copy puts a colour cast on the validation side: give --validation DATASET too"},
            {" --validation " + q(root) + " --cast-copy 0.9 1.05", "--cast-copy"},
            {" --validation " + q(root) + " --cast-copy 0 1 1", "in (0, 10)"},
            {" --validation " + q(root) + " --cast-copy 1 1 10", "in (0, 10)"},
        };
        for (const auto& [args, message] : refused) {
            INFO(args);
            const auto r = melanoma("calibrate --model " + q(ckpt) + args);
            CHECK(r.code != 0);
            CHECK_THAT(r.output, Catch::Contains(message));
        }
    }
}

TEST_CASE("train --color-constancy: evaluate and predict correct images as the checkpoint says", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-color");
    auto r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --color-constancy shades-of-gray --out " + q(root / "sog"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Colour constancy: Shades of Gray, p = 6"));
    const fs::path ckpt = root / "sog" / "best.safetensors";
    r = melanoma("evaluate --data " + q(root) + " --model " + q(ckpt) + " --on validation --out " + q(root / "ev"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Colour constancy: Shades of Gray, p = 6"));
    // predict corrects too: an image under a colour cast (G and B dimmed by exact factors) and the gray image
    // Shades of Gray makes of it (which it leaves alone) reach the model as the same pixels.
    const int w = 16, h = 12;
    std::vector<std::uint8_t> cast, gray;
    for (int i = 0; i < w * h; ++i) {
        const int v = 4 * ((i * 7) % 60 + 2);
        cast.insert(cast.end(), {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v / 2), static_cast<std::uint8_t>(v / 4)});
    }
    gray = cast;
    ember::vision::shades_of_gray(gray.data(), static_cast<std::size_t>(w * h));
    for (std::size_t i = 0; i < gray.size(); i += 3) REQUIRE((gray[i] == gray[i + 1] && gray[i] == gray[i + 2]));
    stbi_write_png((root / "cast.png").string().c_str(), w, h, 3, cast.data(), w * 3);
    stbi_write_png((root / "gray.png").string().c_str(), w, h, 3, gray.data(), w * 3);
    const auto scores = [&](const fs::path& image) {  // the output without its first line, the file name
        const Run p = melanoma("predict --model " + q(ckpt) + " " + q(image));
        CHECK(p.code == 0);
        return p.output.substr(p.output.find('\n') + 1);
    };
    CHECK_THAT(scores(root / "cast.png"), Catch::Contains("p(melanoma) = "));
    CHECK(scores(root / "cast.png") == scores(root / "gray.png"));
    // An ensemble's members must have seen their images the same way.
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "plain")).code == 0);
    r = melanoma("evaluate --data " + q(root) + " --model " + q(ckpt) + " --model " + q(root / "plain" / "best.safetensors"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("with colour constancy 'none'") && Catch::Contains("must see the same images"));
    // calibrate cannot cast images the checkpoint corrects as they are loaded: the cast would come after the correction
    r = melanoma("calibrate --model " + q(ckpt) + " --validation " + q(root) + " --cast-copy 0.9 1.05 1.2");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("corrects colour as images are loaded (shades-of-gray), after which a cast put on "
                                         "them would reach the model uncorrected: write a cast copy with tools/cast_copy.cpp"));
}

TEST_CASE("train --color-jitter, --stretch and --channel-gain: recorded in the checkpoint, and the same seed gives the same weights", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-jitter");
    std::string first;
    // the second run also assembles its batches on three loader threads: the weights must not change
    for (const auto& [run, loader_threads] : {std::pair{"a", "1"}, std::pair{"b", "3"}}) {
        const auto r = melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --augment flip-rotate-zoom "
                                "--color-jitter 0.2 0.2 0.2 0.02 --loader-threads " + loader_threads + " --out " + q(root / run));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("Colour jitter on the training side: brightness 0.2, contrast 0.2, saturation 0.2, hue 0.02"));
        const std::string ckpt = bytes(root / run / "best.safetensors");
        CHECK_THAT(ckpt, Catch::Contains("\"color_jitter\":\"0.2,0.2,0.2,0.02\"") &&
                             Catch::Contains("\"augment\":\"flip-rotate-zoom\""));
        if (first.empty()) first = ckpt;
        else CHECK(ckpt == first);
    }
    // the jitter reaches training: the same seed and geometric augmentation without it give other weights
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --augment flip-rotate-zoom --out " +
                     q(root / "c")).code == 0);
    const std::string plain = bytes(root / "c" / "best.safetensors");
    CHECK_THAT(plain, Catch::Contains("\"color_jitter\":\"none\""));
    CHECK(tensor_bytes(plain).size() == tensor_bytes(first).size());
    CHECK(tensor_bytes(plain) != tensor_bytes(first));
    CHECK_THAT(plain, Catch::Contains("\"stretch\":\"1\""));
    // --stretch reaches training too, folded into the geometric augmentation or on its own
    auto r = melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --augment flip-rotate-zoom --stretch 1.3333 --out " +
                      q(root / "d"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Random horizontal stretch on the training side: width x [0.750019, 1.3333], log-uniform"));
    const std::string stretched = bytes(root / "d" / "best.safetensors");
    CHECK_THAT(stretched, Catch::Contains("\"stretch\":\"1.3333\"") && Catch::Contains("\"augment\":\"flip-rotate-zoom\""));
    CHECK(tensor_bytes(stretched) != tensor_bytes(plain));
    r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --stretch 1.5 --out " + q(root / "e"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Random horizontal stretch on the training side: width x [0.666667, 1.5], log-uniform"));
    CHECK_THAT(bytes(root / "e" / "best.safetensors"), Catch::Contains("\"stretch\":\"1.5\"") && Catch::Contains("\"augment\":\"none\""));
    for (const char* bad : {"0.5", "nan", "inf"}) {
        r = melanoma("train --data " + q(root) + " --stretch " + bad + " --out " + q(root / "f"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("--stretch") && Catch::Contains(std::string("must be finite and >= 1 (1: off), got ") + bad));
    }
    // --channel-gain: a random white balance, recorded, and it reaches training
    CHECK_THAT(plain, Catch::Contains("\"channel_gain\":\"1\""));
    r = melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --augment flip-rotate-zoom --channel-gain 1.25 --out " +
                 q(root / "g"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Random white balance on the training side: R, G, B each x [0.8, 1.25], log-uniform"));
    const std::string balanced = bytes(root / "g" / "best.safetensors");
    CHECK_THAT(balanced, Catch::Contains("\"channel_gain\":\"1.25\""));
    CHECK(tensor_bytes(balanced) != tensor_bytes(plain));
    // --channel-gain 1 is off: the run draws and trains as one without the option
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --augment flip-rotate-zoom --channel-gain 1 --out " +
                     q(root / "h")).code == 0);
    CHECK(tensor_bytes(bytes(root / "h" / "best.safetensors")) == tensor_bytes(plain));
    // after colour constancy the casts would be training's alone: said
    r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --color-constancy shades-of-gray --channel-gain 1.1 --out " +
                 q(root / "i"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: --channel-gain puts casts on images after --color-constancy shades-of-gray"));
    for (const char* bad : {"0.9", "nan", "inf"}) {
        r = melanoma("train --data " + q(root) + " --channel-gain " + bad + " --out " + q(root / "f"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("--channel-gain") && Catch::Contains(std::string("must be finite and >= 1 (1: off), got ") + bad));
    }
}

TEST_CASE("train --weight-decay, --ema and --label-smoothing reach training and are recorded in the checkpoint", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-ema");
    for (const fs::path run : {"validated", "all"}) {
        const auto r = melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --weight-decay 0.004 --ema 0.9 --label-smoothing 0.1 " +
                                (run == "all" ? "--val-split 0 --alert-threshold 0.3 " : "") + "--out " + q(root / run));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("Decoupled weight decay 0.004") &&
                                 Catch::Contains("Weights averaged (EMA, momentum 0.9): validation and checkpoints use the average"));
        const std::string ckpt = bytes(root / run / (run == "all" ? "last.safetensors" : "best.safetensors"));
        CHECK_THAT(ckpt, Catch::Contains("\"weight_decay\":\"0.004\"") && Catch::Contains("\"ema\":\"0.9\""));
        CHECK_THAT(r.output, Catch::Contains(run == "all" ? "Label smoothing 0.1 (target (1 - e) * one-hot + e / 2; training loss)"
                                                          : "Label smoothing 0.1 (target (1 - e) * one-hot + e / 2; training and "
                                                            "validation loss, not the reports' loss)"));
        CHECK_THAT(ckpt, Catch::Contains("\"label_smoothing\":\"0.1\""));
    }
    // the smoothing reaches the loss: without it, the same run ends with other weights
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --weight-decay 0.004 --ema 0.9 --val-split 0 "
                     "--alert-threshold 0.3 --out " + q(root / "unsmoothed")).code == 0);
    const std::string smoothed = tensor_bytes(bytes(root / "all" / "last.safetensors")),
                      plain = tensor_bytes(bytes(root / "unsmoothed" / "last.safetensors"));
    CHECK(smoothed.size() == plain.size());
    CHECK(smoothed != plain);
    // so does the clipping: a global norm of 1e-6 clips every step, and the run ends with other weights
    const auto clipped_run = melanoma("train --data " + q(root) + " --epochs 2 --batch 4 --weight-decay 0.004 --ema 0.9 "
                                      "--val-split 0 --alert-threshold 0.3 --global-clipnorm 1e-06 --out " + q(root / "clipped"));
    REQUIRE(clipped_run.code == 0);
    CHECK_THAT(clipped_run.output, Catch::Contains("Gradients clipped to a global L2 norm of at most 1e-06 (Keras' global_clipnorm)"));
    const std::string clipped_ckpt = bytes(root / "clipped" / "last.safetensors");
    CHECK_THAT(clipped_ckpt, Catch::Contains("\"global_clipnorm\":\"1e-06\""));
    CHECK_THAT(bytes(root / "unsmoothed" / "last.safetensors"), Catch::Contains("\"global_clipnorm\":\"0\""));
    CHECK(tensor_bytes(clipped_ckpt).size() == plain.size());
    CHECK(tensor_bytes(clipped_ckpt) != plain);
}

/// history.csv without its seconds column (the one figure an identical run does not repeat).
std::string history_without_seconds(const fs::path& csv) {
    std::ifstream in(csv);
    std::string line, out;
    while (std::getline(in, line)) {
        std::size_t at = 0;
        for (int comma = 0; comma < 7; ++comma) at = line.find(',', at) + 1;  // the 8th column
        out += line.substr(0, at) + line.substr(line.find(',', at) + 1) + "\n";
    }
    return out;
}

TEST_CASE("train --resume goes on from backup.safetensors as if the run had never stopped", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-resume");
    const std::string base = "train --data " + q(root) + " --batch 4 --augment flip-rotate-zoom --rebalance 2 --threads 1 ";
    const auto same_run = [&](const fs::path& a, const fs::path& b, const char* model) {
        CHECK(bytes(a / model) == bytes(b / model));  // weights and metadata, to the bit
        CHECK(history_without_seconds(a / "history.csv") == history_without_seconds(b / "history.csv"));
    };
    // The alert threshold is set when the run ends: the run folder resumed with another alert option in `flags`
    // ends as a run that had it from the start (`whole`), and says so (`note`).
    const auto resume_with_alert = [&](const std::string& flags, const fs::path& whole, const std::string& note, const char* model) {
        REQUIRE(melanoma(flags + "--out " + q(whole)).code == 0);
        const auto r = melanoma(flags + "--resume --out " + q(root / "run"));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains(note));
        same_run(whole, root / "run", model);
    };
    SECTION("a finished run given more epochs") {
        REQUIRE(melanoma(base + "--epochs 2 --out " + q(root / "whole")).code == 0);
        auto r = melanoma(base + "--epochs 1 --out " + q(root / "run"));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("\"backup.safetensors\" (for --resume)"));
        r = melanoma(base + "--epochs 2 --resume --out " + q(root / "run"));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("The run was started for 1 epoch; it goes on to --epochs 2") &&
                                 Catch::Contains("(1 of 2 epochs done)") && Catch::Contains("Resuming after epoch 1 of 2"));
        same_run(root / "whole", root / "run", "best.safetensors");
        CHECK(bytes(root / "whole" / "val_metrics.json") == bytes(root / "run" / "val_metrics.json"));
        // resumed once more: nothing left to train, the same files
        r = melanoma(base + "--epochs 2 --resume --out " + q(root / "run"));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("nothing left to train"));
        same_run(root / "whole", root / "run", "best.safetensors");
        // another alert sensitivity
        resume_with_alert(base + "--epochs 2 --alert-sensitivity 0.5 ", root / "whole-0.5",
                          "The run was started with --alert-sensitivity 0.9; its model's alert threshold will follow "
                          "--alert-sensitivity 0.5", "best.safetensors");
        CHECK(bytes(root / "whole-0.5" / "val_metrics.json") == bytes(root / "run" / "val_metrics.json"));
        // (this validation split holds one melanoma, so 0.5 and 0.9 give one threshold; the section without
        // validation below shows a resumed run's model taking another one)

        // what is not the same run is refused, naming the option, before any training
        const std::pair<std::string, std::string> refused[] = {
            {"--epochs 2 --lr 0.01", "error: --resume: the run was trained with --lr 0.001, this command has --lr 0.01; "
                                     "resume with the run's options, or train into another --out folder"},
            {"--epochs 2 --seed 7", "the run was trained with --seed 123, this command has --seed 7"},
            {"--epochs 2 --label-smoothing 0.1", "the run was trained with --label-smoothing 0, this command has --label-smoothing 0.1"},
            {"--epochs 2 --channel-gain 1.2", "the run was trained with --channel-gain 1, this command has --channel-gain 1.2"},
            {"--epochs 1", "error: --resume: --epochs 1 is fewer than the 2 epochs the run has done"},
            {"--epochs 2 --lr-schedule cosine", "the run was trained with --lr-schedule constant"},
        };
        const auto refuses = [&](const std::string& flags, const std::string& message) {
            CAPTURE(flags);
            const auto out = melanoma(base + flags + " --resume --out " + q(root / "run"));
            CHECK(out.code == 2);
            CHECK_THAT(out.output, Catch::Contains(message));
            CHECK_THAT(out.output, !Catch::Contains("Epoch "));
        };
        for (const auto& [flags, message] : refused) refuses(flags, message);
        // a backup written before --channel-gain existed does not record it: that run trained without one
        {
            std::string b = bytes(root / "run" / "backup.safetensors");
            const std::string key = "\\\"--channel-gain\\\":\\\"1\\\",";  // inside the escaped run_options
            const auto at = b.find(key);
            REQUIRE(at != std::string::npos);
            b.replace(at, key.size(), std::string(key.size(), ' '));  // the same length: the offsets stay right
            std::ofstream(root / "run" / "backup.safetensors", std::ios::binary) << b;
        }
        r = melanoma(base + "--epochs 2 --resume --out " + q(root / "run"));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("nothing left to train"));
        refuses("--epochs 2 --channel-gain 1.2", "backup.safetensors was written before --channel-gain existed: the run "
                                                 "trained without it (--channel-gain 1), this command has --channel-gain 1.2");
        write_image(root / "Train" / "melanoma" / "m9.png", 20, 24, 3, 109);  // another Train folder
        refuses("--epochs 2", "error: --resume: the Train folder does not hold the images (names and labels) the run in");
        fs::remove(root / "Train" / "melanoma" / "m9.png");
        // a run folder that no longer holds the best epoch's checkpoint
        fs::rename(root / "run" / "best.safetensors", root / "best.safetensors");
        refuses("--epochs 2", "best.safetensors is missing: the run's best epoch");
        // a backup that is not a training state
        fs::copy_file(root / "best.safetensors", root / "run" / "backup.safetensors", fs::copy_options::overwrite_existing);
        refuses("--epochs 2", "backup.safetensors is not a training state written by melanoma train");
        // a new run over an old one's folder says it replaces the backup
        r = melanoma(base + "--epochs 1 --out " + q(root / "run"));
        CHECK(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("backup.safetensors\" is from an earlier run; this run replaces it"));
        // --resume where there is nothing to resume starts the run
        r = melanoma(base + "--epochs 1 --resume --out " + q(root / "new"));
        CHECK(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("backup.safetensors\" to resume from: starting the run from its first epoch"));
    }
    SECTION("a run stopped in the middle, with a cosine schedule, dropout and EMA") {
        const std::string flags = base + "--epochs 4 --lr-schedule cosine --ema 0.9 --label-smoothing 0.1 ";
        REQUIRE(melanoma(flags + "--out " + q(root / "whole")).code == 0);
        const fs::path backup = root / "run" / "backup.safetensors";
        const std::string cmd = "('" + std::string(MELANOMA_BIN) + "' " + flags + "--out " + q(root / "run") +
                                " > /dev/null 2>&1 & pid=$!; while [ ! -f " + q(backup) +
                                " ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done; kill -TERM $pid; wait $pid) 2> /dev/null";
        std::system(cmd.c_str());
        REQUIRE(fs::exists(backup));
        auto r = melanoma(flags + "--resume --out " + q(root / "run"));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("Resuming after epoch"));
        CHECK_THAT(r.output, !Catch::Contains("nothing left to train"));  // it was stopped before its last epoch
        same_run(root / "whole", root / "run", "best.safetensors");
        CHECK(bytes(root / "whole" / "val_metrics.json") == bytes(root / "run" / "val_metrics.json"));
        r = melanoma(base + "--epochs 5 --lr-schedule cosine --ema 0.9 --label-smoothing 0.1 --resume --out " + q(root / "run"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("error: --resume: --lr-schedule cosine decays over --epochs, and the run's 4 "
                                             "epochs followed the curve of --epochs 4, not 5"));
    }
    SECTION("a best checkpoint of a later epoch than the backup's, trained and saved again") {
        // A kill between epoch 2's best checkpoint and its backup: the run folder holds the backup of epoch 1 and
        // the best checkpoint of epoch 2. The resumed run trains epoch 2 again, saves it again, and ends as the
        // uninterrupted run. (On these images the validation loss falls from about 0.89 to 0.57 in epoch 2, so
        // epoch 2 is the best by a wide margin.)
        const fs::path sep = separable_dataset("cli-resume-later");
        const std::string flags = "train --data " + q(sep) + " --batch 4 --threads 1 --monitor val_loss ";
        REQUIRE(melanoma(flags + "--epochs 2 --out " + q(sep / "whole")).code == 0);
        REQUIRE(bytes(sep / "whole" / "best.safetensors").find("\"epoch\":\"2\"") != std::string::npos);
        REQUIRE(melanoma(flags + "--epochs 1 --out " + q(sep / "run")).code == 0);
        fs::copy_file(sep / "whole" / "best.safetensors", sep / "run" / "best.safetensors", fs::copy_options::overwrite_existing);
        const auto r = melanoma(flags + "--epochs 2 --resume --out " + q(sep / "run"));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("(1 of 2 epochs done)") && Catch::Contains("Best epoch 2 by val_loss"));
        same_run(sep / "whole", sep / "run", "best.safetensors");
        CHECK(bytes(sep / "whole" / "val_metrics.json") == bytes(sep / "run" / "val_metrics.json"));
    }
    SECTION("a best checkpoint of a later epoch than the backup's") {
        // A kill between an epoch's best checkpoint and its backup leaves best.safetensors one epoch ahead: the
        // resumed run trains that epoch again and must save it again. Where it does not (here: the file says epoch
        // 2, the run ends at 1), the run refuses to pass the file off as its best epoch.
        REQUIRE(melanoma(base + "--epochs 1 --out " + q(root / "run")).code == 0);
        std::string b = bytes(root / "run" / "best.safetensors");
        const auto at = b.find("\"epoch\":\"1\"");
        REQUIRE(at != std::string::npos);
        b.replace(at, 11, "\"epoch\":\"2\"");  // the same length: the header stays valid
        std::ofstream(root / "run" / "best.safetensors", std::ios::binary) << b;
        const auto r = melanoma(base + "--epochs 1 --resume --out " + q(root / "run"));
        CHECK(r.code == 2);
        CHECK_THAT(r.output, Catch::Contains("error: " + (root / "run" / "best.safetensors").string() +
                                             " holds epoch 2, saved before the run was interrupted, but the resumed "
                                             "run's best epoch is 1, which no file keeps: train this run again without --resume"));
    }
    SECTION("without validation, the last epoch") {
        const std::string flags = base + "--val-split 0 --alert-threshold 0.3 ";
        REQUIRE(melanoma(flags + "--epochs 2 --out " + q(root / "whole")).code == 0);
        REQUIRE(melanoma(flags + "--epochs 1 --out " + q(root / "run")).code == 0);
        const auto r = melanoma(flags + "--epochs 2 --resume --out " + q(root / "run"));
        REQUIRE(r.code == 0);
        same_run(root / "whole", root / "run", "last.safetensors");
        // another given threshold: the model the run keeps carries it
        resume_with_alert(base + "--val-split 0 --alert-threshold 0.4 --epochs 2 ", root / "whole-0.4",
                          "The run was started with --alert-threshold 0.3; its model's alert threshold will follow "
                          "--alert-threshold 0.4", "last.safetensors");
    }
}

TEST_CASE("melanoma end to end on isic-mini: audit, two epochs, evaluate, predict", "[examples][melanoma][isic]") {
    const fs::path data = fs::path(EMBER_SHARED_DATA_DIR) / "isic-mini";
    if (!fs::is_directory(data)) {
        WARN("skipped, no shared data: " << data.string() << " not found (../shared/data is only beside the project checkout)");
        return;
    }
    const fs::path out = fresh_dir("cli-isic");
    auto r = melanoma("audit --data " + q(data) + " --out " + q(out / "audit"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Test images identical to a Train image (leakage): 0 of 54"));
    r = melanoma("train --data " + q(data) + " --epochs 2 --monitor val_balanced_accuracy --dedup --out " + q(out / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Deduplicated: dropped"));
    CHECK_THAT(r.output, Catch::Contains("by val_balanced_accuracy"));
    CHECK_THAT(r.output, Catch::Contains("Total params: 460,585"));
    CHECK_THAT(r.output, Catch::Contains("Epoch 2/2"));
    CHECK(fs::exists(out / "run" / "best.safetensors"));
    // The first line starting with `start` after the line `after` of a report: "Images N  loss L  accuracy A
    // balanced accuracy B", "Melanoma alert (p(melanoma) >= t): sensitivity ...".
    const auto line_after = [](const std::string& text, const std::string& after, const std::string& start) {
        const auto at = text.find(start, text.find(after));
        return at == std::string::npos ? std::string("(none)") : text.substr(at, text.find('\n', at) - at);
    };
    const std::string train_output = r.output, val_report = "Validation split, best checkpoint:";
    CHECK_THAT(line_after(train_output, val_report, "Images "), Catch::StartsWith("Images ") && Catch::Contains(" accuracy "));
    // evaluate --on validation remakes train's split (deduplicated, from the checkpoint's metadata) and scores the
    // checkpoint exactly as train's last report did, the alert included (its threshold is stored exactly, not
    // rounded to 6 decimals).
    r = melanoma("evaluate --data " + q(data) + " --model " + q(out / "run" / "best.safetensors") + " --on validation");
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("stratified split, seed 123, fraction 0.2, deduplicated"));
    for (const std::string start : {"Images ", "Melanoma alert ("})
        CHECK(line_after(r.output, "Evaluation of", start) == line_after(train_output, val_report, start));
    CHECK_THAT(r.output, Catch::Contains("Alert threshold for melanoma sensitivity >= 0.9 on this split: "));
    r = melanoma("evaluate --data " + q(data) + " --model " + q(out / "run" / "best.safetensors") +
                 " --on validation --tta flips");
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("(test-time augmentation: flips)"));
    // train chose the stored threshold on scores without flips: evaluate says so instead of applying it silently
    CHECK_THAT(r.output, Catch::Contains("was chosen on scores without test-time augmentation, these are scored with --tta flips"));
    CHECK(fs::exists(out / "run" / "eval-validation-tta-flips" / "metrics.json"));
    r = melanoma("evaluate --data " + q(data) + " --model " + q(out / "run" / "best.safetensors"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Images 54"));
    r = melanoma("evaluate --data " + q(data) + " --model " + q(out / "run" / "best.safetensors") +
                 " --exclude-copies-of " + q(data / "Train") + " --out " + q(out / "eval-unseen"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Left out 0 of 54 images identical to an image in"));
    r = melanoma("predict --model " + q(out / "run" / "best.safetensors") + " " +
                 q(data / "Test" / "melanoma" / fs::directory_iterator(data / "Test" / "melanoma")->path().filename()));
    CHECK(r.code == 0);
    r = melanoma("predict --tta flips --model " + q(out / "run" / "best.safetensors") + " " +
                 q(data / "Test" / "melanoma" / fs::directory_iterator(data / "Test" / "melanoma")->path().filename()));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("p(melanoma) = "));
}
