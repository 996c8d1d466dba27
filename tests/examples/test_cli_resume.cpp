// Tests of `melanoma train --resume`: a run resumed from backup.safetensors ends as the uninterrupted run, and
// what is not the same run is refused.
#include <catch2/catch.hpp>

#include <algorithm>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;

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
