// ember/train/evaluate.hpp - one inference pass of any Module over a BatchSource: the mean loss and metrics, and
// optionally every output and target (Keras' model.evaluate and model.predict).
#pragma once

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ember/autograd/grad_mode.hpp"
#include "ember/data/loader.hpp"
#include "ember/nn/loss.hpp"
#include "ember/nn/module.hpp"
#include "ember/train/metric.hpp"
#include "ember/train/process_group.hpp"

namespace ember::train {

/// What evaluate() measured: the loss and metric figures by name, and (when kept) the outputs [N, ...] and targets
/// [N, ...] in the source's order.
template <Real T>
struct Evaluation {
    std::vector<std::pair<std::string, double>> figures;
    Tensor<T> outputs, targets;

    /// The figure `name` ("loss", "accuracy", ...); NaN when not measured.
    [[nodiscard]] double get(const std::string& name) const {
        for (const auto& [n, v] : figures)
            if (n == name) return v;
        return std::numeric_limits<double>::quiet_NaN();
    }
};

namespace evaluate_detail {
/// Row-wise concatenation of same-shaped (but for the first extent) tensors.
template <Real T>
Tensor<T> concat_rows(const std::vector<Tensor<T>>& parts) {
    if (parts.empty()) return {};
    index_t rows = 0;
    for (const auto& p : parts) rows += p.size(0);
    Tensor<T> out = Tensor<T>::empty(parts.front().shape().drop_front().prepend(rows));
    T* dst = out.data();
    for (const auto& p : parts) dst = std::copy_n(p.data(), p.numel(), dst);
    return out;
}
}  // namespace evaluate_detail

/// Runs `model` in inference mode (no dropout, no autograd) over one epoch of `source` (start_epoch(0)): the mean
/// of `loss` over the samples (each batch's loss weighted by its size; omitted when `loss` is empty) and each
/// metric's result, under their names. With `keep_outputs` the Evaluation also holds every output and target.
/// The model's training mode is restored afterwards. With a `group`, each process gives its shard of every batch
/// (LoaderOptions::shard) and every process gets the figures and outputs of the whole data (each batch's rows gathered
/// in rank order: the unsharded order). Throws what the model, the loss or a metric throws.
template <Real T>
Evaluation<T> evaluate(nn::Module<T>& model, data::BatchSource<T>& source,
                       const std::type_identity_t<nn::Loss<T>>& loss = {},
                       const std::vector<std::shared_ptr<Metric<T>>>& metrics = {}, bool keep_outputs = false,
                       ProcessGroup* group = nullptr) {
    const bool was_training = model.is_training();
    model.eval();
    struct Restore {
        nn::Module<T>& m;
        bool on;
        ~Restore() { m.train(on); }
    } restore{model, was_training};
    NoGradGuard no_grad;
    std::vector<std::unique_ptr<Metric<T>>> ms;
    for (const auto& m : metrics) {
        ms.push_back(m->clone());
        ms.back()->reset();
    }
    double loss_sum = 0;
    index_t seen = 0;
    std::vector<Tensor<T>> outs, targets;
    source.start_epoch(0);
    data::Batch<T> b;
    while (source.next(b)) {
        Tensor<T> y = b.size() > 0 ? model(b.inputs) : Tensor<T>();
        if (group) {
            EMBER_CHECK(b.global_rows > 0 || group->size() == 1, ValueError, "evaluate: with ", group->size(),
                        " processes each must give its shard of every batch (LoaderOptions::shard, shards), not the ",
                        "whole batch");
            y = gather_rows(*group, y);
            b.targets = gather_rows(*group, b.targets);
        }
        if (y.size(0) == 0) continue;
        if (loss) loss_sum += static_cast<double>(loss(y, b.targets).item()) * static_cast<double>(y.size(0));
        for (auto& m : ms) m->update(y, b.targets);
        seen += y.size(0);
        if (keep_outputs) {
            outs.push_back(y);
            targets.push_back(b.targets);
        }
    }
    Evaluation<T> ev;
    if (loss) ev.figures.emplace_back("loss", seen ? loss_sum / static_cast<double>(seen) : std::nan(""));
    for (auto& m : ms) ev.figures.emplace_back(m->name(), m->result());
    ev.outputs = evaluate_detail::concat_rows(outs);
    ev.targets = evaluate_detail::concat_rows(targets);
    return ev;
}

/// The model's outputs for every batch of `source`, concatenated: [N, ...] (Keras' model.predict), in the order
/// the source yields them (a shuffling DataLoader's epoch-0 order: predict from a loader without shuffle).
template <Real T>
Tensor<T> predict(nn::Module<T>& model, data::BatchSource<T>& source) {
    return evaluate<T>(model, source, {}, {}, true).outputs;
}

}  // namespace ember::train
