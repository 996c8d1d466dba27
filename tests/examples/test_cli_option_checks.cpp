// Tests of the checks of the melanoma program's numeric options (ranges:: in examples/melanoma/train_options.hpp):
// every kind of range refuses NaN, infinities and values outside it with exit code 2 and a message naming the
// option, as the command line is parsed - before any data is read - and a --batch larger than the data is capped.
#include <catch2/catch.hpp>

#include <set>

#include "../../examples/melanoma/train_options.hpp"
#include "melanoma_cli.hpp"

using namespace melanoma_cli;

namespace {

/// A --data, --model and image that do not exist: a check that ran after any of them was read would say so first.
const std::string kNoData = "'/nonexistent/melanoma-data'";
const std::string kNoModel = "'/nonexistent/model.safetensors'";

/// Runs `command` with `option value` and checks that it is refused as a usage error with `message` (the whole
/// "error: ..." line but its end), before any file is read or written.
void check_refused(const std::string& command, const std::string& option, const std::string& value, const std::string& message) {
    const Run r = melanoma_cli::melanoma(command + " " + option + " " + value);
    INFO(command << " " << option << " " << value << "\n" << r.output);
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::StartsWith(message));  // the first line: nothing was read, loaded or written before
}

/// The first of the space-separated `values` that is not `fine`: the one a check of several numbers refuses.
std::string first_other(const std::string& values, const std::string& fine) {
    std::istringstream in(values);
    std::string v;
    while (in >> v && v == fine) {}
    return v;
}

}  // namespace

TEST_CASE("every numeric option of train's table has a range", "[examples][melanoma][errors]") {
    // the options that take words, paths or nothing; any other option takes a number and must declare its range
    const std::set<std::string> not_numbers{"--data",     "--out",           "--split",      "--augment",
                                            "--color-constancy", "--extra-train", "--class-weights", "--dedup",
                                            "--lr-schedule", "--monitor",    "--strict",     "--resume"};
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
    // integers: the text must be one, then lie in the range and under the cap
    CHECK(refusal(ranges::batch, "4096").empty());
    CHECK(refusal(ranges::batch, "4097") == "must be <= 4096, got 4097");
    CHECK(refusal(ranges::batch, "0") == "must be > 0, got 0");
    for (const char* bad : {"2.5", "1e3", "inf", "nan", "-", "+"})
        CHECK(refusal(ranges::batch, bad) == std::string("must be an integer > 0, got ") + bad);
    CHECK(refusal(ranges::threads, "0").empty());
    CHECK(refusal(ranges::threads, "1025") == "must be <= 1024, got 1025");
    CHECK(refusal(ranges::split_seed, "-1").empty());
    CHECK(refusal(ranges::split_seed, "-2") == "must be >= -1 (-1: --seed), got -2");
    CHECK(refusal(ranges::seed, "18446744073709551615").empty());  // the largest seed
}

