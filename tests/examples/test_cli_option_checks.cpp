// Tests of the checks of the melanoma program's numeric options (ranges:: in examples/melanoma/train_options.hpp),
// whether given as flags or as a recipe's fields: every kind of range refuses NaN, infinities and values outside it
// with exit code 2 and a message naming the option (or the recipe file and its key), before any data is read - and
// a --batch larger than the data is capped.
#include <catch2/catch.hpp>

#include <set>

#include "../../examples/melanoma/train_options.hpp"
#include "melanoma_cli.hpp"

using namespace melanoma_cli;

namespace {

/// A --data, --model, recipe and image that do not exist: a check that ran after any of them was read would say so
/// first.
const std::string kNoData = "'/nonexistent/melanoma-data'";
const std::string kNoModel = "'/nonexistent/model.safetensors'";
const std::string kNoRecipe = "'/nonexistent/recipe.json'";

/// Runs `command` with `option value` and checks that it is refused as a usage error with `message` (the whole
/// "error: ..." line but its end), before any file is read or written.
void check_refused(const std::string& command, const std::string& option, const std::string& value, const std::string& message) {
    const Run r = melanoma_cli::melanoma(command + " " + option + " " + value);
    INFO(command << " " << option << " " << value << "\n" << r.output);
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::StartsWith(message));  // the first line: nothing was read, loaded or written before
}

/// The options of train's table that take a number, as flags (`flags`) or as a recipe's keys ("weight_decay").
std::set<std::string> numeric_options(bool flags) {
    std::set<std::string> options;
    for (const auto& o : melanoma::train_options()) {
        if (!o.range.ok || o.scope == (flags ? melanoma::Scope::recipe : melanoma::Scope::flag)) continue;
        std::string name = o.flag;
        if (!flags) {
            name = name.substr(2);
            std::replace(name.begin(), name.end(), '-', '_');
        }
        options.insert(name);
    }
    return options;
}

}  // namespace

TEST_CASE("every numeric option of train's table has a range", "[examples][melanoma][errors]") {
    // the options that take words, paths or nothing; any other option takes a number and must declare its range
    const std::set<std::string> not_numbers{"--recipe",        "--data",    "--out",   "--model",       "--split",
                                            "--augment",       "--color-constancy", "--class-weights", "--dedup",
                                            "--lr-schedule",   "--monitor", "--strict", "--resume"};
    for (const auto& o : melanoma::train_options()) {
        CAPTURE(o.flag);
        CHECK((o.range.ok != nullptr) == (not_numbers.count(o.flag) == 0));
    }
}

TEST_CASE("a range refuses NaN, infinities, what is not a number and what lies outside it", "[examples][melanoma][errors]") {
    namespace ranges = melanoma::ranges;
    using melanoma::refusal;
    CHECK(refusal(ranges::rate, "0.001").empty());
    CHECK(refusal(ranges::rate, "1e30").empty());  // large, but a learning rate (a test diverges with it)
    for (const char* bad : {"inf", "-inf", "nan", "0", "-1", "1e400", "abc", "", "0.1x"})
        CHECK(refusal(ranges::rate, bad) == std::string("must be a finite number > 0, got ") + bad);
    CHECK(refusal(ranges::probability, "0").empty());
    CHECK(refusal(ranges::probability, "1").empty());
    for (const char* bad : {"nan", "inf", "-0.1", "1.5"}) CHECK(refusal(ranges::probability, bad) == std::string("must be in [0, 1], got ") + bad);
    CHECK(refusal(ranges::momentum, "1") == "must be in [0, 1) (0: off), got 1");
    CHECK(refusal(ranges::strength, "inf") == "must be finite and >= 0 (0: off), got inf");
    CHECK(refusal(ranges::ratio, "0.5") == "must be finite and >= 1 (1: off), got 0.5");
    CHECK(refusal(ranges::zoom, "-1").empty());
    CHECK(refusal(ranges::zoom, "1").empty());
    for (const char* bad : {"nan", "-1.5", "2"}) CHECK(refusal(ranges::zoom, bad) == std::string("must be in [-1, 1], got ") + bad);
    CHECK(refusal(ranges::rotation, "nan") == "must be in [0, 1] (of a full turn), got nan");
    // integers: the text must be one, then lie in the range and under the cap
    CHECK(refusal(ranges::batch, "4096").empty());
    CHECK(refusal(ranges::batch, "4097") == "must be <= 4096, got 4097");
    CHECK(refusal(ranges::batch, "0") == "must be > 0, got 0");
    for (const char* bad : {"2.5", "1e3", "inf", "nan", "-", "+"})
        CHECK(refusal(ranges::batch, bad) == std::string("must be an integer > 0, got ") + bad);
    CHECK(refusal(ranges::threads, "0").empty());
    CHECK(refusal(ranges::threads, "1025") == "must be <= 1024, got 1025");
    CHECK(refusal(ranges::seed, "-1") == "must be >= 0, got -1");
    CHECK(refusal(ranges::seed, "18446744073709551615").empty());  // the largest seed
}

