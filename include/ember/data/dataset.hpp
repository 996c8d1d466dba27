// ember/data/dataset.hpp - the Dataset concept (what a DataLoader needs from any source of (input, target) samples),
// the Batch it yields, and TensorDataset: the samples of two in-memory tensors, row by row.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/random.hpp"
#include "ember/core/tensor.hpp"

namespace ember::data {

/// One mini-batch: inputs [B, input...] and targets [B, target...]. A classifier's targets are class indices
/// stored as T in a [B] tensor, as Keras' sparse labels (nn::class_indices() reads them back as integers).
/// In data-parallel training (LoaderOptions::shards > 1) a process holds rows [global_offset, global_offset + size())
/// of a global batch of global_rows rows; global_rows == 0: the batch is whole.
template <Real T>
struct Batch {
    Tensor<T> inputs;
    Tensor<T> targets;
    index_t global_offset = 0;
    index_t global_rows = 0;
    [[nodiscard]] index_t size() const { return inputs.defined() && inputs.rank() > 0 ? inputs.size(0) : 0; }

    /// `auto& [inputs, targets] = batch` (the tuple protocol below: the shard fields are not bound).
    template <std::size_t I>
    auto& get() & {
        if constexpr (I == 0) return inputs; else return targets;
    }
    template <std::size_t I>
    const auto& get() const& {
        if constexpr (I == 0) return inputs; else return targets;
    }
    template <std::size_t I>
    auto get() && {
        if constexpr (I == 0) return std::move(inputs); else return std::move(targets);
    }
};

/// What a DataLoader needs from a dataset: its size, the per-sample shapes of inputs and targets (Shape{} for
/// a scalar target such as a class index), and `get(i, input, target, gen)`, which writes sample i's
/// input_shape().numel() input values and target_shape().numel() target values. Any randomness of a sample (an
/// augmentation) must be drawn from `gen`, which the loader seeds from (seed, epoch, i): then a run is the same
/// whatever the batch size, thread count or timing. `get` is called from several threads at once (the loader's own
/// std::threads, which do not inherit set_num_threads: a get() that runs parallel_for itself oversubscribes).
template <class D>
concept Dataset = requires(const D& d, std::size_t i, typename D::value_type* x, typename D::value_type* y, Generator& gen) {
    requires Real<typename D::value_type>;
    { d.size() } -> std::convertible_to<std::size_t>;
    { d.input_shape() } -> std::convertible_to<Shape>;
    { d.target_shape() } -> std::convertible_to<Shape>;
    d.get(i, x, y, gen);
};

/// A per-sample transform of a TensorDataset's input (an augmentation): changes `input` (of the dataset's input
/// shape) in place, drawing only from `gen`. Called on loader threads, several at once.
template <Real T>
using SampleTransform = std::function<void(T* input, const Shape& shape, Generator& gen)>;

/// The samples of two tensors with the same first extent: sample i is (inputs[i], targets[i]), the input
/// optionally transformed. Both tensors are shared, not copied.
template <Real T>
class TensorDataset {
public:
    using value_type = T;

    /// Throws ShapeError unless both tensors have rank >= 1 and the same first extent.
    TensorDataset(Tensor<T> inputs, Tensor<T> targets, SampleTransform<T> transform = {})
        : inputs_(std::move(inputs)), targets_(std::move(targets)), transform_(std::move(transform)) {
        EMBER_CHECK(inputs_.defined() && targets_.defined(), ShapeError, "TensorDataset: ",
                    inputs_.defined() ? "targets" : "inputs", " undefined (a default-constructed Tensor)");
        EMBER_CHECK(inputs_.rank() >= 1 && targets_.rank() >= 1 && inputs_.size(0) == targets_.size(0),
                    ShapeError, "TensorDataset: inputs ", inputs_.shape(), " and targets ", targets_.shape(),
                    " must have the same first extent");
        input_shape_ = inputs_.shape().drop_front();
        target_shape_ = targets_.shape().drop_front();
    }

    [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(inputs_.size(0)); }
    [[nodiscard]] const Shape& input_shape() const { return input_shape_; }
    [[nodiscard]] const Shape& target_shape() const { return target_shape_; }

    void get(std::size_t i, T* input, T* target, Generator& gen) const {
        const index_t in = input_shape_.numel(), out = target_shape_.numel();
        const auto row = static_cast<index_t>(i);
        std::copy_n(inputs_.data() + row * in, in, input);
        std::copy_n(targets_.data() + row * out, out, target);
        if (transform_) transform_(input, input_shape_, gen);
    }

private:
    Tensor<T> inputs_, targets_;
    SampleTransform<T> transform_;
    Shape input_shape_, target_shape_;
};

}  // namespace ember::data

template <ember::Real T>
struct std::tuple_size<ember::data::Batch<T>> : std::integral_constant<std::size_t, 2> {};
template <std::size_t I, ember::Real T>
struct std::tuple_element<I, ember::data::Batch<T>> {
    using type = ember::Tensor<T>;
};
