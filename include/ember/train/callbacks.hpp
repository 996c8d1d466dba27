// ember/train/callbacks.hpp - the hooks of fit() (Keras' callbacks.Callback) and the built-in callbacks: early
// stopping, learning-rate schedules, ReduceLROnPlateau, best-model and per-epoch hooks, CSV history, and the backup
// a resumed run goes on from.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "ember/nn/module.hpp"
#include "ember/optim/optimizer.hpp"
#include "ember/train/evaluate.hpp"
#include "ember/train/history.hpp"
#include "ember/train/schedules.hpp"

namespace ember::train {

/// What a callback sees of the run.
template <Real T>
struct TrainContext {
    nn::Module<T>& model;
    optim::Optimizer<T>& optimizer;
    const History& history;  ///< the epochs so far, the current one last
    int epochs = 0;          ///< the epoch count fit was asked for
    /// Set by a callback to end training after this epoch (Keras' model.stop_training).
    bool stop_training = false;
    /// True while fit replays a resumed run's completed epochs through on_epoch_end, so that each callback's
    /// bookkeeping (best value, patience, plateau counts) is that of the uninterrupted run: save nothing then.
    bool replaying = false;
    /// Where fit writes progress (nullptr: silent); callbacks that report write here too.
    std::ostream* log = nullptr;
    /// Whether fit has validation data (FitOptions::validation): a callback that monitors a val_ figure checks it
    /// in on_train_begin, before any epoch trains.
    bool validated = false;
    /// In on_epoch_end of a validated epoch (not while replaying): the validation pass, its figures and, with
    /// FitOptions::keep_validation_outputs, every output and target in the source's order (e.g. to choose a
    /// decision threshold for the model being kept).
    const Evaluation<T>* validation = nullptr;
    /// This process's rank in data-parallel training (FitOptions::group; 0 alone). Callbacks that write files
    /// write them on rank 0 only, so that no file is written by two processes.
    int rank = 0;
};

/// The hooks of fit(), in the order it calls them. Every hook has an empty default.
template <Real T>
class Callback {
public:
    virtual ~Callback() = default;
    virtual void on_train_begin(TrainContext<T>&) {}
    /// Before epoch `epoch` (1-based) trains.
    virtual void on_epoch_begin(int /*epoch*/, TrainContext<T>&) {}
    /// After the epoch trained and validated, with its figures (also history.epochs.back()). With a moving
    /// average of the weights (CommonOptions::use_ema) the model holds the average here: what would be kept.
    virtual void on_epoch_end(const EpochRecord&, TrainContext<T>&) {}
    /// Last in each epoch, after every callback's on_epoch_end and any learning-rate change, with the model
    /// holding its raw weights: where a backup for resuming is written (Keras' BackupAndRestore).
    virtual void on_backup(TrainContext<T>&) {}
    virtual void on_train_end(TrainContext<T>&) {}
};

/// Whether a monitored figure is better higher or lower. `automatic` reads it from the name: maximised when it
/// holds "acc", "auc", "precision", "recall" or "f1"; minimised when it holds "loss", "error", "mse" or "mae";
/// anything else must say which (ValueError), so that a new metric is never silently optimised the wrong way.
/// (Keras' EarlyStopping guesses from "acc" and "auc" too; its ReduceLROnPlateau only from "acc".)
enum class Mode { automatic, min, max };

/// True when `monitor` is better higher under `mode`; ValueError naming `owner` when automatic cannot tell.
inline bool higher_is_better(const std::string& monitor, Mode mode = Mode::automatic, const std::string& owner = "monitor") {
    if (mode != Mode::automatic) return mode == Mode::max;
    const auto has = [&](const char* s) { return monitor.find(s) != std::string::npos; };
    if (has("acc") || has("auc") || has("precision") || has("recall") || has("f1")) return true;
    if (has("loss") || has("error") || has("mse") || has("mae")) return false;
    throw ValueError(detail::cat(owner, ": cannot tell whether ", monitor,
                                 " is better higher or lower; give Mode::min or Mode::max"));
}

/// The best value of a monitored figure and the epochs since it. An epoch improves when its figure beats the best
/// by more than min_delta in the monitor's direction and the epoch's loss (val_loss when validated) is finite: a
/// model whose loss is NaN or infinite gives NaN outputs and is never the one to keep.
class MonitorTracker {
public:
    /// `owner` names the callback in messages ("EarlyStopping").
    explicit MonitorTracker(std::string monitor, double min_delta = 0, std::string owner = "MonitorTracker",
                            Mode mode = Mode::automatic)
        : monitor_(std::move(monitor)), owner_(std::move(owner)), min_delta_(min_delta) {
        EMBER_CHECK(!monitor_.empty(), ValueError, owner_, ": the monitor must name a figure, e.g. val_loss");
        EMBER_CHECK(min_delta >= 0 && std::isfinite(min_delta), ValueError, owner_,
                    ": min_delta must be finite and >= 0, got ", min_delta);
        sign_ = higher_is_better(monitor_, mode, owner_) ? 1.0 : -1.0;
    }
    /// Forgets the best value (a new fit begins).
    void reset() {
        best_ = -std::numeric_limits<double>::infinity();
        since_ = 0;
    }
    /// ValueError before training when the monitor is a val_ figure and fit has no validation data.
    void check_source(bool validated) const {
        EMBER_CHECK(validated || monitor_.rfind("val_", 0) != 0, ValueError, owner_, " monitors ", monitor_,
                    ", which needs validation data (FitOptions::validation); none was given");
    }
    /// Accounts epoch `r`; true when it improves on the best so far. ValueError when `r` lacks the figure.
    bool update(const EpochRecord& r) {
        EMBER_CHECK(r.has(monitor_), ValueError, owner_, ": monitor '", monitor_, "' is not a figure of epoch ", r.epoch,
                    " (it has: ", names(r), ")", monitor_.rfind("val_", 0) == 0 ? "; fit needs validation data for it" : "");
        const double loss = r.has("val_loss") ? r.get("val_loss") : r.get("loss");
        const double score = sign_ * r.get(monitor_);
        const bool improved = std::isfinite(loss) && !std::isnan(score) && score - min_delta_ > best_;
        if (improved) {
            best_ = score;
            since_ = 0;
        } else {
            ++since_;
        }
        return improved;
    }
    [[nodiscard]] const std::string& monitor() const { return monitor_; }
    /// The best value so far in the figure's own sign (+-infinity before any).
    [[nodiscard]] double best() const { return sign_ * best_; }
    /// Epochs since the best (or since the start).
    [[nodiscard]] int since_best() const { return since_; }

private:
    static std::string names(const EpochRecord& r) {
        std::string s;
        for (const auto& [n, v] : r.values) s += (s.empty() ? "" : ", ") + n;
        return s;
    }
    std::string monitor_, owner_;
    double min_delta_;
    double sign_ = 1;
    double best_ = -std::numeric_limits<double>::infinity();
    int since_ = 0;
};

/// Keras' EarlyStopping: ends training once `monitor` has not improved for `patience` epochs (0: at the first
/// epoch that does not improve). Unlike Keras it has no restore_best_weights, baseline or start_from_epoch (keep
/// the best model with ModelCheckpoint or BestModel), and an epoch whose loss is not finite never improves, so a
/// first epoch with a NaN validation loss counts against the patience.
template <Real T>
class EarlyStopping final : public Callback<T> {
public:
    explicit EarlyStopping(std::string monitor = "val_loss", int patience = 0, double min_delta = 0,
                           Mode mode = Mode::automatic)
        : tracker_(std::move(monitor), min_delta, "EarlyStopping", mode), patience_(patience) {
        EMBER_CHECK(patience >= 0, ValueError, "EarlyStopping: patience must be >= 0, got ", patience);
    }
    void on_train_begin(TrainContext<T>& ctx) override {  // as Keras, each fit starts afresh
        tracker_.check_source(ctx.validated);
        tracker_.reset();
        stopped_epoch_ = 0;
    }
    void on_epoch_end(const EpochRecord& r, TrainContext<T>& ctx) override {
        tracker_.update(r);
        if (tracker_.since_best() < std::max(patience_, 1)) return;
        ctx.stop_training = true;
        stopped_epoch_ = r.epoch;
        if (ctx.log && !ctx.replaying)
            *ctx.log << "Early stopping: no better " << tracker_.monitor() << " for " << tracker_.since_best()
                     << (tracker_.since_best() == 1 ? " epoch\n" : " epochs\n");
    }
    /// The epoch after which it stopped training (0: it did not).
    [[nodiscard]] int stopped_epoch() const { return stopped_epoch_; }

private:
    MonitorTracker tracker_;
    int patience_;
    int stopped_epoch_ = 0;
};

/// Sets the rate before each epoch: epoch e (1-based) trains at schedule(e, initial rate), the initial rate being
/// the optimizer's when fit begins (load_training_state does not change it, so a resumed run's optimizer, built
/// as the run began, gives the same) unless set_initial_rate() fixed one. Like Keras' LearningRateScheduler,
/// except that Keras passes a 0-based epoch and the current rate: a Keras schedule `lr * k` is, here,
/// `initial * pow(k, e - 1)`.
template <Real T>
class LearningRateScheduler final : public Callback<T> {
public:
    explicit LearningRateScheduler(LrSchedule schedule) : schedule_(std::move(schedule)) {
        EMBER_CHECK(static_cast<bool>(schedule_), ValueError, "LearningRateScheduler: no schedule given");
    }
    /// Fixes the rate the schedule starts from, for every later fit.
    void set_initial_rate(double lr) { fixed_ = lr; }
    void on_train_begin(TrainContext<T>& ctx) override {
        initial_ = std::isnan(fixed_) ? ctx.optimizer.learning_rate() : fixed_;
    }
    void on_epoch_begin(int epoch, TrainContext<T>& ctx) override {
        ctx.optimizer.set_learning_rate(schedule_(epoch, initial_));
    }

private:
    LrSchedule schedule_;
    double fixed_ = std::numeric_limits<double>::quiet_NaN(), initial_ = 0;
};

/// Keras' ReduceLROnPlateau, with its defaults: when `monitor` has not improved by more than min_delta for
/// `patience` epochs, the rate becomes max(rate * factor, min_lr); then `cooldown` epochs pass before counting
/// again. As in Keras the lowered rate stays in the optimizer when fit returns.
struct PlateauOptions {
    std::string monitor = "val_loss";
    Mode mode = Mode::automatic;
    double factor = 0.1;
    int patience = 10;
    double min_delta = 1e-4;
    int cooldown = 0;
    double min_lr = 0;
};

template <Real T>
class ReduceLROnPlateau final : public Callback<T> {
public:
    /// ValueError for a factor outside (0, 1) (Keras refuses >= 1) or a negative patience, cooldown or min_lr.
    explicit ReduceLROnPlateau(PlateauOptions o = {})
        : o_(std::move(o)), tracker_(o_.monitor, o_.min_delta, "ReduceLROnPlateau", o_.mode) {
        EMBER_CHECK(o_.factor > 0 && o_.factor < 1, ValueError, "ReduceLROnPlateau: factor must lie in (0, 1), got ",
                    o_.factor);
        EMBER_CHECK(o_.patience >= 0 && o_.cooldown >= 0 && o_.min_lr >= 0 && std::isfinite(o_.min_lr), ValueError,
                    "ReduceLROnPlateau: patience, cooldown and min_lr must be finite and >= 0, got ", o_.patience,
                    ", ", o_.cooldown, ", ", o_.min_lr);
    }
    void on_train_begin(TrainContext<T>& ctx) override {  // as Keras, each fit starts afresh
        tracker_.check_source(ctx.validated);
        tracker_.reset();
        wait_ = waited_ = cooldown_ = 0;
        reduced_ = false;
    }
    void on_epoch_end(const EpochRecord& r, TrainContext<T>& ctx) override;
    /// Whether the last epoch lowered the rate, and after how many epochs without improvement.
    [[nodiscard]] bool reduced() const { return reduced_; }
    [[nodiscard]] int waited() const { return waited_; }

private:
    PlateauOptions o_;
    MonitorTracker tracker_;
    int wait_ = 0, waited_ = 0, cooldown_ = 0;
    bool reduced_ = false;
};

template <Real T>
void ReduceLROnPlateau<T>::on_epoch_end(const EpochRecord& r, TrainContext<T>& ctx) {
    reduced_ = false;
    if (cooldown_ > 0) {
        --cooldown_;
        wait_ = 0;
    }
    const double lr = r.get("learning_rate");
    if (tracker_.update(r)) {
        wait_ = 0;
    } else if (cooldown_ == 0 && ++wait_ >= o_.patience && lr > o_.min_lr) {
        // (a rate that has reached min_lr exactly is not "reduced" to it again)
        const double lowered = std::max(lr * o_.factor, o_.min_lr);
        ctx.optimizer.set_learning_rate(lowered);
        reduced_ = true;
        waited_ = wait_;
        if (ctx.log && !ctx.replaying)
            *ctx.log << "Epoch " << r.epoch << ": ReduceLROnPlateau reducing learning rate to " << lowered
                     << " (no better " << o_.monitor << " for " << waited_ << " epoch" << (waited_ == 1 ? "" : "s")
                     << ")\n";
        cooldown_ = o_.cooldown;
        wait_ = 0;
    }
}

/// Calls `on_improve(record, context)` each time `monitor` improves (never while replaying a resumed run, nor
/// for an epoch whose loss is not finite): where a program saves its best model (Keras' ModelCheckpoint with
/// save_best_only). best() gives the last improving epoch; a resumed run's replay restores it. In data-parallel
/// training it runs on every process: a hook that writes files checks TrainContext::rank.
template <Real T>
class BestModel final : public Callback<T> {
public:
    using Hook = std::function<void(const EpochRecord&, TrainContext<T>&)>;
    BestModel(std::string monitor, Hook on_improve, Mode mode = Mode::automatic)
        : tracker_(std::move(monitor), 0, "BestModel", mode), hook_(std::move(on_improve)) {}
    void on_train_begin(TrainContext<T>& ctx) override {
        tracker_.check_source(ctx.validated);
        tracker_.reset();
        best_ = {};
    }
    void on_epoch_end(const EpochRecord& r, TrainContext<T>& ctx) override {
        if (!tracker_.update(r)) return;
        best_ = r;
        if (!ctx.replaying && hook_) hook_(r, ctx);
    }
    /// The best epoch so far (epoch 0 before any).
    [[nodiscard]] const EpochRecord& best() const { return best_; }
    [[nodiscard]] const MonitorTracker& tracker() const { return tracker_; }

private:
    MonitorTracker tracker_;
    Hook hook_;
    EpochRecord best_;
};

/// Keras' LambdaCallback: ad-hoc hooks from functions (on_epoch_end is skipped while replaying a resumed run). In
/// data-parallel training the hooks run on every process: one that writes files checks TrainContext::rank.
template <Real T>
class LambdaCallback final : public Callback<T> {
public:
    std::function<void(const EpochRecord&, TrainContext<T>&)> epoch_end;
    std::function<void(TrainContext<T>&)> backup;
    void on_epoch_end(const EpochRecord& r, TrainContext<T>& ctx) override {
        if (epoch_end && !ctx.replaying) epoch_end(r, ctx);
    }
    void on_backup(TrainContext<T>& ctx) override {
        if (backup) backup(ctx);
    }
};

/// Keras' CSVLogger: writes the history (History::write_csv) to `path` after every epoch.
template <Real T>
class CSVLogger final : public Callback<T> {
public:
    explicit CSVLogger(std::filesystem::path path) : path_(std::move(path)) {}
    void on_epoch_end(const EpochRecord&, TrainContext<T>& ctx) override {
        if (!ctx.replaying && ctx.rank == 0) ctx.history.write_csv(path_);  // one process writes it
    }

private:
    std::filesystem::path path_;
};

}  // namespace ember::train