TEST_CASE("train refuses every out-of-range number given as a flag before reading any data", "[examples][melanoma][errors]") {
    const std::string train = "train --data " + kNoData + " --out " + q(fresh_dir("cli-checks") / "run");
    std::set<std::string> tried;
    const auto refused = [&](const std::string& command, const std::string& option, const std::string& value,
                             const std::string& message) {
        tried.insert(option);
        check_refused(command, option, value, message);
    };
    for (const char* bad : {"inf", "-inf", "nan", "-1", "0", "1e400"})  // a finite number > 0
        refused(train, "--lr", bad, std::string("error: --lr: must be a finite number > 0, got ") + bad);
    for (const char* bad : {"nan", "inf", "-0.1", "1.5"})  // a probability in [0, 1]
        refused(train + " --val-split 0", "--alert-threshold", bad, std::string("error: --alert-threshold: must be in [0, 1], got ") + bad);
    for (const char* bad : {"1", "nan", "inf", "-0.1"})  // a fraction in [0, 1)
        refused(train, "--val-split", bad,
                std::string("error: --val-split must be in [0, 1) (0: train on all of Train, without validation), got ") + bad);
    // integers > 0 (--epochs and --batch in the wording they always had) and >= 1
    for (const char* option : {"--epochs", "--batch"}) {
        for (const char* bad : {"0", "-1"}) refused(train, option, bad, std::string("error: ") + option + " must be > 0, got " + bad);
        for (const char* bad : {"1.5", "inf", "nan", "1e3"})
            refused(train, option, bad, std::string("error: ") + option + " must be an integer > 0, got " + bad);
    }
    for (const char* bad : {"0", "-1"}) refused(train, "--loader-threads", bad, std::string("error: --loader-threads: must be >= 1, got ") + bad);
    refused(train, "--loader-threads", "inf", "error: --loader-threads: must be an integer >= 1, got inf");
    // integers >= 0 (0: every image / all cores), and the seed
    refused(train, "--limit", "-5", "error: --limit: must be >= 0 (0: every image), got -5");
    refused(train, "--limit", "inf", "error: --limit: must be an integer >= 0 (0: every image), got inf");
    refused(train, "--threads", "-1", "error: --threads: must be >= 0 (0: all cores), got -1");
    refused(train, "--threads", "2.5", "error: --threads: must be an integer >= 0 (0: all cores), got 2.5");
    refused(train, "--seed", "-1", "error: --seed: must be >= 0, got -1");
    refused(train, "--seed", "nan", "error: --seed: must be an integer >= 0, got nan");
    // caps: --batch (memory) and --threads
    for (const char* bad : {"4097", "100000"}) refused(train, "--batch", bad, std::string("error: --batch must be <= 4096, got ") + bad);
    refused(train, "--threads", "1025", "error: --threads: must be <= 1024, got 1025");
    CHECK(tried == numeric_options(true));  // every numeric flag of train
}

