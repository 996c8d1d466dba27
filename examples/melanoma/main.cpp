// examples/melanoma/main.cpp - the `melanoma` program: audit an ISIC class-folder dataset, train the reference CNN
// under an honest protocol (split first, augment only the training side), evaluate it with what a dermatologist
// needs (per-class recall, melanoma sensitivity/specificity, confusion matrix), and predict with a melanoma alert.
// This file is the command line (CLI11; train's options come from their table, train_options.cpp; every numeric
// option of every subcommand is checked against its range as the line is parsed, before any file is read); the
// subcommands live in the files commands.hpp lists.
#include <CLI/CLI.hpp>

#include <iostream>
#include <set>
#include <string>

#include <ember/core/parallel.hpp>

#include "commands.hpp"
#include "job.hpp"

using namespace melanoma;

namespace {

struct AuditArgs {
    fs::path data, out = "runs/audit";
};

// ---- the options the scoring subcommands share ----------------------------------------------------------------

/// --threads, as train's.
void add_threads(CLI::App& sub, int& threads) {
    in_range(sub.add_option("--threads", threads, kThreadsHelp), ranges::threads)->capture_default_str();
}

/// --batch: train's batch size by default, which scoring needs for figures identical to train's; as train's, at
/// most 4096.
void add_batch(CLI::App& sub, long& batch, const std::string& help) {
    in_range(sub.add_option("--batch", batch, help), ranges::batch)->capture_default_str();
}

/// --tta: the test-time augmentation of the scores.
void add_tta(CLI::App& sub, std::string& tta, const std::string& help) {
    sub.add_option("--tta", tta, help)->check(CLI::IsMember(kTtaKinds))->capture_default_str();
}

/// --threshold of evaluate and predict: a probability, never silently the checkpoint's instead.
void add_threshold(CLI::App& sub, double& threshold) {
    in_range(sub.add_option("--threshold", threshold, "melanoma alert threshold (default: the one stored in the checkpoint)"),
             ranges::probability);
}

// ---- the subcommands ------------------------------------------------------------------------------------------

CLI::App* add_audit(CLI::App& app, AuditArgs& a) {
    auto* sub = app.add_subcommand("audit", "count images per class and split, find duplicates, contradictory labels and Train/Test leakage");
    sub->add_option("--data", a.data, "dataset folder (with Train/ and Test/, or one folder of class folders)")->required();
    sub->add_option("--out", a.out, "where audit.json and class_distribution.png go");
    return sub;
}

CLI::App* add_train(CLI::App& app, TrainArgs& a) {
    auto* sub = app.add_subcommand("train", "train the reference CNN (split first, augment only the training side)");
    add_train_options(*sub, a);
    return sub;
}

/// The options given on a command line (not defaulted), by every name they have.
std::set<std::string> given_options(const CLI::App& sub) {
    std::set<std::string> given;
    for (const CLI::Option* o : sub.get_options())
        if (o->count() > 0)
            for (const auto& name : o->get_lnames()) given.insert("--" + name);
    return given;
}

CLI::App* add_evaluate(CLI::App& app, EvalArgs& a, int& threads) {
    auto* sub = app.add_subcommand("evaluate", "accuracy, per-class precision/recall/F1, confusion matrix, melanoma sensitivity/specificity");
    sub->add_option("--data", a.data, "folder of class folders (or a dataset folder: its Test/ is used)")->required();
    sub->add_option("--model", a.models, "checkpoint written by train; repeat it for an ensemble (probabilities averaged)")
        ->required()->allow_extra_args(false);
    sub->add_option("--out", a.out, "where metrics.json and the confusion matrix go (default: beside the checkpoint)");
    add_threshold(*sub, a.threshold);
    sub->add_flag("--strict", a.strict, "a corrupt image is fatal");
    add_tta(*sub, a.tta, "test-time augmentation: none | flips (mean over the four flips of each image)");
    sub->add_option("--on", a.on, "test | validation (the validation side of --data's Train folder, split as train did)")
        ->check(CLI::IsMember({"test", "validation"}))->capture_default_str();
    add_batch(*sub, a.batch, "batch size (as train's, for figures identical to its report)");
    add_threads(*sub, threads);
    in_range(sub->add_option("--alert-sensitivity", a.alert_sensitivity,
                             "with --on validation: report the alert threshold reaching this melanoma sensitivity"),
             ranges::probability)
        ->capture_default_str();
    return sub;
}

/// What cv and release share with train's command line: the threads, --limit (`whose`: "per fold ") and --strict.
void add_training_machine(CLI::App& sub, int& threads, int& loader_threads, long& limit, bool& strict, const std::string& whose) {
    add_threads(sub, threads);
    in_range(sub.add_option("--loader-threads", loader_threads, "threads that assemble and augment training batches"),
             ranges::count)
        ->capture_default_str();
    in_range(sub.add_option("--limit", limit, "at most this many training images " + whose + "(quick checks)"), ranges::limit);
    sub.add_flag("--strict", strict, "a corrupt image is fatal");
}

CLI::App* add_cv(CLI::App& app, CvArgs& a) {
    auto* sub = app.add_subcommand("cv", "cross-validate a recipe over the Train folder: one training per fold (resumable), "
                                         "then the out-of-fold report every choice of recipe is made on");
    sub->add_option("--recipe", a.recipe, "recipe file (examples/melanoma/recipes/*.json)")->required();
    sub->add_option("--data", a.data, "dataset folder (Train/ is used); without it the public copy is downloaded");
    sub->add_option("--out", a.out, "where fold-1 ... fold-K, cv_report.json and the plots go")->capture_default_str();
    in_range(sub->add_option("--folds", a.folds, "folds (stratified, over the deduplicated Train folder: no pixel-identical copy straddles two)"),
             Range{.ok = [](double x) { return x >= 2; }, .rule = ">= 2", .integer = true, .max = 100})
        ->capture_default_str();
    in_range(sub->add_option("--fold", a.fold, "train only this fold (1 ... --folds; default: every fold not yet done)"),
             ranges::count);
    add_training_machine(*sub, a.threads, a.loader_threads, a.limit, a.strict, "per fold ");
    return sub;
}

CLI::App* add_release(CLI::App& app, ReleaseArgs& a) {
    auto* sub = app.add_subcommand("release", "train a cross-validated recipe on all of Train with the out-of-fold alert "
                                              "threshold, score Test once, write the checkpoint and its model card");
    sub->add_option("--recipe", a.recipe, "the recipe file that was cross-validated")->required();
    sub->add_option("--cv", a.cv, "the cv --out folder of that recipe (its cv_report.json)")->required();
    sub->add_option("--data", a.data, "dataset folder (Train/ trains, Test/ is scored once)");
    sub->add_option("--out", a.out, "where the checkpoint and MODEL_CARD.md go")->capture_default_str();
    sub->add_option("--work", a.work, "the training run's folder (resumable)")->capture_default_str();
    sub->add_option("--name", a.model_name, "the model's name (its file is NAME.safetensors)")->capture_default_str();
    add_training_machine(*sub, a.threads, a.loader_threads, a.limit, a.strict, "");
    return sub;
}

CLI::App* add_predict(CLI::App& app, PredictArgs& a, int& threads) {
    auto* sub = app.add_subcommand("predict", "class probabilities, top-3 and a MELANOMA ALERT line per image");
    sub->add_option("--model", a.models, "checkpoint written by train or release; repeat it for an ensemble "
                                         "(probabilities averaged); default: the shipped model (examples/melanoma/models/)")
        ->allow_extra_args(false);
    sub->add_option("images", a.images, "image files")->required();
    sub->add_option("--explain", a.explain, "write Grad-CAM heat maps (predicted class and melanoma) over each image "
                                            "as PNG files into this folder");
    add_threshold(*sub, a.threshold);
    sub->add_flag("--json", a.json, "print JSON");
    add_threads(*sub, threads);
    add_tta(*sub, a.tta, "test-time augmentation: none | flips");
    return sub;
}

}  // namespace

