// Tests of `melanoma train`: the training side (the recipe fields rebalance, class_weights and the augmentations),
// the validation split and --val-split 0, schedules, regularization, and a loss that stops being finite.
#include <catch2/catch.hpp>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;

TEST_CASE("melanoma warns when rebalance makes a class out of one lesion's rotations", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-rebalance", 5);
    write_image(root / "Train" / "rare" / "r0.png", 24, 24, 3, 200);
    const auto r = melanoma("train --data " + q(root) + " --epochs 1 --val-split 0 --alert-threshold 0.5 " +
                            recipe_arg("rebalance-60", R"({"rebalance": 60})") + " --out " + q(root / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: class 'rare' has only 1 training image(s); rebalance 60 adds "
                                         "copies of them (70% rotated), about 60 of each"));
    CHECK_THAT(r.output, !Catch::Contains("warning: class 'melanoma'") && Catch::Contains("Rebalanced the training side: 11 -> 191"));
}

TEST_CASE("train with lr_schedule plateau halves the rate after 3 epochs without a better monitored value", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-plateau");
    // a rate too small to change any prediction: validation accuracy stays where epoch 1 put it
    const auto r = melanoma("train --data " + q(root) + " --epochs 5 --batch 4 --lr 1e-12 " +
                            recipe_arg("plateau", R"({"lr_schedule": "plateau"})") + " --out " + q(root / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Epoch 4: ReduceLROnPlateau reducing learning rate to 5e-13 (no better "
                                         "val_accuracy for 3 epochs)") &&
                             Catch::Contains("Epoch 5/5 (lr 5e-13)") && !Catch::Contains("Epoch 3: ReduceLROnPlateau"));
}

TEST_CASE("melanoma warns when class_weights gives a nearly empty class a dominating weight", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-weights", 100);
    write_image(root / "Train" / "rare" / "r0.png", 24, 24, 3, 200);
    write_image(root / "Train" / "rare" / "r1.png", 24, 24, 3, 201);
    const auto r = melanoma("train --data " + q(root) + " --epochs 1 " + recipe_arg("class-weights", R"({"class_weights": true})") +
                            " --out " + q(root / "run"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: class 'rare' has only ") &&
                             Catch::Contains("will dominate the gradient"));
    CHECK_THAT(r.output, !Catch::Contains("warning: class 'melanoma'"));
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
    r = melanoma("train --data " + q(six) + " --epochs 1 --batch 4 --limit 4 " +
                 recipe_arg("class-weights", R"({"class_weights": true})") + " --out " + q(six / "run"));
    REQUIRE(r.code == 0);
    const auto at = r.output.find("Class weights (n / (classes * count)): ");
    REQUIRE(at != std::string::npos);
    std::istringstream weights(r.output.substr(at + 39));
    double benign = 0, malignant = 0;
    weights >> benign >> malignant;
    CHECK(benign > 0);
    CHECK(malignant > 0);
}

TEST_CASE("train --val-split 0 trains on all of Train, keeps the last epoch and the given alert threshold", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-no-validation");
    const std::string base = "train --data " + q(root) + " --epochs 2 --batch 4 --out " + q(root / "run");
    // each refused as a usage error, before any training
    const std::pair<std::string, const char*> refused[] = {
        {" --val-split 0", "error: --val-split 0 leaves no validation split to choose the melanoma alert threshold on: "
                           "pass --alert-threshold P in [0, 1]"},
        {" " + recipe_arg("no-validation", R"({"val_split": 0})"),  // the recipe's field as the flag
         "error: --val-split 0 leaves no validation split to choose the melanoma alert threshold on"},
        {" --alert-threshold 0.3", "error: --alert-threshold is for --val-split 0"},
        {" --val-split 0 --alert-threshold 0.3 " + recipe_arg("patience-2", R"({"patience": 2})"),
         "error: the recipe's \"patience\" needs a validation split to monitor (--val-split 0 has none)"},
        {" --val-split 0 --alert-threshold 0.3 " + recipe_arg("plateau", R"({"lr_schedule": "plateau"})"),
         "error: the recipe's \"lr_schedule\": \"plateau\" needs a validation split to monitor (--val-split 0 has none)"},
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
    CHECK_THAT(line, !Catch::Contains("val_"));  // no validation figures
    while (std::getline(history, line)) ++rows;
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
    // the same for an ensemble member, named, and before any output folder is made
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "validated")).code == 0);
    r = melanoma("evaluate --data " + q(root) + " --model " + q(root / "validated" / "best.safetensors") + " --model " +
                 q(last) + " --on validation --out " + q(root / "ev-ens"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("\"" + last.string() + "\" was trained on all of Train"));
    CHECK_FALSE(fs::exists(root / "ev-ens"));
    // a run folder reused across modes: the other mode's model is named as not this run's
    r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --val-split 0 --alert-threshold 0.3 --out " +
                 q(root / "validated"));
    CHECK(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("warning: \"" + (root / "validated" / "best.safetensors").string() +
                                         "\" is from an earlier run with validation, not from this one"));
}

