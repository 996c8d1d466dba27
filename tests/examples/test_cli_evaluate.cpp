// Tests of `melanoma evaluate` and `melanoma predict` on checkpoints train wrote, and a short real run on
// isic-mini (audit, train, evaluate, predict).
#include <catch2/catch.hpp>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;

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
    // An ensemble: a second model trained otherwise (another learning rate) on the same split (the same seed) is
    // judged with the first on validation; one trained on another split (another seed) is refused.
    const auto ensemble_on_validation = [&](const std::string& run, const std::string& train_flags) {
        REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 " + train_flags + " --out " + q(root / run)).code == 0);
        return melanoma("evaluate --data " + q(root) + " --model " + q(ckpt) + " --model " +
                        q(root / run / "best.safetensors") + " --on validation --out " + q(root / "ev-ens"));
    };
    r = ensemble_on_validation("run2", "--lr 0.002");
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Ensemble of 2 models") && Catch::Contains(" + "));
    r = melanoma("predict --json --model " + q(ckpt) + " --model " + q(root / "run2" / "best.safetensors") + " " +
                 q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("\"melanoma_probability\""));
    r = ensemble_on_validation("run3", "--seed 5");
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("was validated on another split (stratified split, seed 5,") &&
                             Catch::Contains("train ensemble members with the same seed"));
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

    // A cross-validation fold's checkpoint holds a placeholder threshold (cv chooses one on all folds' scores): it is
    // refused without --threshold.
    const fs::path fold = with_metadata(ckpt, "fold.safetensors", "alert_threshold_from", "cross-validation");
    r = melanoma("predict --model " + q(fold) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: checkpoint '" + fold.string() + "' is a cross-validation fold's model, "
                                         "whose alert threshold is chosen on all folds' scores (cv_report.json): give one "
                                         "with --threshold P"));
    r = melanoma("predict --threshold 0.3 --model " + q(fold) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("(alert threshold 0.300)"));
    r = melanoma("evaluate --data " + q(root) + " --model " + q(fold) + " --out " + q(root / "ev"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("give one with --threshold P"));
    // a stored threshold that is not a probability
    const fs::path nan = with_metadata(ckpt, "nan.safetensors", "alert_threshold", "nan");
    r = melanoma("predict --model " + q(nan) + " " + q(root / "Test" / "melanoma" / "t1.png"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: checkpoint '" + nan.string() + "': its alert_threshold 'nan") &&
                             Catch::Contains("is not a probability in [0, 1]"));
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

TEST_CASE("train with color_constancy: evaluate and predict correct images as the checkpoint says", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-color");
    auto r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 " +
                      recipe_arg("shades-of-gray", R"({"color_constancy": "shades-of-gray"})") + " --out " + q(root / "sog"));
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
}

TEST_CASE("melanoma end to end on isic-mini: audit, two epochs, evaluate, predict", "[examples][melanoma][isic]") {
    const fs::path data = fs::path(EMBER_SHARED_DATA_DIR) / "isic-mini";
    if (ember::test::shared_data_missing(data)) return;
    const fs::path out = fresh_dir("cli-isic");
    auto r = melanoma("audit --data " + q(data) + " --out " + q(out / "audit"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Test images identical to a Train image (leakage): 0 of 54"));
    r = melanoma("train --data " + q(data) + " --epochs 2 " +
                 recipe_arg("isic", R"({"monitor": "val_balanced_accuracy", "dedup": true})") + " --out " + q(out / "run"));
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
    r = melanoma("predict --model " + q(out / "run" / "best.safetensors") + " " +
                 q(data / "Test" / "melanoma" / fs::directory_iterator(data / "Test" / "melanoma")->path().filename()));
    CHECK(r.code == 0);
    r = melanoma("predict --tta flips --model " + q(out / "run" / "best.safetensors") + " " +
                 q(data / "Test" / "melanoma" / fs::directory_iterator(data / "Test" / "melanoma")->path().filename()));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("p(melanoma) = "));
}
