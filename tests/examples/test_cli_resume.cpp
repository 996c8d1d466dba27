// Tests of `melanoma train --resume`: a run resumed from backup.safetensors ends as the uninterrupted run, and
// what is not the same run (another flag or recipe field, another Train folder) is refused.
#include <catch2/catch.hpp>

#include <algorithm>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;

namespace {

/// history.csv without its seconds column (the one figure an identical run does not repeat).
std::string history_without_seconds(const fs::path& csv) {
    std::ifstream in(csv);
    std::string line, out;
    std::ptrdiff_t seconds = -1;  // which column is "seconds", from the header
    while (std::getline(in, line)) {
        std::vector<std::string> fields;
        for (std::size_t at = 0, next; at <= line.size(); at = next + 1) {
            next = line.find(',', at);
            if (next == std::string::npos) next = line.size();
            fields.push_back(line.substr(at, next - at));
        }
        if (seconds < 0) seconds = std::find(fields.begin(), fields.end(), "seconds") - fields.begin();
        for (std::size_t k = 0; k < fields.size(); ++k)
            if (static_cast<std::ptrdiff_t>(k) != seconds) out += fields[k] + ",";
        out += "\n";
    }
    return out;
}

/// The resume tests' runs: train on `root` with their recipe (flip-rotate-zoom, 2 extra images per class), with
/// `fields` added (", \"alert_sensitivity\": 0.5"); the recipe file is named after `name`.
std::string train_with(const fs::path& root, const std::string& name, const std::string& fields = "") {
    return "train --data " + q(root) + " --batch 4 --threads 1 " +
           recipe_arg("resume-" + name, R"({"augment": "flip-rotate-zoom", "rebalance": 2)" + fields + "}") + " ";
}

/// Run folders `a` and `b` hold the same run: the checkpoint `model` to the bit, and the same history.
void same_run(const fs::path& a, const fs::path& b, const char* model) {
    CHECK(bytes(a / model) == bytes(b / model));  // weights and metadata, to the bit
    CHECK(history_without_seconds(a / "history.csv") == history_without_seconds(b / "history.csv"));
}

/// The alert threshold is set when the run ends: the run folder `run` resumed with another alert option in `command`
/// ends as a run that had it from the start (`whole`), and says so (`note`).
void resume_with_alert(const std::string& command, const fs::path& run, const fs::path& whole, const std::string& note,
                       const char* model) {
    REQUIRE(melanoma(command + "--out " + q(whole)).code == 0);
    const auto r = melanoma(command + "--resume --out " + q(run));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains(note));
    same_run(whole, run, model);
}

/// A --resume of the run in `run` with `command` is refused with `message`, before any training.
void refuses(const std::string& command, const fs::path& run, const std::string& message) {
    CAPTURE(command);
    const auto out = melanoma(command + " --resume --out " + q(run));
    CHECK(out.code == 2);
    CHECK_THAT(out.output, Catch::Contains(message));
    CHECK_THAT(out.output, !Catch::Contains("Epoch "));
}

/// What is not the same run as the 2 epochs done in root/run is refused, naming the option.
void check_other_runs_refused(const fs::path& root) {
    const fs::path run = root / "run";
    const std::string base = train_with(root, "base");
    // (a recipe's field is named by its flag: the run options are recorded by flag)
    const std::pair<std::string, std::string> refused[] = {
        {base + "--epochs 2 --lr 0.01", "error: --resume: the run was trained with --lr 0.001, this command has --lr 0.01; "
                                        "resume with the run's options, or train into another --out folder"},
        {base + "--epochs 2 --seed 7", "the run was trained with --seed 123, this command has --seed 7"},
        {train_with(root, "smoothing", R"(, "label_smoothing": 0.1)") + "--epochs 2",
         "the run was trained with --label-smoothing 0, this command has --label-smoothing 0.1"},
        {train_with(root, "lr", R"(, "lr": 0.01)") + "--epochs 2", "the run was trained with --lr 0.001, this command has --lr 0.01"},
        {base + "--epochs 1", "error: --resume: --epochs 1 is fewer than the 2 epochs the run has done"},
        {train_with(root, "cosine", R"(, "lr_schedule": "cosine")") + "--epochs 2", "the run was trained with --lr-schedule constant"},
    };
    for (const auto& [command, message] : refused) refuses(command, run, message);
    write_image(root / "Train" / "melanoma" / "m9.png", 20, 24, 3, 109);  // another Train folder
    refuses(base + "--epochs 2", run, "error: --resume: the Train folder does not hold the images (names and labels) the run in");
    fs::remove(root / "Train" / "melanoma" / "m9.png");
    // a run folder that no longer holds the best epoch's checkpoint
    fs::rename(run / "best.safetensors", root / "best.safetensors");
    refuses(base + "--epochs 2", run, "best.safetensors is missing: the run's best epoch");
    fs::copy_file(root / "best.safetensors", run / "best.safetensors");
    // a backup that does not record one of the run's options is not this program's record of the run
    const fs::path backup = run / "backup.safetensors";
    fs::copy_file(backup, root / "backup-kept.safetensors");
    std::string b = bytes(backup);
    const std::string key = "\\\"--stretch\\\":\\\"1\\\",";  // inside the escaped run_options
    const auto at = b.find(key);
    REQUIRE(at != std::string::npos);
    b.replace(at, key.size(), std::string(key.size(), ' '));  // the same length: the offsets stay right
    std::ofstream(backup, std::ios::binary) << b;
    refuses(base + "--epochs 2", run, "backup.safetensors does not record --stretch");
    fs::copy_file(root / "backup-kept.safetensors", backup, fs::copy_options::overwrite_existing);
    // a backup that is not a training state
    fs::copy_file(root / "best.safetensors", backup, fs::copy_options::overwrite_existing);
    refuses(base + "--epochs 2", run, "backup.safetensors is not a training state written by melanoma train");
}

}  // namespace