int main(int argc, char** argv) {
    start_job(argc, argv);  // under mpirun: one of the job's processes; rank 0 alone prints
    CLI::App app{"melanoma: train and evaluate a CNN on ISIC dermoscopy images, with a melanoma alert (ember example)"};
    // A command line CLI11 refuses reads as the program's other usage errors do: "error: --lr: must be ...".
    app.failure_message([](const CLI::App* a, const CLI::Error& e) { return "error: " + CLI::FailureMessage::simple(a, e); });
    app.require_subcommand(1);
    AuditArgs aa;
    TrainArgs ta;
    EvalArgs ea;
    CvArgs ca;
    ReleaseArgs ra;
    PredictArgs pa;
    int scoring_threads = 0;  // evaluate's and predict's --threads
    CLI::App* audit = add_audit(app, aa);
    CLI::App* trn = add_train(app, ta);
    CLI::App* evl = add_evaluate(app, ea, scoring_threads);
    CLI::App* cv = add_cv(app, ca);
    CLI::App* rel = add_release(app, ra);
    add_predict(app, pa, scoring_threads);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version print and exit 0; every rejected command line is a usage error, exit 2, whichever
        // of CLI11's own codes (105, 106, ...) it carries.
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (*audit) return run_audit(aa.data, aa.out);
        if (*trn) {
            ta.given = given_options(*trn);
            if (!ta.recipe.empty()) apply_recipe(ta, ta.recipe);
            return run_train(ta);
        }
        if (*cv) return run_cv(ca);
        if (*rel) return run_release(ra);
        ember::set_num_threads(scoring_threads);
        if (*evl) return run_evaluate(ea);
        return run_predict(pa);
    } catch (const UsageError& e) {
        if (job().size > 1) abort_job(e.what(), 2);  // the other processes may be waiting for this one
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        if (job().size > 1) abort_job(e.what(), 1);
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}
