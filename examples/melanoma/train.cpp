// examples/melanoma/train.cpp - `melanoma train`: split first, augment and rebalance only the training side, fit
// the reference CNN, keep the best checkpoint by validation and choose the melanoma alert threshold on it.
// run_train() reads as its steps: check the options, load and split the data, build the loaders, the model and its
// optimizer, the callbacks, resume, fit, finish. Everything the run saves is written by fit's callbacks
// (make_fit_options()); the library knows nothing of these files.
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include <cmath>

#include <ember/core/parallel.hpp>
#include <ember/data/loader.hpp>
#include <ember/io/checkpoint.hpp>
#include <ember/optim/adam.hpp>
#include <ember/train/callbacks.hpp>
#include <ember/train/fit.hpp>
#include <ember/train/training_state.hpp>
#include <ember/vision/augment.hpp>
#include <ember/vision/image_dataset.hpp>

#include "classifier.hpp"
#include "commands.hpp"
#include "job.hpp"
#include "model.hpp"
#include "plots.hpp"
#include "train_data.hpp"

using namespace ember;

namespace melanoma {

namespace {

// ---- the options ----------------------------------------------------------------------------------------------

/// What the option table's ranges cannot say alone (each value was checked against its range as the command line
/// or the recipe was read): what needs a validation split under --val-split 0, what a cross-validation fold may
/// not choose on, and color_jitter's hue. Returns the ColorJitter those make (off without color_jitter).
vision::ColorJitter check_train_args(const TrainArgs& a) {
    if (a.folds > 0) check_fold_recipe(a);
    const bool validate = a.val_split > 0 || a.folds > 0;
    if (a.val_split > 0 && a.alert_threshold >= 0)
        throw UsageError("--alert-threshold is for --val-split 0: with a validation split the threshold is chosen on it "
                         "(the recipe's alert_sensitivity)");
    if (!validate) {  // nothing to choose on: refuse what needs validation rather than ignore it
        if (a.alert_threshold < 0 || a.alert_threshold > 1)
            throw UsageError("--val-split 0 leaves no validation split to choose the melanoma alert threshold on: pass "
                             "--alert-threshold P in [0, 1] (e.g. the one cv chose out of fold for the recipe)");
        if (a.patience > 0)
            throw UsageError("the recipe's \"patience\" needs a validation split to monitor (--val-split 0 has none)");
        if (a.lr_schedule == "plateau")
            throw UsageError("the recipe's \"lr_schedule\": \"plateau\" needs a validation split to monitor "
                             "(--val-split 0 has none)");
    }
    if (a.color_jitter.empty()) return {};
    try {
        return vision::ColorJitter(a.color_jitter[0], a.color_jitter[1], a.color_jitter[2], a.color_jitter[3]);
    } catch (const ValueError& e) {
        throw UsageError(std::string("the recipe's \"color_jitter\": ") + e.what());
    }
}

/// The training loader's batch: --batch, capped to the training side's images with a note. Not refused: the loader
/// makes one batch of all of them either way (Keras' fit does the same), each sample draws its randomness by its
/// index, not its batch, so the run is the one --batch <images> trains; and a recipe's --batch then runs as it is
/// on a small sample (--limit). The run's records keep --batch as given.
long training_batch(const TrainArgs& a, std::size_t images) {
    const auto n = static_cast<long>(images);
    if (a.batch <= n || n == 0) return a.batch;
    std::cout << "Note: --batch " << a.batch << " is more than the " << n << " training images: each epoch is one batch of "
              << n << "\n";
    return n;
}

/// --color-jitter as the records keep it: "none", or the four strengths exactly, comma-separated.
std::string jitter_text(const vision::ColorJitter& jitter) {
    if (!jitter.enabled()) return "none";
    std::ostringstream t;
    t << exact(jitter.brightness) << "," << exact(jitter.contrast) << "," << exact(jitter.saturation) << ","
      << exact(jitter.hue);
    return t.str();
}

/// Creates the run folder (refusing one that cannot be written, before hours of training rather than after) and
/// names what an earlier run of the other mode left there: its model would sit beside this run's files.
void prepare_run_folder(const TrainArgs& a) {
    ensure_writable_dir(a.out);
    if (a.folds > 0) return;  // a fold's folder holds what `cv` put there
    const bool validate = a.val_split > 0;
    const std::vector<std::string> other_mode =
        validate ? std::vector<std::string>{"last.safetensors"} : std::vector<std::string>{"best.safetensors", "val_metrics.json"};
    for (const auto& stale : other_mode)
        if (fs::exists(a.out / stale))
            std::cerr << "warning: " << (a.out / stale) << " is from an earlier run "
                      << (validate ? "without" : "with") << " validation, not from this one\n";
}

/// The training images' augmentation as the options say (empty: none) - geometry first (Keras' layers), then
/// torchvision's ColorJitter, as the usual pipelines order them.
vision::AugmentFn training_augmentation(const TrainArgs& a, const vision::ColorJitter& jitter) {
    vision::AugmentFn augment;
    const bool geometric = a.augment == "flip-rotate-zoom";
    const vision::RandomAspect stretch(a.stretch);  // the options' checks keep it >= 1
    const vision::AugmentOptions layers{.rotation = a.rotation, .zoom_min = a.zoom.at(0), .zoom_max = a.zoom.at(1),
                                        .max_aspect = stretch.max_ratio};
    if (geometric || stretch.max_ratio != 1 || jitter.enabled()) {
        augment = [geometric, stretch, layers, jitter](float* img, int h, int w, int c, Generator& gen) {
            if (geometric)
                vision::random_augment(img, h, w, c, layers, gen);
            else
                stretch(img, h, w, c, gen);  // draws nothing when off
            if (jitter.enabled()) jitter(img, h, w, c, gen);
        };
    }
    if (geometric)
        std::cout << "Augmentation on the training side: RandomFlip, RandomRotation(" << a.rotation
                  << "), RandomZoom(" << a.zoom.at(0) << ", " << a.zoom.at(1) << ")\n";
    if (stretch.max_ratio != 1)
        std::cout << "Random horizontal stretch on the training side: width x [" << 1 / stretch.max_ratio << ", "
                  << stretch.max_ratio << "], log-uniform\n";
    if (jitter.enabled())
        std::cout << "Colour jitter on the training side: brightness " << jitter.brightness << ", contrast "
                  << jitter.contrast << ", saturation " << jitter.saturation << ", hue " << jitter.hue << "\n";
    return augment;
}

// ---- the model ------------------------------------------------------------------------------------------------

/// The recipe's network, its initial weights drawn from the seed.
nn::Sequential<float> build_model(const std::string& name, int classes, std::uint64_t seed) {
    auto model = make_model(name, classes);
    model.build({kImageSize, kImageSize, 3}, seed);
    std::cout << model.summary();
    return model;
}

/// Adam over the model's weights, with the options' weight decay, clipping and moving average.
optim::Adam<float> make_optimizer(const TrainArgs& a, nn::Sequential<float>& model) {
    const optim::CommonOptions common{.weight_decay = a.weight_decay, .global_clipnorm = a.global_clipnorm,
                                      .use_ema = a.ema > 0, .ema_momentum = a.ema > 0 ? a.ema : 0.99};
    optim::Adam<float> adam(model.parameters(), {.lr = a.lr, .common = common});
    if (const double wd = adam.common_options().weight_decay; wd > 0)
        std::cout << "Decoupled weight decay " << wd << " (AdamW: weights shrink by lr * " << wd << " each step)\n";
    if (const double clip = adam.common_options().global_clipnorm; clip > 0)
        std::cout << "Gradients clipped to a global L2 norm of at most " << exact(clip) << " (Keras' global_clipnorm)\n";
    if (adam.uses_ema())
        std::cout << "Weights averaged (EMA, momentum " << adam.common_options().ema_momentum
                  << "): validation and checkpoints use the average\n";
    return adam;
}

// ---- the run --------------------------------------------------------------------------------------------------

/// One training run: what it trains, where its files go, and what its callbacks saved so far.
struct Run {
    const TrainArgs& a;
    const TrainData& d;
    nn::Sequential<float>& model;
    optim::Adam<float>& adam;
    bool validate = false;
    bool cv = false;  // a cross-validation fold: validation is the held-out fold, scored each epoch, the last epoch kept
    fs::path best, last, backup;  // best.safetensors (with validation), last.safetensors (without), backup.safetensors
    json options;                 // run_options(): what backup.safetensors records and --resume checks
    train::EpochRecord best_record;  // the epoch this run saved in best.safetensors (epoch 0: none)
    int last_epoch = 0;              // the epoch this run saved in last.safetensors (0: none)
    bool curves = false;  // whether the last epoch's curves.png was drawn (else none is left, not even an older run's)
    // fit's callbacks, those the options ask for (FitOptions holds pointers to them)
    std::optional<train::LearningRateScheduler<float>> schedule;
    std::optional<train::ReduceLROnPlateau<float>> plateau;
    std::optional<train::EarlyStopping<float>> early_stopping;
    std::optional<train::BestModel<float>> best_model;
    train::LambdaCallback<float> files;