TEST_CASE("train with color_jitter and stretch: recorded in the checkpoint, and the same seed gives the same weights", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-jitter");
    const std::string train = "train --data " + q(root) + " --epochs 2 --batch 4 ";
    const std::string jitter = recipe_arg("jitter", R"({"augment": "flip-rotate-zoom", "color_jitter": [0.2, 0.2, 0.2, 0.02]})");
    std::string first;
    // the second run also assembles its batches on three loader threads: the weights must not change
    for (const auto& [run, loader_threads] : {std::pair{"a", "1"}, std::pair{"b", "3"}}) {
        const auto r = melanoma(train + jitter + " --loader-threads " + loader_threads + " --out " + q(root / run));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("Colour jitter on the training side: brightness 0.2, contrast 0.2, saturation 0.2, hue 0.02"));
        const std::string ckpt = bytes(root / run / "best.safetensors");
        CHECK_THAT(ckpt, Catch::Contains("\"color_jitter\":\"0.2,0.2,0.2,0.02\"") &&
                             Catch::Contains("\"augment\":\"flip-rotate-zoom\""));
        CHECK(checkpoint_recipe(root / run / "best.safetensors").at("color_jitter") == nlohmann::json({0.2, 0.2, 0.2, 0.02}));
        if (first.empty()) first = ckpt;
        else CHECK(ckpt == first);
    }
    // the jitter reaches training: the same seed and geometric augmentation without it give other weights
    REQUIRE(melanoma(train + recipe_arg("geometric", R"({"augment": "flip-rotate-zoom"})") + " --out " + q(root / "c")).code == 0);
    const std::string plain = bytes(root / "c" / "best.safetensors");
    CHECK_THAT(plain, Catch::Contains("\"color_jitter\":\"none\""));
    CHECK(tensor_bytes(plain).size() == tensor_bytes(first).size());
    CHECK(tensor_bytes(plain) != tensor_bytes(first));
    CHECK(checkpoint_recipe(root / "c" / "best.safetensors").at("stretch") == 1);
    // the stretch reaches training too, folded into the geometric augmentation or on its own
    auto r = melanoma(train + recipe_arg("stretched", R"({"augment": "flip-rotate-zoom", "stretch": 1.3333})") + " --out " +
                      q(root / "d"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Random horizontal stretch on the training side: width x [0.750019, 1.3333], log-uniform"));
    const std::string stretched = bytes(root / "d" / "best.safetensors");
    CHECK(checkpoint_recipe(root / "d" / "best.safetensors").at("stretch") == 1.3333);
    CHECK_THAT(stretched, Catch::Contains("\"augment\":\"flip-rotate-zoom\""));
    CHECK(tensor_bytes(stretched) != tensor_bytes(plain));
    r = melanoma("train --data " + q(root) + " --epochs 1 --batch 4 " + recipe_arg("stretch-1.5", R"({"stretch": 1.5})") +
                 " --out " + q(root / "e"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Random horizontal stretch on the training side: width x [0.666667, 1.5], log-uniform"));
    CHECK(checkpoint_recipe(root / "e" / "best.safetensors").at("stretch") == 1.5);
    CHECK_THAT(bytes(root / "e" / "best.safetensors"), Catch::Contains("\"augment\":\"none\""));
    // rotation and zoom reach the geometric augmentation: said, recorded, and other weights than the defaults'
    r = melanoma(train + recipe_arg("keras-zoom", R"({"augment": "flip-rotate-zoom", "rotation": 0.1, "zoom": [-0.1, 0.1]})") +
                 " --out " + q(root / "f"));
    REQUIRE(r.code == 0);
    CHECK_THAT(r.output, Catch::Contains("Augmentation on the training side: RandomFlip, RandomRotation(0.1), RandomZoom(-0.1, 0.1)"));
    const auto recipe = checkpoint_recipe(root / "f" / "best.safetensors");
    CHECK(recipe.at("rotation") == 0.1);
    CHECK(recipe.at("zoom") == nlohmann::json({-0.1, 0.1}));
    CHECK(tensor_bytes(bytes(root / "f" / "best.safetensors")) != tensor_bytes(plain));
}

TEST_CASE("train with weight_decay, ema and label_smoothing: they reach training and are recorded in the checkpoint", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-ema");
    const std::string train = "train --data " + q(root) + " --epochs 2 --batch 4 ";
    const std::string regularized = R"("weight_decay": 0.004, "ema": 0.9)";
    const std::string smoothed_recipe = recipe_arg("smoothed", "{" + regularized + R"(, "label_smoothing": 0.1})");
    for (const fs::path run : {"validated", "all"}) {
        const auto r = melanoma(train + smoothed_recipe + " " + (run == "all" ? "--val-split 0 --alert-threshold 0.3 " : "") +
                                "--out " + q(root / run));
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Catch::Contains("Decoupled weight decay 0.004") &&
                                 Catch::Contains("Weights averaged (EMA, momentum 0.9): validation and checkpoints use the average"));
        const auto recipe = checkpoint_recipe(root / run / (run == "all" ? "last.safetensors" : "best.safetensors"));
        CHECK(recipe.at("weight_decay") == 0.004);
        CHECK(recipe.at("ema") == 0.9);
        CHECK(recipe.at("label_smoothing") == 0.1);
        CHECK_THAT(r.output, Catch::Contains(run == "all" ? "Label smoothing 0.1 (target (1 - e) * one-hot + e / 2; training loss)"
                                                          : "Label smoothing 0.1 (target (1 - e) * one-hot + e / 2; training and "
                                                            "validation loss, not the reports' loss)"));
    }
    // the smoothing reaches the loss: without it, the same run ends with other weights
    const std::string all = "--val-split 0 --alert-threshold 0.3 --out ";
    REQUIRE(melanoma(train + recipe_arg("unsmoothed", "{" + regularized + "}") + " " + all + q(root / "unsmoothed")).code == 0);
    const std::string smoothed = tensor_bytes(bytes(root / "all" / "last.safetensors")),
                      plain = tensor_bytes(bytes(root / "unsmoothed" / "last.safetensors"));
    CHECK(smoothed.size() == plain.size());
    CHECK(smoothed != plain);
    // so does the clipping: a global norm of 1e-6 clips every step, and the run ends with other weights
    const auto clipped_run = melanoma(train + recipe_arg("clipped", "{" + regularized + R"(, "global_clipnorm": 1e-06})") + " " +
                                      all + q(root / "clipped"));
    REQUIRE(clipped_run.code == 0);
    CHECK_THAT(clipped_run.output, Catch::Contains("Gradients clipped to a global L2 norm of at most 1e-06 (Keras' global_clipnorm)"));
    CHECK(checkpoint_recipe(root / "clipped" / "last.safetensors").at("global_clipnorm") == 1e-06);
    CHECK(checkpoint_recipe(root / "unsmoothed" / "last.safetensors").at("global_clipnorm") == 0);
    const std::string clipped = tensor_bytes(bytes(root / "clipped" / "last.safetensors"));
    CHECK(clipped.size() == plain.size());
    CHECK(clipped != plain);
}
