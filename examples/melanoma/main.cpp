// examples/melanoma/main.cpp - the `melanoma` program: audit an ISIC class-folder dataset, train the reference CNN
// under an honest protocol (split first, augment only the training side), evaluate it with what a dermatologist
// needs (per-class recall, melanoma sensitivity/specificity, confusion matrix), and predict with a melanoma alert.
// This file is the command line (CLI11); the subcommands live in the files commands.hpp lists.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>

#include <ember/core/parallel.hpp>

#include "commands.hpp"

using namespace melanoma;

namespace {

/// A CLI11 check that a number satisfies `ok` (NaN fails any comparison), else "must be <rule>, got <value>".
template <class Ok>
std::function<std::string(const std::string&)> number_check(Ok ok, std::string rule) {
    return [ok, rule = std::move(rule)](const std::string& v) {
        const double x = std::strtod(v.c_str(), nullptr);
        return ok(x) ? std::string() : "must be " + rule + ", got " + v;
    };
}

/// A strength where 0 means off: finite and non-negative (--weight-decay, --global-clipnorm).
std::function<std::string(const std::string&)> strength_check() {
    return number_check([](double x) { return std::isfinite(x) && x >= 0; }, "finite and >= 0 (0: off)");
}

/// A probability: in [0, 1] (CLI11's Range lets NaN through) - thresholds and sensitivities.
std::function<std::string(const std::string&)> probability_check() {
    return number_check([](double x) { return x >= 0 && x <= 1; }, "in [0, 1]");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"melanoma: train and evaluate a CNN on ISIC dermoscopy images, with a melanoma alert (ember example)"};
    app.require_subcommand(1);

    fs::path audit_data, audit_out = "runs/audit";
    auto* audit = app.add_subcommand("audit", "count images per class and split, find duplicates, contradictory labels and Train/Test leakage");
    audit->add_option("--data", audit_data, "dataset folder (with Train/ and Test/, or one folder of class folders)")->required();
    audit->add_option("--out", audit_out, "where audit.json and class_distribution.png go");

