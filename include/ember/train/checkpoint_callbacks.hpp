// ember/train/checkpoint_callbacks.hpp - the callbacks that write files: ModelCheckpoint (the best or the last
// model, as Keras' ModelCheckpoint) and BackupAndRestore (the training state a stopped run resumes from).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "ember/io/checkpoint.hpp"
#include "ember/train/callbacks.hpp"
#include "ember/train/training_state.hpp"

namespace ember::train {

/// Keras' ModelCheckpoint: saves the model (io::save_checkpoint, atomically) to `path` after every epoch, or, with
/// a `monitor`, only when that figure improves (save_best_only; never an epoch whose loss is not finite). The
/// optional `metadata` function adds entries from the epoch's record (e.g. the epoch, a threshold).
template <Real T>
class ModelCheckpoint final : public Callback<T> {
public:
    using Metadata = std::function<std::map<std::string, std::string>(const EpochRecord&)>;
    explicit ModelCheckpoint(std::filesystem::path path, std::string monitor = {}, Metadata metadata = {},
                             Mode mode = Mode::automatic)
        : path_(std::move(path)), metadata_(std::move(metadata)) {
        if (!monitor.empty()) tracker_.emplace(std::move(monitor), 0, "ModelCheckpoint", mode);
    }
    void on_train_begin(TrainContext<T>& ctx) override {
        if (tracker_) tracker_->check_source(ctx.validated);
        if (tracker_) tracker_->reset();
        saved_ = 0;
    }
    void on_epoch_end(const EpochRecord& r, TrainContext<T>& ctx) override {
        if (tracker_ && !tracker_->update(r)) return;
        saved_ = r.epoch;
        if (ctx.replaying || ctx.rank != 0) return;  // the file already holds it; or process 0 writes it
        io::save_checkpoint(path_, ctx.model, metadata_ ? metadata_(r) : std::map<std::string, std::string>{});
        if (ctx.log) *ctx.log << "  saved " << path_.string() << "\n";
    }
    /// The epoch the file holds (0: none saved by this run).
    [[nodiscard]] int saved_epoch() const { return saved_; }

private:
    std::filesystem::path path_;
    Metadata metadata_;
    std::optional<MonitorTracker> tracker_;
    int saved_ = 0;
};

/// Keras' BackupAndRestore: after every epoch writes the training state (weights, optimizer state, the model's
/// generators, the history and `metadata`) to `path`; restore() loads it into a model and optimizer built as the
/// run began and returns the history to give fit as FitOptions::initial_history, so that the run goes on as if it
/// had never stopped (bit for bit with the same thread count). Two departures from Keras: restoring is explicit
/// (call restore() before fit: a run that does not overwrites the backup from its first epoch), and the backup
/// is kept when training ends, so that a finished run can be extended to more epochs.
template <Real T>
class BackupAndRestore final : public Callback<T> {
public:
    explicit BackupAndRestore(std::filesystem::path path, std::map<std::string, std::string> metadata = {})
        : path_(std::move(path)), metadata_(std::move(metadata)) {}
    void on_backup(TrainContext<T>& ctx) override {
        if (ctx.rank != 0) return;  // process 0 writes it; the others hold the same state
        save_training_state(path_, ctx.model, ctx.optimizer, ctx.history, metadata_);
    }
    /// The completed epochs of the backup at path() (empty when there is none), its state loaded into `model`
    /// and `opt`. Throws what load_training_state throws for a backup of another model or optimizer.
    History restore(nn::Module<T>& model, optim::Optimizer<T>& opt) const {
        if (!std::filesystem::exists(path_)) return {};
        return load_training_state(path_, model, opt).history;
    }
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace ember::train