    Run(const TrainArgs& args, const TrainData& data, nn::Sequential<float>& m, optim::Adam<float>& opt)
        : a(args), d(data), model(m), adam(opt), validate(args.val_split > 0 || args.folds > 0), cv(args.folds > 0), best(args.out / "best.safetensors"),
          last(args.out / "last.safetensors"), backup(args.out / "backup.safetensors"),
          options(run_options(args, data.resolved)) {}

    /// A checkpoint's metadata: the classes, the alert threshold and where it came from (`from`), the epoch, and
    /// the options' entries (option_metadata()).
    [[nodiscard]] std::map<std::string, std::string> metadata(double threshold, const train::EpochRecord& rec,
                                                              const char* from) const {
        auto meta = option_metadata(a, d.resolved);
        meta["checkpoint_format"] = std::to_string(kCheckpointFormat);
        meta["recipe"] = recipe_of(a).dump();
        meta["class_names"] = json(d.names()).dump();
        meta["alert_class"] = kMelanoma;
        // exactly: older checkpoints stored one validation image's score, and rounding it up (to_string keeps 6
        // decimals) dropped that image from the alert; the threshold is now half-way to the next lower score, but
        // what was chosen is what is stored
        meta["alert_threshold"] = exact(threshold);
        meta["alert_threshold_from"] = from;
        // train scores validation without test-time augmentation; a threshold given by hand has no such scores
        meta["alert_threshold_tta"] = std::string(from) == "validation" ? "none" : "";
        meta["epoch"] = std::to_string(rec.epoch);
        meta["training_images"] = std::to_string(d.split.train.size());
        meta["val_accuracy"] = validate ? std::to_string(rec.get("val_accuracy")) : "none";
        return meta;
    }