    TrainArgs ta;
    auto* trn = app.add_subcommand("train", "train the reference CNN (split first, augment only the training side)");
    trn->add_option("--data", ta.data, "dataset folder (Train/ is used); without it the public copy is downloaded");
    trn->add_option("--out", ta.out, "run folder: checkpoint, history.csv, plots, val_metrics.json");
    trn->add_option("--epochs", ta.epochs, "epochs")->capture_default_str();
    trn->add_option("--batch", ta.batch, "batch size")->capture_default_str();
    trn->add_option("--seed", ta.seed, "seed of the split, initial weights, shuffling, dropout and augmentation")->capture_default_str();
    trn->add_option("--split-seed", ta.split_seed,
                    "seed of the split alone (default: --seed); runs that differ only in --seed then share a validation "
                    "split, and their ensemble can be judged on it");
    trn->add_option("--val-split", ta.val_split,
                    "validation fraction; 0: train on all of Train without validation (the last epoch is the model; "
                    "needs --alert-threshold)")->capture_default_str();
    trn->add_option("--split", ta.split, "stratified | keras (Keras' image_dataset_from_directory split)")
        ->check(CLI::IsMember({"stratified", "keras"}))->capture_default_str();
    trn->add_option("--augment", ta.augment, "none | flip-rotate-zoom (Keras RandomFlip, RandomRotation(0.2), RandomZoom(height_factor=(0.2, 0.3)), the same zoom on both axes)")
        ->check(CLI::IsMember({"none", "flip-rotate-zoom"}))->capture_default_str();
    trn->add_option("--color-constancy", ta.color_constancy,
                    "none | shades-of-gray (Shades of Gray, p = 6, on every image before anything else; evaluate and "
                    "predict then do the same, from the checkpoint)")
        ->check(CLI::IsMember({"none", "shades-of-gray"}))->capture_default_str();
    trn->add_option("--color-jitter", ta.color_jitter,
                    "training-side colour augmentation, 4 numbers: brightness contrast saturation hue (torchvision's "
                    "ColorJitter; e.g. 0.2 0.2 0.2 0.02; default off)")
        ->expected(4);
    trn->add_option("--channel-gain", ta.channel_gain,
                    "training-side random white balance: R, G and B each multiplied by its own gain drawn "
                    "log-uniformly in [1/G, G] (a colour cast like another camera's or illuminant's; 1: off)")
        ->check(number_check([](double x) { return std::isfinite(x) && x >= 1; }, "finite and >= 1 (1: off)"))->capture_default_str();
    trn->add_option("--stretch", ta.stretch,
                    "training-side random horizontal stretch: the content's width is scaled by a ratio drawn "
                    "log-uniformly in [1/R, R] (torchvision RandomResizedCrop's aspect ratio; 1.3333 covers a 4:3 "
                    "image squashed to a square and its centre square; 1: off); with flip-rotate-zoom it shares the "
                    "zoom's resampling")
        ->check(number_check([](double x) { return std::isfinite(x) && x >= 1; }, "finite and >= 1 (1: off)"))->capture_default_str();
    trn->add_option("--rebalance", ta.rebalance, "extra samples per class, Augmentor style (0: off; the seed used 500)")->capture_default_str();
    trn->add_option("--extra-train", ta.extra_train,
                    "another folder of class folders (a subset of Train's classes) added to the training side only, "
                    "after the split; images identical to Train images are dropped; repeatable");
    trn->add_flag("--class-weights", ta.class_weights, "weight the training loss by inverse class frequency (validation stays unweighted, as in Keras)");
    trn->add_flag("--dedup", ta.dedup,
                  "before splitting, keep one copy of identical images in a class and drop images filed under several classes");
    auto add_threads = [](CLI::App* sub, int& n) {
        sub->add_option("--threads", n, "OpenMP threads (0: all cores)")->check(CLI::NonNegativeNumber)->capture_default_str();
    };
    add_threads(trn, ta.threads);
    trn->add_option("--loader-threads", ta.loader_threads,
                    "threads that assemble and augment the next training batch while one trains (results do not depend on it)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    trn->add_option("--lr", ta.lr, "Adam learning rate")->capture_default_str();
    trn->add_option("--weight-decay", ta.weight_decay,
                    "decoupled weight decay, as Keras' AdamW (0.004 is its default; 0: off): weights shrink by lr * this "
                    "each step")
        ->check(strength_check())->capture_default_str();
    trn->add_option("--label-smoothing", ta.label_smoothing,
                    "label smoothing e of the loss, as Keras' CategoricalCrossentropy(label_smoothing): the target is "
                    "(1 - e) * one-hot + e / classes (e.g. 0.1; 0: off)")
        ->check(number_check([](double x) { return x >= 0 && x <= 1; }, "in [0, 1] (0: off)"))->capture_default_str();
    trn->add_option("--global-clipnorm", ta.global_clipnorm,
                    "gradient clipping, as Keras' global_clipnorm: all gradients scaled together to an L2 norm of at "
                    "most this before each update (e.g. 1; 0: off)")
        ->check(strength_check())->capture_default_str();
    trn->add_option("--ema", ta.ema,
                    "momentum of a moving average of the weights (Keras' use_ema, e.g. 0.99; 0: off): validation and "
                    "checkpoints use the average")
        ->check(number_check([](double x) { return x >= 0 && x < 1; }, "in [0, 1) (0: off)"))->capture_default_str();
    trn->add_option("--lr-schedule", ta.lr_schedule,
                    "constant | cosine (decays towards 0 over --epochs) | step (halve every 10 epochs) | plateau (halve after 3 "
                    "epochs without a better --monitor value, Keras' ReduceLROnPlateau)")
        ->check(CLI::IsMember({"constant", "cosine", "step", "plateau"}))->capture_default_str();
    trn->add_option("--patience", ta.patience, "early stopping: epochs without a better monitored value (0: off)")->capture_default_str();
    trn->add_option("--monitor", ta.monitor, "what picks the best checkpoint and drives early stopping and --lr-schedule plateau")
        ->check(CLI::IsMember({"val_accuracy", "val_balanced_accuracy", "val_loss"}))
        ->capture_default_str();
    trn->add_option("--alert-sensitivity", ta.alert_sensitivity, "melanoma sensitivity the alert threshold is chosen for, on validation")
        ->check(probability_check())->capture_default_str();
    trn->add_option("--alert-threshold", ta.alert_threshold,
                    "with --val-split 0: the melanoma alert threshold to store (there is no validation split to choose it on)")
        ->check(probability_check());
    trn->add_flag("--strict", ta.strict, "a corrupt image is fatal (default: skipped with a warning)");
    trn->add_flag("--resume", ta.resume,
                  "go on from the run folder's backup.safetensors (written after each epoch) as if the run had never "
                  "stopped: the same options are required (--epochs may change, not below the epochs done, except with "
                  "--lr-schedule cosine); "
                  "without a backup the run starts from its first epoch");
    trn->add_option("--limit", ta.limit, "use a seeded sample of at most this many training images (quick checks)");

    EvalArgs ea;
    auto* evl = app.add_subcommand("evaluate", "accuracy, per-class precision/recall/F1, confusion matrix, melanoma sensitivity/specificity");
    evl->add_option("--data", ea.data, "folder of class folders (or a dataset folder: its Test/ is used)")->required();
    evl->add_option("--model", ea.models, "checkpoint written by train; repeat it for an ensemble (probabilities averaged)")
        ->required()->allow_extra_args(false);
    evl->add_option("--out", ea.out, "where metrics.json and the confusion matrix go (default: beside the checkpoint)");
    evl->add_option("--threshold", ea.threshold, "melanoma alert threshold (default: the one stored in the checkpoint)")
        ->check(probability_check());
    evl->add_flag("--strict", ea.strict, "a corrupt image is fatal");
    evl->add_option("--exclude-copies-of", ea.exclude_copies_of,
                    "folder of class folders (e.g. Train): leave out images identical to one of its images");
    evl->add_option("--tta", ea.tta, "test-time augmentation: none | flips (mean over the four flips of each image)")
        ->check(CLI::IsMember({"none", "flips"}))->capture_default_str();
    evl->add_option("--on", ea.on, "test | validation (the validation side of --data's Train folder, split as train did)")
        ->check(CLI::IsMember({"test", "validation"}))->capture_default_str();
    evl->add_option("--seed", ea.seed, "with --on validation, for checkpoints that do not record it")->capture_default_str();
    evl->add_option("--val-split", ea.val_split, "with --on validation, for checkpoints that do not record it")
        ->check(number_check([](double x) { return x > 0 && x < 1; }, "in (0, 1)"))->capture_default_str();
    evl->add_option("--split", ea.split, "with --on validation, for checkpoints that do not record it")
        ->check(CLI::IsMember({"stratified", "keras"}))->capture_default_str();
    evl->add_flag("--dedup", ea.dedup, "with --on validation, for checkpoints that do not record it");
    evl->add_option("--batch", ea.batch, "batch size (as train's, for figures identical to its report)")
        ->check(CLI::PositiveNumber)->capture_default_str();
    int scoring_threads = 0;  // evaluate's and predict's --threads
    add_threads(evl, scoring_threads);
    evl->add_option("--alert-sensitivity", ea.alert_sensitivity,
                    "with --on validation: report the alert threshold reaching this melanoma sensitivity")
        ->check(probability_check())->capture_default_str();

    CalibrateArgs ca;
    auto* cal = app.add_subcommand("calibrate", "choose the melanoma alert threshold on labelled images from several sources "
                                                "pooled (the checkpoint's validation split, other folders), and save it");
    fs::path cal_model;
    cal->add_option("--model", cal_model, "checkpoint written by train")->required();
    cal->add_option("--validation", ca.eval.data,
                    "dataset folder (or its Train folder): the validation side of its Train folder, split as train did");
    cal->add_option("--data", ca.folders, "folder of class folders whose every image is used; repeat it for more sources")
        ->allow_extra_args(false);
    cal->add_option("--cast-copy", ca.cast_copy,
                    "R G B: with --validation, its images again under this colour cast (each channel times its gain) "
                    "as one more source, e.g. 0.9163 1.0552 1.1975 (docs/melanoma.md)")
        ->expected(3)->check(number_check([](double x) { return x > 0 && x < 10; }, "in (0, 10)"));
    cal->add_option("--alert-sensitivity", ca.eval.alert_sensitivity,
                    "the melanoma sensitivity the alert must reach on the pooled images")
        ->check(probability_check())->capture_default_str();
    cal->add_option("--tta", ca.eval.tta, "test-time augmentation of the scores (none | flips): as evaluate/predict will use it")
        ->check(CLI::IsMember({"none", "flips"}))->capture_default_str();
    cal->add_option("--save", ca.save, "write a copy of the checkpoint (not --model itself) that carries the chosen threshold");
    cal->add_flag("--strict", ca.eval.strict, "a corrupt image is fatal");
    cal->add_option("--seed", ca.eval.seed, "with --validation, for checkpoints that do not record it")->capture_default_str();
    cal->add_option("--val-split", ca.eval.val_split, "with --validation, for checkpoints that do not record it")
        ->check(number_check([](double x) { return x > 0 && x < 1; }, "in (0, 1)"))->capture_default_str();
    cal->add_option("--split", ca.eval.split, "with --validation, for checkpoints that do not record it")
        ->check(CLI::IsMember({"stratified", "keras"}))->capture_default_str();
    cal->add_flag("--dedup", ca.eval.dedup, "with --validation, for checkpoints that do not record it");
    cal->add_option("--batch", ca.eval.batch, "batch size (as train's, for scores identical to its report)")
        ->check(CLI::PositiveNumber)->capture_default_str();
    add_threads(cal, scoring_threads);

    std::vector<fs::path> pr_models;
    std::vector<fs::path> pr_images;
    double pr_threshold = -1;
    bool pr_json = false;
    std::string pr_tta = "none";
    auto* prd = app.add_subcommand("predict", "class probabilities, top-3 and a MELANOMA ALERT line per image");
    prd->add_option("--model", pr_models, "checkpoint written by train; repeat it for an ensemble (probabilities averaged)")
        ->required()->allow_extra_args(false);
    prd->add_option("images", pr_images, "image files")->required();
    prd->add_option("--threshold", pr_threshold, "melanoma alert threshold (default: the one stored in the checkpoint)")
        ->check(probability_check());
    prd->add_flag("--json", pr_json, "print JSON");
    add_threads(prd, scoring_threads);
    prd->add_option("--tta", pr_tta, "test-time augmentation: none | flips")->check(CLI::IsMember({"none", "flips"}))->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version print and exit 0; every rejected command line is a usage error, exit 2, whichever
        // of CLI11's own codes (105, 106, ...) it carries.
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (*audit) return run_audit(audit_data, audit_out);
        if (*trn) {
            for (const CLI::Option* o : trn->get_options())
                if (o->count() > 0)
                    for (const auto& name : o->get_lnames()) ta.given.insert("--" + name);
            return run_train(ta);
        }
        if (*evl || *cal || *prd) ember::set_num_threads(scoring_threads);
        if (*evl) return run_evaluate(ea);
        if (*cal) {
            ca.eval.models = {cal_model};
            return run_calibrate(ca);
        }
        if (*prd) return run_predict(pr_models, pr_images, pr_threshold, pr_json, pr_tta);
    } catch (const UsageError& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