TEST_CASE("train refuses every out-of-range number in a recipe before reading any data", "[examples][melanoma][errors]") {
    const std::string train = "train --data " + kNoData + " --out " + q(fresh_dir("cli-recipe-checks") / "run");
    std::set<std::string> tried;
    int files = 0;
    // a recipe holding `key`: `value` (JSON), refused naming the file and the key
    const auto refused = [&](const std::string& key, const std::string& value, const std::string& why) {
        tried.insert(key);
        const fs::path recipe = recipe_file("checks-" + std::to_string(files++), "{\"" + key + "\": " + value + "}");
        check_refused(train, "--recipe", q(recipe), "error: recipe '" + recipe.string() + "': \"" + key + "\" " + why);
    };
    // JSON has no NaN or infinity (1e400 is not valid JSON): the values out of range are finite
    for (const char* bad : {"-1", "0", "-0.5"}) refused("lr", bad, std::string("must be a finite number > 0, got ") + bad);
    for (const char* key : {"weight_decay", "global_clipnorm"})
        for (const char* bad : {"-0.5", "-1"}) refused(key, bad, std::string("must be finite and >= 0 (0: off), got ") + bad);
    for (const char* bad : {"-0.1", "1.5"}) {
        refused("alert_sensitivity", bad, std::string("must be in [0, 1], got ") + bad);
        refused("label_smoothing", bad, std::string("must be in [0, 1] (0: off), got ") + bad);
        refused("rotation", bad, std::string("must be in [0, 1] (of a full turn), got ") + bad);
    }
    for (const char* bad : {"1", "1.0", "-0.1"}) {  // 1.0 is the number 1
        const std::string shown = std::string(bad) == "1.0" ? "1" : bad;
        refused("ema", bad, "must be in [0, 1) (0: off), got " + shown);
        refused("val_split", bad, "must be in [0, 1) (0: train on all of Train, without validation), got " + shown);
    }
    for (const char* bad : {"0.5", "-2"}) refused("stretch", bad, std::string("must be finite and >= 1 (1: off), got ") + bad);
    for (const char* key : {"epochs", "batch"}) {
        for (const char* bad : {"0", "-1"}) refused(key, bad, std::string("must be > 0, got ") + bad);
        refused(key, "1.5", "must be an integer, got 1.5");
    }
    refused("batch", "4097", "must be <= 4096, got 4097");
    for (const char* key : {"patience", "rebalance"}) {
        refused(key, "-1", "must be >= 0 (0: off), got -1");
        refused(key, "2.5", "must be an integer, got 2.5");
    }
    refused("seed", "-1", "is out of range, got -1");  // a seed is unsigned: a negative one is none
    refused("seed", "1.5", "must be an integer, got 1.5");
    // the lists: each number in its range, and as many numbers as the field takes
    const std::pair<const char*, const char*> lists[] = {{"[1.5, 0.2]", "1.5"}, {"[0.2, -2]", "-2"}};
    for (const auto& [bad, number] : lists) refused("zoom", bad, std::string("must be in [-1, 1], got ") + number);
    refused("zoom", "[0.2]", "must be a list of 2 numbers, got [0.2]");
    const std::pair<const char*, const char*> jitters[] = {{"[-0.1, 0.1, 0.1, 0.1]", "-0.1"}, {"[0.1, 0.1, -3, 0.1]", "-3"}};
    for (const auto& [bad, number] : jitters)
        refused("color_jitter", bad, std::string("must be finite and >= 0 (0: off), got ") + number);
    refused("color_jitter", "[0.1, 0.1, 0.1]", "must be a list of 4 numbers, got [0.1,0.1,0.1]");
    CHECK(tried == numeric_options(false));  // every numeric field of a recipe
    // the hue of the jitter must be <= 0.5 (ColorJitter's own check, after the recipe is read, still before the data)
    const fs::path hue = recipe_file("checks-hue", R"({"color_jitter": [0.1, 0.1, 0.1, 0.7]})");
    check_refused(train, "--recipe", q(hue), "error: the recipe's \"color_jitter\": ColorJitter: hue must lie in [0, 0.5], got 0.7");
}