TEST_CASE("train refuses every out-of-range number before reading any data", "[examples][melanoma][errors]") {
    const std::string train = "train --data " + kNoData + " --out " + q(fresh_dir("cli-checks") / "run");
    // a finite number > 0
    for (const char* bad : {"inf", "-inf", "nan", "-1", "0", "1e400"})
        check_refused(train, "--lr", bad, std::string("error: --lr: must be a finite number > 0, got ") + bad);
    // finite and >= 0
    for (const char* option : {"--weight-decay", "--global-clipnorm"})
        for (const char* bad : {"inf", "nan", "-0.5"})
            check_refused(train, option, bad, std::string("error: ") + option + ": must be finite and >= 0 (0: off), got " + bad);
    // probabilities in [0, 1]
    for (const char* bad : {"nan", "inf", "-0.1", "1.5"}) {
        check_refused(train, "--alert-sensitivity", bad, std::string("error: --alert-sensitivity: must be in [0, 1], got ") + bad);
        check_refused(train + " --val-split 0", "--alert-threshold", bad,
                      std::string("error: --alert-threshold: must be in [0, 1], got ") + bad);
        check_refused(train, "--label-smoothing", bad, std::string("error: --label-smoothing: must be in [0, 1] (0: off), got ") + bad);
    }
    // fractions in [0, 1)
    for (const char* bad : {"1", "nan", "inf", "-0.1"}) {
        check_refused(train, "--ema", bad, std::string("error: --ema: must be in [0, 1) (0: off), got ") + bad);
        check_refused(train, "--val-split", bad,
                      std::string("error: --val-split must be in [0, 1) (0: train on all of Train, without validation), got ") + bad);
    }
    // ratios >= 1
    for (const char* option : {"--stretch", "--channel-gain"})
        for (const char* bad : {"0.5", "inf", "nan", "-2"})
            check_refused(train, option, bad, std::string("error: ") + option + ": must be finite and >= 1 (1: off), got " + bad);
    // integers > 0 (--epochs and --batch in the wording they always had) and >= 1
    for (const char* option : {"--epochs", "--batch"}) {
        for (const char* bad : {"0", "-1"}) check_refused(train, option, bad, std::string("error: ") + option + " must be > 0, got " + bad);
        for (const char* bad : {"1.5", "inf", "nan", "1e3"})
            check_refused(train, option, bad, std::string("error: ") + option + " must be an integer > 0, got " + bad);
    }
    for (const char* bad : {"0", "-1"}) check_refused(train, "--loader-threads", bad, std::string("error: --loader-threads: must be >= 1, got ") + bad);
    check_refused(train, "--loader-threads", "inf", "error: --loader-threads: must be an integer >= 1, got inf");
    // integers >= 0 (0: off / all), and the seeds
    for (const char* option : {"--patience", "--rebalance"}) {
        check_refused(train, option, "-1", std::string("error: ") + option + ": must be >= 0 (0: off), got -1");
        check_refused(train, option, "nan", std::string("error: ") + option + ": must be an integer >= 0 (0: off), got nan");
    }
    check_refused(train, "--limit", "-5", "error: --limit: must be >= 0 (0: every image), got -5");
    check_refused(train, "--limit", "inf", "error: --limit: must be an integer >= 0 (0: every image), got inf");
    check_refused(train, "--threads", "-1", "error: --threads: must be >= 0 (0: all cores), got -1");
    check_refused(train, "--threads", "2.5", "error: --threads: must be an integer >= 0 (0: all cores), got 2.5");
    check_refused(train, "--seed", "-1", "error: --seed: must be >= 0, got -1");
    check_refused(train, "--split-seed", "-2", "error: --split-seed: must be >= -1 (-1: --seed), got -2");
    check_refused(train, "--split-seed", "nan", "error: --split-seed: must be an integer >= -1 (-1: --seed), got nan");
    // caps: --batch (memory) and --threads
    for (const char* bad : {"4097", "100000"}) check_refused(train, "--batch", bad, std::string("error: --batch must be <= 4096, got ") + bad);
    check_refused(train, "--threads", "1025", "error: --threads: must be <= 1024, got 1025");
    // the 4 numbers of --color-jitter: each finite and >= 0, the hue <= 0.5 (ColorJitter's own check, still before the data)
    for (const char* bad : {"nan 0.1 0.1 0.1", "0.1 -0.1 0.1 0.1", "0.1 0.1 inf 0.1", "0.1 0.1 0.1 nan"})
        check_refused(train, "--color-jitter", bad,
                      "error: --color-jitter: must be finite and >= 0 (0: off), got " + first_other(bad, "0.1"));
    check_refused(train, "--color-jitter", "0.1 0.1 0.1 0.7", "error: --color-jitter: ColorJitter: hue must lie in [0, 0.5], got 0.7");
    check_refused(train, "--color-jitter", "0.1 0.1 0.1", "error: --color-jitter: At least 4 required but received 3");
}

TEST_CASE("evaluate, calibrate and predict refuse every out-of-range number before reading any file", "[examples][melanoma][errors]") {
    const std::string evaluate = "evaluate --data " + kNoData + " --model " + kNoModel;
    const std::string calibrate = "calibrate --validation " + kNoData + " --model " + kNoModel;
    const std::string predict = "predict --model " + kNoModel + " '/nonexistent/image.png'";
    for (const char* bad : {"nan", "inf", "-3", "7"}) {
        for (const auto& command : {evaluate, predict})
            check_refused(command, "--threshold", bad, std::string("error: --threshold: must be in [0, 1], got ") + bad);
        for (const auto& command : {evaluate, calibrate})
            check_refused(command, "--alert-sensitivity", bad, std::string("error: --alert-sensitivity: must be in [0, 1], got ") + bad);
    }
    for (const auto& command : {evaluate, calibrate}) {
        for (const char* bad : {"0", "1", "nan", "inf"})
            check_refused(command, "--val-split", bad, std::string("error: --val-split: must be in (0, 1), got ") + bad);
        check_refused(command, "--batch", "0", "error: --batch must be > 0, got 0");
        check_refused(command, "--batch", "inf", "error: --batch must be an integer > 0, got inf");
        check_refused(command, "--batch", "100000", "error: --batch must be <= 4096, got 100000");
        check_refused(command, "--seed", "-1", "error: --seed: must be >= 0, got -1");
    }
    for (const auto& command : {evaluate, calibrate, predict}) {
        check_refused(command, "--threads", "-1", "error: --threads: must be >= 0 (0: all cores), got -1");
        check_refused(command, "--threads", "nan", "error: --threads: must be an integer >= 0 (0: all cores), got nan");
        check_refused(command, "--threads", "5000", "error: --threads: must be <= 1024, got 5000");
    }
    // the 3 gains of --cast-copy, each in (0, 10)
    for (const char* bad : {"nan 1 1", "1 0 1", "1 1 10", "1 inf 1", "-1 1 1"})
        check_refused(calibrate, "--cast-copy", bad, "error: --cast-copy: must be in (0, 10), got " + first_other(bad, "1"));
    check_refused(calibrate, "--cast-copy", "1 1", "error: --cast-copy: At least 3 required but received 2");
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
