// ember/train/process_group.hpp - ProcessGroup: the processes of a data-parallel run as fit() and evaluate() see them
// (rank, size, sums, broadcast, gathering), without naming the engine that carries the bytes. The distributed stage
// implements it on MPI (distributed::MpiGroup); fit with no group is one process of one. Also the helpers fit uses
// on it: the gradient reduction in buckets, the broadcast of the training state, the gathering of batch rows.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "ember/core/tensor.hpp"
#include "ember/nn/module.hpp"
#include "ember/optim/optimizer.hpp"

namespace ember::train {

/// The processes of one data-parallel run. Every call is collective: each process makes the same calls in the same
/// order, and each returns once all took part. Results are identical on every process, bit for bit.
class ProcessGroup {
public:
    virtual ~ProcessGroup() = default;
    [[nodiscard]] virtual int rank() const = 0;
    [[nodiscard]] virtual int size() const = 0;
    /// Replaces `values` by their sum over the processes, in an order fixed by the process count alone.
    virtual void sum(std::span<float> values) = 0;
    virtual void sum(std::span<double> values) = 0;
    /// Replaces `bytes` everywhere by process `root`'s (same length everywhere).
    virtual void broadcast(std::span<std::byte> bytes, int root) = 0;
    /// Every process's `bytes`, by rank (lengths may differ).
    [[nodiscard]] virtual std::vector<std::vector<std::byte>> gather_all(std::span<const std::byte> bytes) = 0;
    [[nodiscard]] bool is_root() const { return rank() == 0; }
};

namespace group_detail {
template <Real T>
std::span<std::byte> bytes_of(Tensor<T>& t) {
    return {reinterpret_cast<std::byte*>(t.data()), static_cast<std::size_t>(t.numel()) * sizeof(T)};
}
}  // namespace group_detail

/// The gradient buckets' size: large enough that per-message latency is negligible, small enough to bound the staging
/// buffer (PyTorch DDP's default bucket is 25 MB, Horovod's fusion buffer 64 MB; ember's models are smaller).
inline constexpr std::size_t kGradientBucketBytes = std::size_t{4} << 20;

/// Sets every parameter's gradient to the sum over the processes of share * (its local gradient): with share =
/// local rows / global rows, the gradient of the global batch's mean loss, on every process. A parameter without a
/// gradient here counts as zeros (a process whose shard of a short last batch is empty). Gradients are packed into
/// buckets of kGradientBucketBytes and each bucket is summed in one call.
template <Real T>
void reduce_gradients(ProcessGroup& group, const std::vector<Tensor<T>>& params, double share) {
    // Which parameters have a gradient on some process: one no process's loss reached keeps none, as it would
    // alone (the optimizer then skips it instead of decaying it and moving it by its momentum).
    std::vector<double> reached(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) reached[i] = params[i].grad().defined() ? 1.0 : 0.0;
    group.sum(std::span<double>(reached));
    const std::size_t bucket_values = std::max<std::size_t>(kGradientBucketBytes / sizeof(T), 1);
    std::vector<T> bucket;
    std::vector<std::size_t> members;  // the parameters in the current bucket
    auto flush = [&] {
        group.sum(std::span<T>(bucket));
        std::size_t at = 0;
        for (std::size_t i : members) {
            Tensor<T> g = Tensor<T>::empty(params[i].shape());
            std::copy_n(bucket.data() + at, g.numel(), g.data());
            at += static_cast<std::size_t>(g.numel());
            Tensor<T> p = params[i];  // a handle: set_grad reaches the parameter
            p.set_grad(reached[i] > 0 ? g : Tensor<T>());
        }
        bucket.clear();
        members.clear();
    };
    const T s = static_cast<T>(share);
    for (std::size_t i = 0; i < params.size(); ++i) {
        const auto n = static_cast<std::size_t>(params[i].numel());
        if (!bucket.empty() && bucket.size() + n > bucket_values) flush();
        const Tensor<T> g = params[i].grad();
        if (g.defined())
            for (index_t j = 0; j < g.numel(); ++j) bucket.push_back(g.data()[j] * s);
        else
            bucket.resize(bucket.size() + n, T(0));
        members.push_back(i);
    }
    if (!members.empty()) flush();
}

/// Copies process `root`'s generator states (Dropout's masks) to every other process.
template <Real T>
void broadcast_generators(ProcessGroup& group, nn::Module<T>& model, int root) {
    for (auto& [name, gen] : model.named_generators()) {
        Generator::State st = gen->state();
        group.broadcast({reinterpret_cast<std::byte*>(&st), sizeof st}, root);
        gen->set_state(st);
    }
}

/// Copies process 0's buffers (BatchNormalization's moving statistics, which each process updates from its own
/// shard) to every other process, as PyTorch's DistributedDataParallel does (broadcast_buffers): validation and
/// the checkpoints rank 0 writes then see one model.
template <Real T>
void broadcast_buffers(ProcessGroup& group, nn::Module<T>& model) {
    for (auto& b : model.named_buffers()) group.broadcast(group_detail::bytes_of(b.value), 0);
}

/// Copies process 0's weights, buffers, generator states and optimizer state (step count, slots, moving averages)
/// to every other process: the start of a data-parallel run, fresh or resumed, is the same everywhere.
template <Real T>
void broadcast_training_state(ProcessGroup& group, nn::Module<T>& model, optim::Optimizer<T>& opt) {
    for (auto& w : model.named_weights()) group.broadcast(group_detail::bytes_of(w.value), 0);
    for (auto& [name, t] : opt.named_state()) group.broadcast(group_detail::bytes_of(t), 0);
    std::int64_t steps = opt.iterations();
    group.broadcast({reinterpret_cast<std::byte*>(&steps), sizeof steps}, 0);
    opt.set_iterations(steps);
    broadcast_generators(group, model, 0);
}

/// The shape of one row of `local` on every process: this process's own, or, where its shard is empty (`local`
/// undefined), the first process's that has rows.
template <Real T>
Shape common_row_shape(ProcessGroup& group, const Tensor<T>& local) {
    std::vector<index_t> mine;
    if (local.defined()) mine = local.shape().drop_front().dims();
    const auto all = group.gather_all({reinterpret_cast<const std::byte*>(mine.data()), mine.size() * sizeof(index_t)});
    if (local.defined()) return Shape(mine);
    for (std::size_t r = 0; r < all.size(); ++r) {
        if (all[r].empty()) continue;
        std::vector<index_t> dims(all[r].size() / sizeof(index_t));
        std::memcpy(dims.data(), all[r].data(), all[r].size());
        return Shape(dims);
    }
    return Shape{};
}

/// The rows of `local` from every process, concatenated in rank order: with each process holding its shard of a
/// global batch, the global batch. Every process's tensor must have the same shape past the first extent; an
/// undefined `local` (an empty shard) gives no rows.
template <Real T>
Tensor<T> gather_rows(ProcessGroup& group, const Tensor<T>& local) {
    const Shape row_shape = common_row_shape(group, local);
    const std::span<const std::byte> mine =
        local.defined() ? std::span<const std::byte>(reinterpret_cast<const std::byte*>(local.data()),
                                                     static_cast<std::size_t>(local.numel()) * sizeof(T))
                        : std::span<const std::byte>();
    const auto parts = group.gather_all(mine);
    std::size_t bytes = 0;
    for (const auto& p : parts) bytes += p.size();
    const index_t per_row = std::max<index_t>(row_shape.numel(), 1);
    const auto rows = static_cast<index_t>(bytes / sizeof(T)) / per_row;
    Tensor<T> out = Tensor<T>::empty(Shape(row_shape).prepend(rows));
    auto* dst = reinterpret_cast<std::byte*>(out.data());
    for (const auto& p : parts) dst = std::copy(p.begin(), p.end(), dst);
    return out;
}

}  // namespace ember::train