    /// The alert threshold for the model's validation scores: chosen each time a best epoch is saved, so that the
    /// checkpoint of a run stopped early (Ctrl-C after epoch 30 of 50) carries a real one, not a placeholder.
    [[nodiscard]] double choose_threshold(const Evaluation& ev) const {
        if (d.mel < 0) return 0.5;  // no melanoma class: nothing to alert on, whatever is stored
        const auto [p, pos] = melanoma_scores(ev, d.mel);
        return train::threshold_for_sensitivity(p, pos, a.alert_sensitivity);
    }

    /// Writes history.csv and draws curves.png (removing an older one it cannot draw).
    void write_history(const train::History& h) {
        h.write_csv(a.out / "history.csv");
        curves = h.epochs.size() >= 2 && plots::training_curves(a.out, validate);
        if (!curves) {
            std::error_code ignored;
            fs::remove(a.out / "curves.png", ignored);
        }
    }
};

/// --class-weights: n / (classes * count) per class, printed, with a warning for a weight that would dominate.
std::vector<float> class_weights(const TrainData& d) {
    const std::vector<long> counts = training_counts(d);
    const int classes = d.classes();
    std::vector<float> weights;
    std::cout << "Class weights (n / (classes * count)):";
    for (std::size_t c = 0; c < counts.size(); ++c) {
        const double w = counts[c] ? static_cast<double>(d.split.train.size()) / (classes * static_cast<double>(counts[c])) : 0.0;
        weights.push_back(static_cast<float>(w));
        std::cout << " " << std::setprecision(3) << w;
    }
    std::cout << std::setprecision(6) << "\n";
    // A class with a handful of images gets a weight in the hundreds, and its few images then dominate every
    // gradient: deduplicated, the seborrheic-keratosis class keeps 1 or 2 training images (weight 175) and a run
    // diverged within 4 epochs.
    for (std::size_t c = 0; c < counts.size(); ++c)
        if (weights[c] > 20)
            std::cerr << "warning: class '" << d.names()[c] << "' has only " << counts[c] << " training image(s); its loss weight "
                      << std::setprecision(3) << weights[c] << std::setprecision(6) << " will dominate the gradient\n";
    return weights;
}

/// The learning-rate callback --lr-schedule asks for (none for constant).
void add_schedule(Run& run, train::FitOptions<float>& fo) {
    const TrainArgs& a = run.a;
    if (a.lr_schedule == "cosine") run.schedule.emplace(train::cosine_decay(a.epochs));
    if (a.lr_schedule == "step") run.schedule.emplace(train::exponential_decay(10, 0.5, /*staircase=*/true));
    if (run.schedule) fo.callbacks.push_back(&*run.schedule);
    if (a.lr_schedule == "plateau") run.plateau.emplace(train::PlateauOptions{.monitor = a.monitor, .factor = 0.5, .patience = 3});
}

/// The callbacks that write the run's files: the best checkpoint with its alert threshold (with validation), the
/// last epoch's (without), history.csv and curves, and backup.safetensors after each epoch, which --resume goes
/// on from.
void add_file_callbacks(Run& run, train::FitOptions<float>& fo) {
    if (run.validate && !run.cv) {
        run.best_model.emplace(run.a.monitor, [&run](const train::EpochRecord& rec, train::TrainContext<float>& ctx) {
            run.best_record = rec;
            const double threshold = run.choose_threshold(from_outputs(*ctx.validation, run.d.classes()));
            io::save_checkpoint(run.best, run.model, run.metadata(threshold, rec, "validation"));
            std::cout << "  saved " << run.best << "\n";
        });
        fo.callbacks.push_back(&*run.best_model);
    }
    run.files.epoch_end = [&run](const train::EpochRecord& rec, train::TrainContext<float>& ctx) {
        if (run.validate && !run.cv && !std::isfinite(rec.get("val_loss")))
            std::cout << "  (validation loss not finite: not kept as best)\n";
        run.write_history(ctx.history);
        if (!run.validate || run.cv) {  // every epoch, so a stopped run keeps its last complete one
            const bool given = !run.cv;  // a fold's threshold is chosen on all folds' scores, by `cv`
            io::save_checkpoint(run.last, run.model,
                                run.metadata(given ? run.a.alert_threshold : 0.5, rec, given ? "--alert-threshold" : "cross-validation"));
            std::cout << "  saved " << run.last << "\n";
            run.last_epoch = rec.epoch;
        }
    };
    // the training state after each epoch (weights, Adam's moments, dropout's generator, the history)
    run.files.backup = [&run](train::TrainContext<float>& ctx) {
        train::save_training_state(run.backup, run.model, run.adam, ctx.history, {{"run_options", run.options.dump()}});
    };
    fo.callbacks.push_back(&run.files);
}

/// fit's options: the loss (with class weights and label smoothing), accuracy and balanced accuracy, and the
/// callbacks: schedule, early stopping, the run's files, then ReduceLROnPlateau (last, as Keras orders it).
train::FitOptions<float> make_fit_options(Run& run, data::BatchSource<float>* validation) {
    const TrainArgs& a = run.a;
    const auto smoothing = static_cast<float>(a.label_smoothing);
    train::FitOptions<float> fo{.epochs = a.epochs};
    fo.loss = nn::SparseCategoricalCrossentropy<float>{a.class_weights ? class_weights(run.d) : std::vector<float>{}, smoothing};
    fo.validation_loss = nn::SparseCategoricalCrossentropy<float>{{}, smoothing};  // Keras weighs training only
    fo.metrics = {train::accuracy<float>(), train::balanced_accuracy<float>()};
    fo.validation = validation;
    fo.keep_validation_outputs = !run.cv;  // the best checkpoint's alert threshold is chosen on them
    if (a.label_smoothing > 0)
        std::cout << "Label smoothing " << a.label_smoothing << " (target (1 - e) * one-hot + e / " << run.d.classes()
                  << (run.validate ? "; training and validation loss, not the reports' loss" : "; training loss") << ")\n";
    add_schedule(run, fo);
    if (a.patience > 0) {
        run.early_stopping.emplace(a.monitor, a.patience);
        fo.callbacks.push_back(&*run.early_stopping);
    }
    if (job().root()) add_file_callbacks(run, fo);  // one process writes the run's files
    if (run.plateau) fo.callbacks.push_back(&*run.plateau);
    return fo;
}

// ---- --resume -------------------------------------------------------------------------------------------------

/// The epoch a best checkpoint of this program records; UsageError where it records none or not a number.
int checkpoint_epoch(const fs::path& ckpt) {
    const auto meta = io::read_checkpoint_metadata(ckpt);
    const auto it = meta.find("epoch");
    if (it == meta.end()) throw UsageError("--resume: " + ckpt.string() + " records no epoch: it is not this run's best checkpoint");
    try {
        return std::stoi(it->second);
    } catch (const std::logic_error&) {
        throw UsageError("--resume: " + ckpt.string() + ": its epoch '" + it->second + "' is not a number");
    }
}

/// Reads the run options the backup recorded and checks this command against them (resume_checks()), before the
/// state is loaded: a changed option is likelier news than a damaged file.
void check_backup_record(const Run& run) {
    const auto meta = io::read_checkpoint_metadata(run.backup);
    if (!meta.count("run_options") || !meta.count("history"))
        throw UsageError("--resume: " + run.backup.string() + " is not a training state written by melanoma train");
    try {
        resume_checks({.backup = run.backup, .recorded = json::parse(meta.at("run_options")), .now = run.options,
                       .done = json::parse(meta.at("history")).size()});
    } catch (const json::exception& e) {
        throw UsageError("--resume: " + run.backup.string() + ": its run options or history cannot be read (" + e.what() + ")");
    } catch (const std::logic_error&) {  // stoi of a recorded number
        throw UsageError("--resume: " + run.backup.string() + ": a recorded --epochs or --threads is not a number");
    }
}

/// With validation, the best epoch's checkpoint must be the one the backup's history kept.
void check_best_checkpoint(Run& run, const train::History& history) {
    std::optional<train::EpochRecord> kept;  // the epoch BestModel kept: the last one that improved
    train::MonitorTracker tracker(run.a.monitor);
    for (const auto& rec : history.epochs)
        if (tracker.update(rec)) kept = rec;
    if (!kept) return;
    if (!fs::exists(run.best))
        throw UsageError("--resume: " + run.best.string() + " is missing: the run's best epoch " + std::to_string(kept->epoch) +
                         " was saved there");
    const int saved = checkpoint_epoch(run.best);
    const auto done = static_cast<int>(history.epochs.size());
    if (saved != kept->epoch && saved <= done)  // (a later epoch: saved before an interruption, retrained)
        throw UsageError("--resume: " + run.best.string() + " holds epoch " + std::to_string(saved) + ", but the run's best epoch by " +
                         run.a.monitor + " is " + std::to_string(kept->epoch) + ": the run folder was changed since");
    run.best_record = *kept;
}

/// --resume: the model, optimizer and history restored from backup.safetensors where it exists (fit then goes on
/// as if the run had never stopped); else says the run starts afresh, or that it replaces an earlier run's backup.
void resume_or_start(Run& run, train::FitOptions<float>& fo) {
    const TrainArgs& a = run.a;
    if (!fs::exists(run.backup)) {
        if (a.resume) std::cout << "No " << run.backup << " to resume from: starting the run from its first epoch\n";
        return;
    }
    if (!a.resume) {
        std::cerr << "warning: " << run.backup << " is from an earlier run; this run replaces it (--resume goes on with it)\n";
        return;
    }
    check_backup_record(run);
    const auto state = train::load_training_state(run.backup, run.model, run.adam);  // checks it all before changing anything
    if (run.validate && !run.cv) check_best_checkpoint(run, state.history);
    else run.last_epoch = static_cast<int>(state.history.epochs.size());
    std::cout << "Resuming the run in " << a.out << " from " << run.backup.filename() << " (" << state.history.epochs.size()
              << " of " << a.epochs << " epochs done)\n";
    fo.initial_history = state.history;
    if (!job().root()) return;  // rank 0 writes the files
    // what the files say is the history's, not that of an epoch begun after the backup and cut short
    state.history.write_csv(a.out / "history.csv");
    run.curves = state.history.epochs.size() >= 2 && plots::training_curves(a.out, run.validate);
}

// ---- fit and the end of the run -------------------------------------------------------------------------------

/// How fit ended: its history, or the loss stopped being finite after the run saved what `diverged` keeps (a
/// run that saved nothing, or has no validation, ends with exit code 3 at once: `exit_code`).
struct FitOutcome {
    train::History history;
    bool diverged = false;
    std::optional<int> exit_code;
};

/// Trains: train::fit, with the validation loader where there is one (fo.validation).
FitOutcome run_fit(Run& run, data::BatchSource<float>& train_loader, const train::FitOptions<float>& fo) {
    FitOutcome out;
    try {
        out.history = train::fit(run.model, run.adam, train_loader, fo);
    } catch (const train::NonFiniteLossError& e) {
        std::cerr << "error: " << e.what() << "\n";
        // (an existing file may be an earlier run's: whether this run saved one is in best_record / last_epoch)
        const bool keeps_best = run.validate && !run.cv;
        if ((keeps_best ? run.best_record.epoch : run.last_epoch) == 0) {
            std::cerr << "no epoch was saved: no checkpoint written by this run\n";
            out.exit_code = 3;
        } else if (!keeps_best) {
            std::cerr << "kept " << run.last.string() << ", the last complete epoch (" << run.last_epoch << ")\n";
            out.exit_code = 3;
        } else {
            std::cerr << "kept " << run.best.string() << ", the best epoch before that (" << run.best_record.epoch
                      << "); its alert threshold is chosen on validation as usual\n";
            out.diverged = true;
        }
    }
    return out;
}

/// Without validation the last epoch is the model, with the alert threshold given.
int finish_without_validation(const Run& run, const train::History& history, const train::FitOptions<float>& fo) {
    const TrainArgs& a = run.a;
    if (!fo.initial_history.epochs.empty() && history.epochs.size() == fo.initial_history.epochs.size())
        // resumed with nothing left to train: last.safetensors may hold an epoch begun after the backup, and the
        // backup's is the model
        io::save_checkpoint(run.last, run.model, run.metadata(a.alert_threshold, history.epochs.back(), "--alert-threshold"));
    std::cout << "\nTrained on all " << run.d.split.train.size() << " training images for " << history.epochs.size()
              << " epochs, without validation; melanoma alert threshold p(melanoma) >= " << a.alert_threshold
              << " (given)\nWrote in " << a.out << ": " << run.last.filename() << " (the last epoch), " << run.backup.filename()
              << " (for --resume), history.csv" << (run.curves ? ", curves.png" : "") << "\n";
    return 0;
}

/// With validation: reloads the best epoch, chooses the alert threshold on the validation split and stores it in
/// the checkpoint, and reports the checkpoint on the validation split (val_metrics.json, predictions.csv, plots).
int finish_with_validation(Run& run, data::BatchSource<float>& val_loader, bool diverged) {
    const TrainArgs& a = run.a;
    if (run.best_record.epoch > 0) {
        // A resumed run accepted a best.safetensors of an epoch begun after the backup (saved before the run was
        // cut short), expecting that epoch to be trained and saved again: it must have been.
        if (const int saved = checkpoint_epoch(run.best); saved != run.best_record.epoch)
            throw UsageError(run.best.string() + " holds epoch " + std::to_string(saved) + ", saved before the run was interrupted, "
                             "but the resumed run's best epoch is " + std::to_string(run.best_record.epoch) + ", which no "
                             "file keeps: train this run again without --resume");
    }
    io::load_checkpoint(run.best, run.model);
    const auto ev = evaluate(run.model, val_loader, run.d.classes());
    const double threshold = run.choose_threshold(ev);  // as on_best chose it: the same model and images
    io::save_checkpoint(run.best, run.model, run.metadata(threshold, run.best_record, "validation"));
    std::cout << "\nBest epoch " << run.best_record.epoch << " by " << a.monitor << " (val_accuracy "
              << run.best_record.get("val_accuracy") << ", val_balanced_accuracy "
              << run.best_record.get("val_balanced_accuracy")
              << "); melanoma alert threshold chosen on validation for sensitivity >= " << a.alert_sensitivity << ": "
              << threshold << "\n\nValidation split, best checkpoint:\n";
    const auto& names = run.d.names();
    json j = report(ev, names, threshold, std::cout);
    j["best_epoch"] = run.best_record.epoch;
    write_json(a.out / "val_metrics.json", j);
    const bool drawn = plots::confusion_matrix(a.out, ev.confusion, names);
    std::vector<fs::path> val_paths;
    for (const auto i : run.d.split.validation) val_paths.push_back(run.d.set.paths[i]);
    const auto roc_files = write_details(a.out, ev, names, threshold, val_paths);
    std::cout << "\nWrote in " << a.out << ": " << run.best.filename() << ", " << run.backup.filename()
              << " (for --resume), history.csv" << (run.curves ? ", curves.png" : "")
              << "; on the validation split val_metrics.json, predictions.csv" << (drawn ? ", confusion_matrix.png" : "");
    for (const auto& f : roc_files) std::cout << ", " << f;
    std::cout << "\n";
    return diverged ? 3 : 0;
}

/// A cross-validation fold: the last epoch's model scored on the held-out fold, written as the fold's out-of-fold
/// predictions (oof.json, last so that its presence means the fold is done).
int finish_fold(const Run& run, data::BatchSource<float>& held_out) {
    const Evaluation ev = evaluate(run.model, held_out, run.d.classes());
    json images = json::array(), probabilities = json::array();
    const auto classes = static_cast<index_t>(run.d.classes());
    for (std::size_t k = 0; k < run.d.split.validation.size(); ++k) {
        images.push_back(run.d.set.paths[run.d.split.validation[k]].string());
        const float* row = ev.probabilities.data() + static_cast<index_t>(k) * classes;
        probabilities.push_back(std::vector<double>(row, row + classes));
    }
    const json oof{{"fold", run.a.fold}, {"folds", run.a.folds}, {"limit", run.a.limit}, {"class_names", run.d.names()},
                   {"recipe", recipe_of(run.a)}, {"train_folder", run.d.resolved.train_folder},
                   {"images", images}, {"labels", ev.labels}, {"probabilities", probabilities}};
    write_json(run.a.out / "oof.json", oof);
    std::cout << "\nFold " << run.a.fold + 1 << " of " << run.a.folds << ": the last epoch scored on its "
              << ev.labels.size() << " held-out images (accuracy " << ev.confusion.accuracy() << "); wrote "
              << (run.a.out / "oof.json") << "\n";
    return 0;
}

/// Refuses a data-parallel job whose processes were given other options or data (the run options but the
/// threads, which may differ between machines, and the training images).
void require_same_run(const Run& run) {
    if (job().size == 1) return;
    std::vector<std::string> lines;
    for (const auto& [key, value] : run.options.items())
        if (key != "--threads") lines.push_back(key + " " + (value.is_string() ? value.get<std::string>() : value.dump()));
    for (const auto i : run.d.split.train) lines.push_back(run.d.set.paths[i].string());
    require_same_start(lines, "options or data");
}

}  // namespace

int run_train(TrainArgs a) {
    const vision::ColorJitter jitter = check_train_args(a);
    if (job().root()) prepare_run_folder(a);
    barrier();  // the folder exists before any process looks into it
    if (a.threads == 0) a.threads = default_threads();
    if (a.threads > 0) ember::set_num_threads(a.threads);
    if (a.data.empty()) a.data = default_data_dir();

    TrainData d = load_train_data(a);
    d.resolved.threads = ember::max_threads();
    d.resolved.color_jitter = jitter_text(jitter);
    const vision::ImageDataset train_images(d.set, training_augmentation(a, jitter)), val_images(d.set);
    // Each process assembles its share of every global batch of --batch images (one process: all of it).
    data::DataLoader train_loader(train_images, d.split.train,
                                  {.batch_size = training_batch(a, d.split.train.size()), .shuffle = true, .seed = a.seed,
                                   .workers = a.loader_threads, .shard = job().rank, .shards = job().size});
    std::optional<data::DataLoader<vision::ImageDataset>> val_loader, val_whole;
    if (a.val_split > 0 || a.folds > 0) {
        val_loader.emplace(val_images, d.split.validation,
                           data::LoaderOptions{.batch_size = a.batch, .shard = job().rank, .shards = job().size});
        val_whole.emplace(val_images, d.split.validation, data::LoaderOptions{.batch_size = a.batch});
    }

    auto model = build_model(a.model, d.classes(), a.seed);
    optim::Adam<float> adam = make_optimizer(a, model);
    Run run(a, d, model, adam);
    require_same_run(run);
    train::FitOptions<float> fo = make_fit_options(run, val_loader ? &*val_loader : nullptr);
    fo.group = job().group;
    resume_or_start(run, fo);
    // every process must go on from the same epoch: each read the run folder itself
    require_same_start({"--out " + fs::absolute(a.out).string(), std::string("--resume ") + (a.resume ? "on" : "off"),
                        "epochs done " + std::to_string(fo.initial_history.epochs.size())},
                       "run folders or resume states");

    const FitOutcome fit = run_fit(run, train_loader, fo);
    if (fit.exit_code) return *fit.exit_code;
    if (!job().root()) return 0;  // rank 0 scores the model kept and writes the reports
    if (run.cv) return finish_fold(run, *val_whole);
    return run.validate ? finish_with_validation(run, *val_whole, fit.diverged)
                        : finish_without_validation(run, fit.history, fo);
}

}  // namespace melanoma
