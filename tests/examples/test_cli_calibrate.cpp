// Tests of `melanoma calibrate`: the alert threshold chosen on sources pooled, --cast-copy, --save.
#include <catch2/catch.hpp>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;

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
        // the cast copy as examples/melanoma/tools/cast_copy.cpp writes it: each validation image at the model's
        // size, cast, as PNG
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