TEST_CASE("evaluate, predict, cv and release refuse every out-of-range number before reading any file", "[examples][melanoma][errors]") {
    const std::string evaluate = "evaluate --data " + kNoData + " --model " + kNoModel;
    const std::string predict = "predict --model " + kNoModel + " '/nonexistent/image.png'";
    const std::string cv = "cv --recipe " + kNoRecipe + " --data " + kNoData + " --out " + q(fresh_dir("cli-checks-cv") / "cv");
    const std::string release = "release --recipe " + kNoRecipe + " --cv '/nonexistent/cv' --data " + kNoData + " --out " +
                                q(fresh_dir("cli-checks-release") / "model");
    for (const char* bad : {"nan", "inf", "-3", "7"}) {
        for (const auto& command : {evaluate, predict})
            check_refused(command, "--threshold", bad, std::string("error: --threshold: must be in [0, 1], got ") + bad);
        check_refused(evaluate, "--alert-sensitivity", bad, std::string("error: --alert-sensitivity: must be in [0, 1], got ") + bad);
    }
    check_refused(evaluate, "--batch", "0", "error: --batch must be > 0, got 0");
    check_refused(evaluate, "--batch", "inf", "error: --batch must be an integer > 0, got inf");
    check_refused(evaluate, "--batch", "100000", "error: --batch must be <= 4096, got 100000");
    for (const auto& command : {evaluate, predict, cv, release}) {
        check_refused(command, "--threads", "-1", "error: --threads: must be >= 0 (0: all cores), got -1");
        check_refused(command, "--threads", "nan", "error: --threads: must be an integer >= 0 (0: all cores), got nan");
        check_refused(command, "--threads", "5000", "error: --threads: must be <= 1024, got 5000");
    }
    for (const auto& command : {cv, release}) {
        check_refused(command, "--loader-threads", "0", "error: --loader-threads: must be >= 1, got 0");
        check_refused(command, "--loader-threads", "inf", "error: --loader-threads: must be an integer >= 1, got inf");
        check_refused(command, "--limit", "-5", "error: --limit: must be >= 0 (0: every image), got -5");
        check_refused(command, "--limit", "2.5", "error: --limit: must be an integer >= 0 (0: every image), got 2.5");
    }
    // cv's folds: at least 2, at most 100; --fold counts from 1
    for (const char* bad : {"1", "0", "-2"}) check_refused(cv, "--folds", bad, std::string("error: --folds: must be >= 2, got ") + bad);
    check_refused(cv, "--folds", "101", "error: --folds: must be <= 100, got 101");
    for (const char* bad : {"2.5", "nan", "inf"})
        check_refused(cv, "--folds", bad, std::string("error: --folds: must be an integer >= 2, got ") + bad);
    for (const char* bad : {"0", "-1"}) check_refused(cv, "--fold", bad, std::string("error: --fold: must be >= 1, got ") + bad);
    check_refused(cv, "--fold", "1.5", "error: --fold: must be an integer >= 1, got 1.5");
}

TEST_CASE("train caps a --batch larger than the training side, with a note, and trains the same run", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-batch-cap");  // 12 images, all training with --val-split 0
    const std::string train = "train --data " + q(root) + " --epochs 1 --val-split 0 --alert-threshold 0.5 --threads 1";
    auto r = melanoma_cli::melanoma(train + " --batch 64 --out " + q(root / "large"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Note: --batch 64 is more than the 12 training images: each epoch is one batch of 12"));
    r = melanoma_cli::melanoma(train + " --batch 12 --out " + q(root / "exact"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, !Catch::Contains("Note: --batch"));
    CHECK(tensor_bytes(bytes(root / "large" / "last.safetensors")) == tensor_bytes(bytes(root / "exact" / "last.safetensors")));
}
