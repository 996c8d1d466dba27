// ember/train/fit.hpp - the training loop: epochs of mini-batches with progress, validation after each epoch,
// history, best-by-validation callback (checkpoints), early stopping, learning-rate schedules, NaN detection.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "ember/autograd/ops.hpp"
#include "ember/data/augment.hpp"
#include "ember/data/loader.hpp"
#include "ember/nn/sequential.hpp"
#include "ember/optim/optimizer.hpp"
#include "ember/train/history.hpp"
#include "ember/train/metrics.hpp"
#include "ember/train/progress.hpp"
#include "ember/train/schedules.hpp"

namespace ember::train {

using data::Batch;

/// What fit() and evaluate() need from a data source: the number of batches in an epoch, a way to start an
/// epoch (reshuffling, for a training source) and to take the next batch (false at the end of the epoch).
template <class L, class T>
concept BatchSource = requires(L& l, int epoch, Batch<T>& b) {
    { l.batches_per_epoch() } -> std::convertible_to<long>;
    l.start_epoch(epoch);
    { l.next(b) } -> std::same_as<bool>;
};

/// Thrown when the loss stops being a finite number; the message says at which epoch and batch.
class NonFiniteLossError : public StateError {
public:
    using StateError::StateError;
};

struct Evaluation {
    double loss = 0;
    ConfusionMatrix confusion{1};
    Tensor<float> probabilities;  // [N, classes], softmax of the logits, in the source's order
    std::vector<std::int32_t> labels;
};

/// Test-time augmentation for evaluate(): `flips` averages the class probabilities of each image over its four
/// flips (as is, left-right, top-bottom, both) - exact permutations of the pixels, which a model trained with
/// Keras' RandomFlip has seen - at four times the cost.
enum class TestTimeAugment { none, flips };

/// Parses "none" | "flips"; ValueError naming the choices otherwise.
inline TestTimeAugment parse_test_time_augment(const std::string& name) {
    if (name == "none") return TestTimeAugment::none;
    if (name == "flips") return TestTimeAugment::flips;
    throw ValueError(detail::cat("unknown test-time augmentation '", name, "': expected none or flips"));
}

namespace tta_detail {
/// A copy of the NHWC batch x flipped left-right and/or top-bottom.
template <Real T>
Tensor<T> flipped(const Tensor<T>& x, bool horizontal, bool vertical) {
    EMBER_CHECK(x.rank() == 4, ShapeError, "test-time flips: expected images [N, H, W, C], got ", x.shape());
    Tensor<T> out = x.clone();
    const index_t image = x.numel() / std::max<index_t>(x.size(0), 1);
    for (index_t i = 0; i < x.size(0); ++i)
        data::flip(out.data() + i * image, static_cast<int>(x.size(1)), static_cast<int>(x.size(2)),
                   static_cast<int>(x.size(3)), horizontal, vertical);
    return out;
}

/// p = softmax(model(x)) becomes the mean of it and the softmax of the three flipped copies.
template <Real T>
void average_flips(nn::Sequential<T>& model, const Tensor<T>& x, Tensor<T>& p) {
    for (const auto& [h, v] : {std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
        const Tensor<T> q = softmax(model(flipped(x, h, v)));
        for (index_t i = 0; i < p.numel(); ++i) p.data()[i] += q.data()[i];
    }
    for (auto& v : p.span()) v /= T(4);
}
}  // namespace tta_detail

/// Class probabilities [N, classes] of the images x [N, H, W, C]: softmax of the model's logits, or with
/// `flips` their mean over the four flips of each image. Runs the model as it is (call eval() and hold a
/// NoGradGuard for inference).
template <Real T>
Tensor<T> predict_probabilities(nn::Sequential<T>& model, const Tensor<T>& x, TestTimeAugment tta = TestTimeAugment::none) {
    Tensor<T> p = softmax(model(x));
    if (tta == TestTimeAugment::flips) tta_detail::average_flips(model, x, p);
    return p;
}

/// Runs `model` in inference mode (no dropout, no autograd) over one epoch of `source`, returning the mean loss,
/// the confusion matrix and the class probabilities. With test-time augmentation the probabilities are the
/// mean over the augmented copies, and the loss and predictions are computed from that mean. The loss is
/// sparse_categorical_crossentropy with `class_weights` and `label_smoothing` (fit validates without class
/// weights, as Keras applies class_weight during training only, and with the training's label smoothing).
template <Real T, class Source>
    requires BatchSource<Source, T>
Evaluation evaluate(nn::Sequential<T>& model, Source& source, int classes, std::span<const T> class_weights = {},
                    TestTimeAugment tta = TestTimeAugment::none, std::type_identity_t<T> label_smoothing = 0) {
    EMBER_CHECK(label_smoothing >= 0 && label_smoothing <= 1, ValueError,
                "evaluate: label_smoothing must be in [0, 1], got ", label_smoothing);
    const bool was_training = model.is_training();
    model.eval();
    NoGradGuard no_grad;
    Evaluation ev;
    ev.confusion = ConfusionMatrix(classes);
    std::vector<float> probs;
    double loss_sum = 0;
    long seen = 0;
    source.start_epoch(0);
    Batch<T> b;
    while (source.next(b)) {
        Tensor<T> logits = model(b.images);
        EMBER_CHECK(logits.rank() == 2 && logits.size(1) == classes, ShapeError, "evaluate: the model gives ",
                    logits.shape(), ", expected [N, ", classes, "]");
        seen += static_cast<long>(b.labels.size());
        ev.labels.insert(ev.labels.end(), b.labels.begin(), b.labels.end());
        if (tta == TestTimeAugment::none) {
            loss_sum += static_cast<double>(sparse_categorical_crossentropy(logits, std::span<const std::int32_t>(b.labels),
                                                                            class_weights, label_smoothing).item()) *
                        static_cast<double>(b.labels.size());
            ev.confusion.add(b.labels, argmax_rows(logits));
            const Tensor<T> p = softmax(logits);
            for (T v : p.span()) probs.push_back(static_cast<float>(v));
            continue;
        }
        EMBER_CHECK(class_weights.empty() || static_cast<int>(class_weights.size()) == classes, ShapeError,
                    "evaluate: ", class_weights.size(), " class weights for ", classes, " classes");
        Tensor<T> p = softmax(logits);
        tta_detail::average_flips(model, b.images, p);
        // The loss of the mean probabilities, as Keras computes a cross-entropy from probabilities: clipped
        // to [1e-7, 1], against the (smoothed) target, weighted by w[y], summed and divided by N.
        const double off = static_cast<double>(label_smoothing) / classes, on = 1.0 - static_cast<double>(label_smoothing);
        for (std::size_t i = 0; i < b.labels.size(); ++i) {
            const std::int32_t y = b.labels[i];
            EMBER_CHECK(y >= 0 && y < classes, IndexError, "evaluate: label ", y, " of batch image ", i,
                        " is outside [0, ", classes, ")");
            const double w = class_weights.empty() ? 1.0 : static_cast<double>(class_weights[static_cast<std::size_t>(y)]);
            const T* pi = p.data() + static_cast<index_t>(i) * classes;
            double row = on * std::log(std::clamp(static_cast<double>(pi[y]), 1e-7, 1.0));
            if (label_smoothing != 0)
                for (int j = 0; j < classes; ++j) row += off * std::log(std::clamp(static_cast<double>(pi[j]), 1e-7, 1.0));
            loss_sum -= w * row;
        }
        ev.confusion.add(b.labels, argmax_rows(p));
        for (T v : p.span()) probs.push_back(static_cast<float>(v));
    }
    ev.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
    ev.probabilities = Tensor<float>::from_data({static_cast<index_t>(ev.labels.size()), classes}, probs);
    model.train(was_training);
    return ev;
}

/// The evaluation of an ensemble: the mean of the members' class probabilities (each an evaluate() of one model
/// over the same images in the same order), with the predictions and the loss taken from that mean (the loss
/// as Keras computes a cross-entropy from probabilities: clipped to [1e-7, 1], unweighted).
inline Evaluation ensemble(const std::vector<Evaluation>& members) {
    EMBER_CHECK(!members.empty(), ValueError, "ensemble: no members");
    const Evaluation& first = members.front();
    const index_t n = first.probabilities.size(0), classes = first.probabilities.size(1);
    for (const auto& m : members)
        EMBER_CHECK(m.labels == first.labels && m.probabilities.shape() == first.probabilities.shape(), ValueError,
                    "ensemble: the members were evaluated on different images (", m.probabilities.shape(), " vs ",
                    first.probabilities.shape(), ")");
    Evaluation ev;
    ev.labels = first.labels;
    ev.probabilities = Tensor<float>::zeros(first.probabilities.shape());
    for (const auto& m : members)
        for (index_t i = 0; i < ev.probabilities.numel(); ++i)
            ev.probabilities.data()[i] += m.probabilities.data()[i] / static_cast<float>(members.size());
    ev.confusion = ConfusionMatrix(static_cast<int>(classes));
    ev.confusion.add(ev.labels, argmax_rows(ev.probabilities));
    double loss = 0;
    for (index_t i = 0; i < n; ++i) {
        const double py = ev.probabilities.data()[i * classes + ev.labels[static_cast<std::size_t>(i)]];
        loss -= std::log(std::clamp(py, 1e-7, 1.0));
    }
    ev.loss = n ? loss / static_cast<double>(n) : 0.0;
    return ev;
}

/// The validation figure that decides the best epoch (checkpointing) and early stopping, as Keras'
/// `monitor`: accuracy and balanced accuracy are maximised, the loss minimised. Balanced accuracy (the mean
/// per-class recall) does not reward predicting the majority class, which accuracy does on imbalanced data.
enum class Monitor { val_accuracy, val_balanced_accuracy, val_loss };

inline const char* monitor_name(Monitor m) {
    switch (m) {
        case Monitor::val_accuracy: return "val_accuracy";
        case Monitor::val_balanced_accuracy: return "val_balanced_accuracy";
        case Monitor::val_loss: return "val_loss";
    }
    return "?";
}

/// Parses "val_accuracy" | "val_balanced_accuracy" | "val_loss"; ValueError naming the choices otherwise.
inline Monitor parse_monitor(const std::string& name) {
    for (Monitor m : {Monitor::val_accuracy, Monitor::val_balanced_accuracy, Monitor::val_loss})
        if (name == monitor_name(m)) return m;
    throw ValueError(detail::cat("unknown monitor '", name,
                                 "': expected val_accuracy, val_balanced_accuracy or val_loss"));
}

/// An epoch's monitored figure as a score where higher is better (val_loss negated).
inline double monitor_score(const EpochRecord& r, Monitor m) {
    switch (m) {
        case Monitor::val_balanced_accuracy: return r.val_balanced_accuracy;
        case Monitor::val_loss: return -r.val_loss;
        default: return r.val_accuracy;
    }
}

/// Whether epoch `r` is a better one to keep than an earlier best scoring `best` (-infinity before any): its
/// monitored score is higher and its validation loss finite (a model whose validation loss is not finite gives
/// NaN or infinite outputs: never the one to keep). fit's rule for on_best.
inline bool improves_on(double best, const EpochRecord& r, Monitor m) {
    return std::isfinite(r.val_loss) && monitor_score(r, m) > best;
}

/// The epoch fit() kept as the best of a validated history (the last on_best it called), or nothing.
inline std::optional<EpochRecord> best_epoch(const History& h, Monitor m) {
    std::optional<EpochRecord> out;
    double best = -std::numeric_limits<double>::infinity();
    for (const auto& r : h.epochs)
        if (improves_on(best, r, m)) {
            best = monitor_score(r, m);
            out = r;
        }
    return out;
}

/// Keras' ReduceLROnPlateau callback, with its defaults: when `monitor` has not improved by more than min_delta
/// for `patience` epochs, the rate becomes max(rate * factor, min_lr); then `cooldown` epochs pass before
/// counting again.
struct ReduceLROnPlateau {
    Monitor monitor = Monitor::val_loss;
    double factor = 0.1;
    int patience = 10;
    double min_delta = 1e-4;
    int cooldown = 0;
    double min_lr = 0;
};

/// ReduceLROnPlateau's bookkeeping, one call per epoch as Keras' on_epoch_end: given the epoch's monitored value
/// as a score where higher is better (val_loss negated) and the rate it trained at, returns the rate for the
/// next epoch (reduced() says whether it changed).
class PlateauTracker {
public:
    /// ValueError for a factor outside (0, 1) (Keras refuses >= 1) or a negative (or infinite) patience, cooldown,
    /// min_delta or min_lr.
    explicit PlateauTracker(const ReduceLROnPlateau& o) : o_(o) {
        EMBER_CHECK(o.factor > 0 && o.factor < 1, ValueError, "ReduceLROnPlateau: factor must lie in (0, 1), got ",
                    o.factor);
        EMBER_CHECK(o.patience >= 0 && o.cooldown >= 0 && o.min_delta >= 0 && o.min_lr >= 0 &&
                        std::isfinite(o.min_delta) && std::isfinite(o.min_lr),
                    ValueError, "ReduceLROnPlateau: patience, cooldown, min_delta and min_lr must be finite and >= 0, got ",
                    o.patience, ", ", o.cooldown, ", ", o.min_delta, ", ", o.min_lr);
    }
    double next_rate(double score, double lr) {
        reduced_ = false;
        if (cooldown_ > 0) {
            --cooldown_;
            wait_ = 0;
        }
        if (score > best_ + o_.min_delta) {
            best_ = score;
            wait_ = 0;
        } else if (cooldown_ == 0 && ++wait_ >= o_.patience && lr > o_.min_lr) {
            // (Keras compares with float32(min_lr), its rate being a float32; ember's is a double, and a rate
            // that has reached min_lr exactly is not "reduced" to it again)
            lr = std::max(lr * o_.factor, o_.min_lr);
            reduced_ = true;
            waited_ = wait_;
            cooldown_ = o_.cooldown;
            wait_ = 0;
        }
        return lr;
    }
    [[nodiscard]] bool reduced() const { return reduced_; }
    /// Epochs without improvement since the last improvement or reduction.
    [[nodiscard]] int wait() const { return wait_; }
    /// Epochs without improvement that led to the last reduction.
    [[nodiscard]] int waited() const { return waited_; }

private:
    ReduceLROnPlateau o_;
    double best_ = -std::numeric_limits<double>::infinity();
    int wait_ = 0, waited_ = 0, cooldown_ = 0;
    bool reduced_ = false;
};

struct FitOptions {
    int epochs = 50;
    int classes = 0;                          // required: the number of output classes
    /// Per-class weights of the training loss (Keras' class_weight: sample weights w[y], training only; the
    /// validation loss is unweighted); empty: unweighted.
    std::vector<float> class_weights;
    /// Label smoothing e of the training and validation loss: the target is (1 - e) * one_hot + e / classes
    /// (Keras' CategoricalCrossentropy(label_smoothing=e), which Keras applies to val_loss too). 0: off.
    float label_smoothing = 0;
    Monitor monitor = Monitor::val_accuracy;  // what "better" means for on_best and early stopping
    int early_stopping_patience = 0;          // stop after this many epochs without a better monitored value (0: never)
    /// Learning rate for each epoch (1-based), given the initial rate (cosine_decay(), exponential_decay() or
    /// your own); empty: constant.
    LrSchedule lr_schedule;
    /// Lower the rate when validation stops improving (needs validation data; not with lr_schedule). As in Keras,
    /// the lowered rate stays in the optimizer when fit returns.
    std::optional<ReduceLROnPlateau> reduce_lr_on_plateau;
    /// Called when the monitored value improves (e.g. to save a checkpoint), with the epoch's record; never for an
    /// epoch whose validation loss is NaN or infinite (its outputs are).
    std::function<void(const EpochRecord&, const Evaluation&)> on_best;
    /// Called after every epoch (e.g. to write history.csv).
    std::function<void(const History&)> on_epoch_end;
    /// Called last in each epoch - after on_best, on_epoch_end and any learning-rate change - with the model
    /// holding its raw weights (a moving average swapped out): where save_training_state() saves what a resumed
    /// run needs (Keras' BackupAndRestore saves at the end of each epoch too).
    std::function<void(const History&)> on_backup;
    /// The epochs a run already completed (TrainingState::history), for resuming it in a model and optimizer that
    /// load_training_state() restored: fit goes on at the next epoch, with the best monitored value, the epochs
    /// since it and ReduceLROnPlateau's count replayed from these records, so that checkpoints, early stopping and
    /// the rates are those of the uninterrupted run; the history it returns (and hands the callbacks) starts
    /// with them. ValueError unless they are epochs 1, 2, ... in order. Empty: a fresh run.
    History initial_history;
    std::ostream* log = &std::cout;           // progress and epoch lines; nullptr for silence
    bool interactive_progress = ::isatty(STDOUT_FILENO) != 0;
};

namespace fit_detail {
/// A loss for messages and the log: "nan" whatever the NaN's sign bit (streams print "-nan" for some), else as
/// the stream prints it ("inf", "-inf", "0.6892").
struct LossValue {
    double v;
    friend std::ostream& operator<<(std::ostream& os, LossValue l) { return std::isnan(l.v) ? os << "nan" : os << l.v; }
};
/// The loop behind both fit()s; `val` may be null (no validation: the val_* figures of the history are NaN).
template <class Train, class Val>
History fit(nn::Sequential<float>& model, optim::Optimizer<float>& opt, Train& train, Val* val, const FitOptions& o) {
    EMBER_CHECK(o.epochs > 0, ValueError, "fit: epochs must be > 0, got ", o.epochs);
    EMBER_CHECK(o.classes > 0, ValueError, "fit: classes must be > 0, got ", o.classes);
    EMBER_CHECK(o.label_smoothing >= 0 && o.label_smoothing <= 1, ValueError,
                "fit: label_smoothing must be in [0, 1], got ", o.label_smoothing);
    // Without validation there is nothing to monitor: refuse what would silently never happen.
    EMBER_CHECK(val || o.early_stopping_patience == 0, ValueError, "fit: early stopping monitors ",
                monitor_name(o.monitor), ", which needs validation data; none was given");
    EMBER_CHECK(val || !o.on_best, ValueError, "fit: on_best is called when ", monitor_name(o.monitor),
                " improves, which needs validation data; none was given (save in on_epoch_end instead)");
    if (const auto& p = o.reduce_lr_on_plateau) {
        EMBER_CHECK(val, ValueError, "fit: reduce_lr_on_plateau monitors ", monitor_name(p->monitor),
                    ", which needs validation data; none was given");
        EMBER_CHECK(!o.lr_schedule, ValueError,
                    "fit: lr_schedule and reduce_lr_on_plateau both set the learning rate; give one of them");
    }
    std::optional<PlateauTracker> plateau;  // its options checked before any training
    if (o.reduce_lr_on_plateau) plateau.emplace(*o.reduce_lr_on_plateau);
    History history;
    const double initial_lr = opt.learning_rate();
    // The best monitored score so far (higher is better); the first epoch always improves on -infinity.
    double best = -std::numeric_limits<double>::infinity();
    int since_best = 0;
    // Whether an epoch's record improves on the best so far (improves_on); counts the epochs since the best.
    auto account = [&](const EpochRecord& rec) {
        const bool improved = val && improves_on(best, rec, o.monitor);
        if (improved) {
            best = monitor_score(rec, o.monitor);
            since_best = 0;
        } else {
            ++since_best;
        }
        return improved;
    };
    const auto stops_early = [&] { return o.early_stopping_patience > 0 && since_best >= o.early_stopping_patience; };
    // Resuming: the completed epochs' bookkeeping replayed, in the order the loop below does it.
    for (std::size_t k = 0; k < o.initial_history.epochs.size(); ++k) {
        const EpochRecord& rec = o.initial_history.epochs[k];
        EMBER_CHECK(rec.epoch == static_cast<int>(k) + 1, ValueError, "fit: initial_history must hold epochs 1, 2, ... in "
                    "order; record ", k + 1, " is epoch ", rec.epoch);
        account(rec);
        if (plateau) {
            const double lr = plateau->next_rate(monitor_score(rec, o.reduce_lr_on_plateau->monitor), rec.learning_rate);
            if (plateau->reduced()) opt.set_learning_rate(lr);
        }
    }
    history = o.initial_history;
    const int first_epoch = static_cast<int>(history.epochs.size()) + 1;
    if (first_epoch > 1 && o.log)
        *o.log << "Resuming after epoch " << first_epoch - 1 << " of " << o.epochs
               << (val ? detail::cat(" (best ", monitor_name(o.monitor), " so far ", o.monitor == Monitor::val_loss ? -best : best, ")")
                       : std::string())
               << (stops_early() ? "; it had stopped early, nothing left to train"
                                 : first_epoch > o.epochs ? "; nothing left to train" : "")
               << "\n";
    const std::span<const float> weights(o.class_weights);
    // With a moving average of the weights, the model is the average between epochs: validation, on_best and
    // on_epoch_end see it (what would be kept), training resumes from the raw weights.
    const bool ema = opt.uses_ema();
    // Whatever throws (a callback, an evaluation, a NaN loss), the optimizer is left with the raw weights in the
    // model and its averages intact, as Keras leaves it.
    struct SwapBackOnThrow {
        optim::Optimizer<float>& opt;
        ~SwapBackOnThrow() {
            if (opt.averages_swapped_in()) opt.swap_averages();
        }
    } swap_back{opt};
    if (ema && o.log)
        *o.log << "Weights averaged (EMA, momentum " << opt.common_options().ema_momentum
               << "): validation and checkpoints use the average\n";
    for (int epoch = first_epoch; epoch <= o.epochs && !stops_early(); ++epoch) {
        if (opt.averages_swapped_in()) opt.swap_averages();  // back to the raw weights
        if (o.lr_schedule) opt.set_learning_rate(o.lr_schedule(epoch, initial_lr));
        if (o.log) *o.log << "Epoch " << epoch << "/" << o.epochs << " (lr " << opt.learning_rate() << ")\n";
        const auto start = std::chrono::steady_clock::now();
        model.train();
        train.start_epoch(epoch);
        const long steps = train.batches_per_epoch();
        std::optional<ProgressBar> bar;
        if (o.log) bar.emplace(steps, *o.log, o.interactive_progress);
        double loss_sum = 0, norm_sum = 0, norm_max = 0;
        long seen = 0, right = 0, step = 0;
        Batch<float> b;
        while (train.next(b)) {
            ++step;
            Tensor<float> logits = model(b.images);
            Tensor<float> loss = sparse_categorical_crossentropy(logits, std::span<const std::int32_t>(b.labels), weights,
                                                                 o.label_smoothing);
            const double value = loss.item();
            if (!std::isfinite(value))
                throw NonFiniteLossError(detail::cat("fit: the loss became ", LossValue{value}, " at epoch ", epoch, ", batch ",
                                                     step, " of ", steps, "; training stopped after ", epoch - 1,
                                                     " complete epoch", epoch == 2 ? "" : "s"));
            opt.zero_grad();
            loss.backward();
            opt.step();
            norm_sum += opt.last_gradient_norm();
            if (!(opt.last_gradient_norm() <= norm_max)) norm_max = opt.last_gradient_norm();  // NaN stays NaN
            const auto pred = argmax_rows(logits.detach());
            for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == b.labels[i];
            loss_sum += value * static_cast<double>(b.labels.size());
            seen += static_cast<long>(b.labels.size());
            if (bar) bar->update(step, seen, loss_sum / static_cast<double>(seen), static_cast<double>(right) / static_cast<double>(seen));
        }
        if (ema) opt.swap_averages();  // the averaged model, until the next epoch
        EpochRecord rec;
        rec.epoch = epoch;
        rec.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
        rec.accuracy = seen ? static_cast<double>(right) / static_cast<double>(seen) : 0.0;
        rec.learning_rate = opt.learning_rate();
        if (step > 0) {
            rec.grad_norm_mean = norm_sum / static_cast<double>(step);
            rec.grad_norm_max = norm_max;
        }
        std::optional<Evaluation> ev;
        if (val) {
            ev = evaluate(model, *val, o.classes, std::span<const float>{}, TestTimeAugment::none, o.label_smoothing);
            rec.val_loss = ev->loss;
            rec.val_accuracy = ev->confusion.accuracy();
            rec.val_balanced_accuracy = ev->confusion.balanced_accuracy();
        }
        rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        history.epochs.push_back(rec);
        const bool broken = val && !std::isfinite(rec.val_loss);
        const bool improved = account(rec);
        if (o.log) {
            *o.log << "  loss " << LossValue{rec.loss} << " acc " << rec.accuracy;
            if (val)
                *o.log << " | val_loss " << LossValue{rec.val_loss} << " val_acc " << rec.val_accuracy << " val_balanced_acc "
                       << rec.val_balanced_accuracy;
            *o.log << " | " << ProgressBar::format_seconds(rec.seconds) << (improved ? " (best so far)" : "")
                   << (broken ? " (validation loss not finite: not kept as best)" : "") << "\n";
        }
        if (improved && o.on_best) o.on_best(rec, *ev);
        if (o.on_epoch_end) o.on_epoch_end(history);
        if (plateau) {  // as Keras' callback, after the epoch's other callbacks
            const Monitor m = o.reduce_lr_on_plateau->monitor;
            const double lr = plateau->next_rate(monitor_score(rec, m), opt.learning_rate());
            if (plateau->reduced()) {
                opt.set_learning_rate(lr);
                if (o.log)
                    *o.log << "Epoch " << epoch << ": ReduceLROnPlateau reducing learning rate to " << lr
                           << " (no better " << monitor_name(m) << " for " << plateau->waited() << " epoch"
                           << (plateau->waited() == 1 ? "" : "s") << ")\n";
            }
        }
        if (o.on_backup) {
            if (opt.averages_swapped_in()) opt.swap_averages();  // the raw weights, which training goes on from
            o.on_backup(history);
        }
        if (stops_early() && o.log)
            *o.log << "Early stopping: no better " << monitor_name(o.monitor) << " for " << since_best << " epochs\n";
    }
    // As Keras' fit ends: the averages become the weights (and stay the optimizer's averages).
    opt.finalize_variable_values();
    return history;
}
}  // namespace fit_detail

/// Trains `model` with `opt` on `train` and validates on `val` after each epoch; returns the history.
/// With an optimizer keeping a moving average of the weights (CommonOptions::use_ema), validation, on_best and
/// on_epoch_end see the averaged weights, and the model holds them when fit returns (Keras validates the raw
/// weights during fit and switches to the average only at its end; ember judges the model it keeps). When fit
/// throws, the model holds the raw weights and the optimizer its averages.
/// Throws NonFiniteLossError (naming the epoch, the batch and how many epochs completed) when a loss is NaN or
/// infinite: on_best has by then seen the best complete epoch, if one completed.
template <class Train, class Val>
    requires BatchSource<Train, float> && BatchSource<Val, float>
History fit(nn::Sequential<float>& model, optim::Optimizer<float>& opt, Train& train, Val& val,
            const FitOptions& o) {
    return fit_detail::fit(model, opt, train, &val, o);
}

/// Trains without validation data (Keras' fit without validation_data), e.g. on all the data once a recipe and
/// its epoch count are fixed: the history's val_* figures are NaN, and what needs a validation figure - on_best,
/// early stopping and reduce_lr_on_plateau - is refused with a ValueError. The training steps are those of the fit() with validation
/// (evaluation draws no random numbers), so both reach the same weights.
template <class Train>
    requires BatchSource<Train, float>
History fit(nn::Sequential<float>& model, optim::Optimizer<float>& opt, Train& train, const FitOptions& o) {
    return fit_detail::fit(model, opt, train, static_cast<Train*>(nullptr), o);
}

}  // namespace ember::train