TEST_CASE("train --resume: a finished run given more epochs ends as the run trained for them at once", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-resume");
    const std::string base = train_with(root, "base");
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
    // another alert sensitivity (the recipe's field)
    resume_with_alert(train_with(root, "sensitivity", R"(, "alert_sensitivity": 0.5)") + "--epochs 2 ", root / "run",
                      root / "whole-0.5",
                      "The run was started with --alert-sensitivity 0.9; its model's alert threshold will follow "
                      "--alert-sensitivity 0.5", "best.safetensors");
    CHECK(bytes(root / "whole-0.5" / "val_metrics.json") == bytes(root / "run" / "val_metrics.json"));
    // (this validation split holds one melanoma, so 0.5 and 0.9 give one threshold; the test without validation
    // below shows a resumed run's model taking another one)

    // what is not the same run is refused, naming the option, before any training
    check_other_runs_refused(root);
    // a new run over an old one's folder says it replaces the backup
    r = melanoma(base + "--epochs 1 --out " + q(root / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("backup.safetensors\" is from an earlier run; this run replaces it"));
    // --resume where there is nothing to resume starts the run
    r = melanoma(base + "--epochs 1 --resume --out " + q(root / "new"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("backup.safetensors\" to resume from: starting the run from its first epoch"));
}

TEST_CASE("train --resume: a run stopped in the middle, with a cosine schedule, dropout and EMA", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-resume-stopped");
    const std::string cosine = R"(, "lr_schedule": "cosine", "ema": 0.9, "label_smoothing": 0.1)";
    const std::string flags = train_with(root, "cosine-ema", cosine) + "--epochs 4 ";
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
    r = melanoma(train_with(root, "cosine-ema", cosine) + "--epochs 5 --resume --out " + q(root / "run"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: --resume: --lr-schedule cosine decays over --epochs, and the run's 4 "
                                         "epochs followed the curve of --epochs 4, not 5"));
}

TEST_CASE("train --resume: a best checkpoint of a later epoch than the backup's is trained and saved again", "[examples][melanoma]") {
    // A kill between epoch 2's best checkpoint and its backup: the run folder holds the backup of epoch 1 and
    // the best checkpoint of epoch 2. The resumed run trains epoch 2 again, saves it again, and ends as the
    // uninterrupted run. (On these images the validation loss falls from about 0.89 to 0.57 in epoch 2, so
    // epoch 2 is the best by a wide margin.)
    const fs::path sep = separable_dataset("cli-resume-later");
    const std::string flags = "train --data " + q(sep) + " --batch 4 --threads 1 " +
                              recipe_arg("val-loss", R"({"monitor": "val_loss"})") + " ";
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

TEST_CASE("train --resume: a best checkpoint of a later epoch that the resumed run does not save again is refused", "[examples][melanoma]") {
    // A kill between an epoch's best checkpoint and its backup leaves best.safetensors one epoch ahead: the
    // resumed run trains that epoch again and must save it again. Where it does not (here: the file says epoch
    // 2, the run ends at 1), the run refuses to pass the file off as its best epoch.
    const fs::path root = tiny_dataset("cli-resume-ahead");
    const std::string base = train_with(root, "base");
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

TEST_CASE("train --resume without validation: the last epoch, and the alert threshold given last", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-resume-all");
    const std::string base = train_with(root, "base");
    const std::string flags = base + "--val-split 0 --alert-threshold 0.3 ";
    REQUIRE(melanoma(flags + "--epochs 2 --out " + q(root / "whole")).code == 0);
    REQUIRE(melanoma(flags + "--epochs 1 --out " + q(root / "run")).code == 0);
    const auto r = melanoma(flags + "--epochs 2 --resume --out " + q(root / "run"));
    REQUIRE(r.code == 0);
    same_run(root / "whole", root / "run", "last.safetensors");
    // another given threshold: the model the run keeps carries it
    resume_with_alert(base + "--val-split 0 --alert-threshold 0.4 --epochs 2 ", root / "run", root / "whole-0.4",
                      "The run was started with --alert-threshold 0.3; its model's alert threshold will follow "
                      "--alert-threshold 0.4", "last.safetensors");
}
