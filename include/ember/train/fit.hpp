// ember/train/fit.hpp - the training loop (Keras' model.fit): any Module, any BatchSource of (inputs, targets),
// the loss and metrics the caller gives, validation after each epoch, callbacks for everything else (early
// stopping, schedules, checkpoints, backups), a progress bar, NaN detection and resuming.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "ember/data/dataset.hpp"
#include "ember/data/loader.hpp"
#include "ember/nn/loss.hpp"
#include "ember/nn/module.hpp"
#include "ember/optim/optimizer.hpp"
#include "ember/train/callbacks.hpp"
#include "ember/train/evaluate.hpp"
#include "ember/train/history.hpp"
#include "ember/train/metric.hpp"
#include "ember/train/process_group.hpp"
#include "ember/train/progress.hpp"

namespace ember::train {

/// Thrown when the training loss stops being a finite number; the message says at which epoch and batch.
class NonFiniteLossError : public StateError {
public:
    using StateError::StateError;
};

template <Real T>
struct FitOptions {
    int epochs = 1;
    /// The training loss (required): nn::SparseCategoricalCrossentropy<T>{}, nn::MeanSquaredError<T>{}, or any
    /// callable (outputs, targets) -> scalar tensor.
    nn::Loss<T> loss;
    /// The validation loss; empty: `loss`. (Keras applies class weights to training only: give the unweighted
    /// loss here when the training loss weights classes.)
    nn::Loss<T> validation_loss;
    /// Figures measured on the training batches and, with validation data, as "val_" + name after each epoch.
    std::vector<std::shared_ptr<Metric<T>>> metrics;
    /// Evaluated after each epoch (nullptr: none; the history then has no val_ figures).
    data::BatchSource<T>* validation = nullptr;
    /// Keep every validation output and target for on_epoch_end (TrainContext::validation), e.g. for a callback
    /// that chooses a decision threshold on them; off, the validation pass keeps only its figures.
    bool keep_validation_outputs = false;
    /// Called in order at each hook (not owned: they must outlive fit).
    std::vector<Callback<T>*> callbacks;
    /// The epochs a run already completed, for resuming it in a model and optimizer restored to their state after
    /// the last of them (load_training_state): fit replays them through every callback's on_epoch_end (with
    /// TrainContext::replaying set) so that best values, patience and plateau counts are the uninterrupted run's,
    /// then trains from the next epoch. ValueError unless they are epochs 1, 2, ... in order.
    History initial_history;
    std::ostream* log = &std::cout;  ///< progress and epoch lines; nullptr for silence
    /// Redraw the progress bar in place ('\r'); unset: when `log` is std::cout and that is a terminal.
    std::optional<bool> interactive_progress;
    /// Data-parallel training over these processes (not owned; nullptr: this process alone). Each process gives
    /// fit its shard of every global batch (LoaderOptions::shard, shards), of the training and validation data;
    /// fit broadcasts process 0's training state at the start, sums the gradients of each step across processes
    /// before the optimizer's step, and computes the loss and metrics of the global batches, so that every process
    /// holds the same weights and figures as one process given the global batches would. Only process 0 logs and
    /// runs the callbacks' file writing (TrainContext::rank).
    ProcessGroup* group = nullptr;
};

namespace fit_detail {
/// A loss for messages and the log: "nan" whatever the NaN's sign bit (streams print "-nan" for some).
struct LossValue {
    double v;
    friend std::ostream& operator<<(std::ostream& os, LossValue l) { return std::isnan(l.v) ? os << "nan" : os << l.v; }
};

/// Restores the raw weights into the model if an optimizer's moving averages are swapped in when fit leaves by an
/// exception, as Keras leaves it.
template <Real T>
struct SwapBackOnThrow {
    optim::Optimizer<T>& opt;
    ~SwapBackOnThrow() {
        if (opt.averages_swapped_in()) opt.swap_averages();
    }
};

template <Real T>
void check_options(const FitOptions<T>& o) {
    EMBER_CHECK(o.epochs > 0, ValueError, "fit: epochs must be > 0, got ", o.epochs);
    EMBER_CHECK(static_cast<bool>(o.loss), ValueError, "fit: no loss given (FitOptions::loss)");
    std::vector<std::string> names{"loss", "learning_rate", "seconds", "grad_norm_mean", "grad_norm_max"};
    for (const auto& m : o.metrics) {
        EMBER_CHECK(m != nullptr, ValueError, "fit: a metric is null");
        const std::string name = m->name();
        EMBER_CHECK(std::find(names.begin(), names.end(), name) == names.end(), ValueError, "fit: two figures would be ",
                    "named '", name, "' (metrics must have distinct names, other than loss, learning_rate, seconds ",
                    "and grad_norm_*)");
        names.push_back(name);
    }
    for (const auto* c : o.callbacks) EMBER_CHECK(c != nullptr, ValueError, "fit: a callback is null");
    for (std::size_t k = 0; k < o.initial_history.epochs.size(); ++k)
        EMBER_CHECK(o.initial_history.epochs[k].epoch == static_cast<int>(k) + 1, ValueError,
                    "fit: initial_history must hold epochs 1, 2, ... in order; record ", k + 1, " is epoch ",
                    o.initial_history.epochs[k].epoch);
}

/// What one training step measured: the mean loss, the outputs and targets (of the global batch in data-parallel
/// training) and the number of rows.
template <Real T>
struct StepResult {
    double loss = 0;
    Tensor<T> outputs, targets;
    index_t rows = 0;
};

/// One step on batch `b`: forward, loss, backward, step; in data-parallel training on this process's shard, with the
/// loss, outputs and gradients of the global batch. Throws NonFiniteLossError (on every process alike) when the loss
/// is not finite.
template <Real T>
StepResult<T> train_step(nn::Module<T>& model, optim::Optimizer<T>& opt, const data::Batch<T>& b,
                         const FitOptions<T>& o, int epoch, long step, long steps) {
    StepResult<T> r{0, {}, b.targets, b.size()};
    EMBER_CHECK(!o.group || o.group->size() == 1 || b.global_rows > 0, ValueError, "fit: with ", o.group ? o.group->size() : 1,
                " processes each must give its shard of every global batch (LoaderOptions::shard, shards), not the "
                "whole batch");
    const BatchShardScope shard({b.global_offset, b.global_rows});
    Tensor<T> loss;
    if (b.size() > 0) {
        r.outputs = model(b.inputs);
        loss = o.loss(r.outputs, b.targets);
        r.loss = static_cast<double>(loss.item());
    }
    double global_rows = static_cast<double>(r.rows);
    if (o.group) {  // the global batch's mean loss: each shard's mean weighted by its rows
        double sums[2] = {r.loss * static_cast<double>(r.rows), static_cast<double>(r.rows)};
        o.group->sum(std::span<double>(sums));
        r.loss = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
        global_rows = sums[1];
    }
    if (!std::isfinite(r.loss))
        throw NonFiniteLossError(detail::cat("fit: the loss became ", LossValue{r.loss}, " at epoch ", epoch,
                                             ", batch ", step, " of ", steps, "; training stopped after ", epoch - 1,
                                             " complete epoch", epoch == 2 ? "" : "s"));
    opt.zero_grad();
    if (loss.defined()) loss.backward();
    if (o.group) {
        reduce_gradients(*o.group, opt.parameters(), global_rows > 0 ? static_cast<double>(b.size()) / global_rows : 0.0);
        r.outputs = gather_rows(*o.group, r.outputs);  // a copy: no graph comes with it
        r.targets = gather_rows(*o.group, b.size() > 0 ? b.targets : Tensor<T>());
        r.rows = r.targets.size(0);
        // A process with an empty shard ran no forward pass: its Dropout generators did not advance. The last
        // process's shard is never empty.
        if (b.global_rows < o.group->size()) broadcast_generators(*o.group, model, o.group->size() - 1);
    }
    opt.step();
    if (r.outputs.defined()) r.outputs = r.outputs.detach();
    return r;
}

/// One pass over the training batches (train_step each). Records the loss, the metrics and the gradient norms
/// (before clipping) in `rec`.
template <Real T>
void train_epoch(nn::Module<T>& model, optim::Optimizer<T>& opt, data::BatchSource<T>& source, const FitOptions<T>& o,
                 std::vector<std::unique_ptr<Metric<T>>>& metrics, EpochRecord& rec, std::ostream* log) {
    model.train();
    source.start_epoch(rec.epoch);
    const long steps = source.batches_per_epoch();
    std::optional<ProgressBar> bar;
    if (log) bar.emplace(steps, *log, o.interactive_progress.value_or(log == &std::cout && ::isatty(STDOUT_FILENO) != 0));
    for (auto& m : metrics) m->reset();
    double loss_sum = 0, norm_sum = 0, norm_max = 0;
    long seen = 0, step = 0;
    data::Batch<T> b;
    while (source.next(b)) {
        ++step;
        const StepResult<T> r = train_step(model, opt, b, o, rec.epoch, step, steps);
        norm_sum += opt.last_gradient_norm();
        if (!(opt.last_gradient_norm() <= norm_max)) norm_max = opt.last_gradient_norm();  // NaN stays NaN
        if (r.rows > 0)
            for (auto& m : metrics) m->update(r.outputs, r.targets);
        loss_sum += r.loss * static_cast<double>(r.rows);
        seen += static_cast<long>(r.rows);
        if (bar && metrics.empty()) bar->update(step, seen, loss_sum / static_cast<double>(seen));
        if (bar && !metrics.empty())
            bar->update(step, seen, loss_sum / static_cast<double>(seen), metrics.front()->name(),
                        metrics.front()->result());
    }
    rec.set("loss", seen ? loss_sum / static_cast<double>(seen) : std::nan(""));
    for (auto& m : metrics) rec.set(m->name(), m->result());
    rec.set("learning_rate", opt.learning_rate());
    if (step > 0) {
        rec.set("grad_norm_mean", norm_sum / static_cast<double>(step));
        rec.set("grad_norm_max", norm_max);
    }
}

/// The epoch line: "  loss 0.69 accuracy 0.5 | val_loss ... | 12.3s".
inline void log_epoch(std::ostream& log, const EpochRecord& rec) {
    log << " ";
    for (const auto& [name, v] : rec.values) {
        if (name == "learning_rate" || name == "seconds" || name.rfind("grad_norm", 0) == 0) continue;
        log << (name == "val_loss" ? " |" : "") << " " << name << " " << LossValue{v};
    }
    log << " | " << ProgressBar::format_seconds(rec.get("seconds")) << "\n";
}
}  // namespace fit_detail

/// Trains `model` with `opt` on the batches of `train` for o.epochs epochs and returns the history (Keras'
/// fit). Each epoch: callbacks' on_epoch_begin, the training pass (loss, metrics, gradient norms), validation
/// when o.validation is set (val_loss and val_ metrics, the model in inference mode), on_epoch_end, on_backup;
/// training ends early when a callback sets TrainContext::stop_training. With an optimizer keeping a moving
/// average of the weights (CommonOptions::use_ema), validation and on_epoch_end see the averaged weights and the
/// model holds them when fit returns; training and on_backup see the raw weights. Throws NonFiniteLossError
/// (naming the epoch, the batch and how many epochs completed) when a training loss is NaN or infinite; the model
/// then holds its raw weights.
template <Real T>
History fit(nn::Module<T>& model, optim::Optimizer<T>& opt, data::BatchSource<T>& train, const FitOptions<T>& o) {
    fit_detail::check_options(o);
    if (o.group) broadcast_training_state(*o.group, model, opt);
    std::ostream* const log = o.group && !o.group->is_root() ? nullptr : o.log;
    History history;
    TrainContext<T> ctx{model, opt, history, o.epochs};
    ctx.log = log;
    ctx.rank = o.group ? o.group->rank() : 0;
    ctx.validated = o.validation != nullptr;
    for (auto* c : o.callbacks) c->on_train_begin(ctx);
    ctx.replaying = true;  // the completed epochs re-enacted, the history growing as it did
    for (const auto& rec : o.initial_history.epochs) {
        history.epochs.push_back(rec);
        for (auto* c : o.callbacks) c->on_epoch_end(history.epochs.back(), ctx);
    }
    ctx.replaying = false;
    const int first = static_cast<int>(history.epochs.size()) + 1;
    if (first > 1 && log)
        *log << "Resuming after epoch " << first - 1 << " of " << o.epochs
               << (ctx.stop_training ? "; it had stopped early, nothing left to train"
                   : first > o.epochs ? "; nothing left to train" : "")
               << "\n";
    std::vector<std::unique_ptr<Metric<T>>> metrics;
    for (const auto& m : o.metrics) metrics.push_back(m->clone());
    const nn::Loss<T>& val_loss = o.validation_loss ? o.validation_loss : o.loss;
    fit_detail::SwapBackOnThrow<T> swap_back{opt};
    for (int epoch = first; epoch <= o.epochs && !ctx.stop_training; ++epoch) {
        if (opt.averages_swapped_in()) opt.swap_averages();  // back to the raw weights
        for (auto* c : o.callbacks) c->on_epoch_begin(epoch, ctx);
        if (log) *log << "Epoch " << epoch << "/" << o.epochs << " (lr " << opt.learning_rate() << ")\n";
        const auto start = std::chrono::steady_clock::now();
        EpochRecord rec;
        rec.epoch = epoch;
        fit_detail::train_epoch(model, opt, train, o, metrics, rec, log);
        if (o.group) broadcast_buffers(*o.group, model);  // one model's moving statistics, validated and saved
        if (opt.uses_ema()) opt.swap_averages();  // the averaged model, until the next epoch
        std::optional<Evaluation<T>> ev;
        if (o.validation) {
            ev = evaluate(model, *o.validation, val_loss, o.metrics, o.keep_validation_outputs, o.group);
            for (const auto& [name, v] : ev->figures) rec.set("val_" + name, v);
        }
        rec.set("seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        history.epochs.push_back(rec);
        if (log) fit_detail::log_epoch(*log, rec);
        ctx.validation = ev ? &*ev : nullptr;
        for (auto* c : o.callbacks) c->on_epoch_end(history.epochs.back(), ctx);
        ctx.validation = nullptr;
        if (opt.averages_swapped_in()) opt.swap_averages();  // the raw weights, which training goes on from
        for (auto* c : o.callbacks) c->on_backup(ctx);
    }
    opt.finalize_variable_values();  // as Keras' fit ends: the averages become the weights
    for (auto* c : o.callbacks) c->on_train_end(ctx);
    return history;
}

/// fit() over a Dataset directly: a shuffling DataLoader of `batch_size` with order and per-sample randomness
/// seeded by `seed`.
template <data::Dataset D, Real T = typename D::value_type>
History fit(nn::Module<T>& model, optim::Optimizer<T>& opt, const D& train_set, const FitOptions<T>& o,
            index_t batch_size = 32, std::uint64_t seed = 0) {
    data::DataLoader<D> loader(train_set, {.batch_size = batch_size, .shuffle = true, .seed = seed});
    return fit(model, opt, loader, o);
}

}  // namespace ember::train
