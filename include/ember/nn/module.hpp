// ember/nn/module.hpp - Module<T>: the layer contract (build, forward, parameters, train/eval).
// Shapes given to build() are per sample (no batch dimension), as in Keras: build({180, 180, 3}).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ember/autograd/ops.hpp"

namespace ember::nn {

/// Activations a layer can fuse into its output. Models end in logits (Activation::linear); the loss applies
/// log-softmax, and ember::softmax (or an nn::Softmax layer) turns logits into probabilities.
enum class Activation { linear, relu };
inline constexpr Activation linear = Activation::linear;
inline constexpr Activation relu = Activation::relu;

using kernels::Padding;
inline constexpr Padding valid = Padding::valid;
inline constexpr Padding same = Padding::same;

/// A parameter and its name inside its module ("kernel", "bias"; "conv2d.kernel" inside a Sequential).
template <Real T>
struct NamedParameter {
    std::string name;
    Tensor<T> value;
};

/// Base of every layer. A module learns its input shape on build() (or on its first forward call, from the
/// input's shape), creates its parameters then, and afterwards maps [N, in...] to [N, out...].
template <Real T>
class Module {
public:
    virtual ~Module() = default;

    /// Keras' class name ("Conv2D").
    [[nodiscard]] virtual std::string type_name() const = 0;
    /// Settings that change what the layer computes but not its weights' names or shapes, as architecture strings
    /// record them ("dilation=2x2"); empty for the defaults, so that a checkpoint of a model with other settings
    /// is refused while the strings of default layers stay as they were.
    [[nodiscard]] virtual std::string settings() const { return {}; }
    /// "Conv2D" or "Conv2D(dilation=2x2)": the type and any non-default settings, as architecture strings hold it.
    [[nodiscard]] std::string recorded_type() const {
        const std::string s = settings();
        return s.empty() ? type_name() : type_name() + "(" + s + ")";
    }
    /// Prefix of automatic names ("conv2d", "conv2d_1", ...).
    [[nodiscard]] virtual std::string default_name() const = 0;
    [[nodiscard]] const std::string& name() const { return name_; }
    void set_name(std::string name) { name_ = std::move(name); }
    /// "Conv2D 'conv2d_1'" - how error messages name this layer.
    [[nodiscard]] std::string where() const { return type_name() + " '" + (name_.empty() ? default_name() : name_) + "'"; }

    /// Creates the parameters for per-sample input shape `in` and returns the per-sample output shape. Draws
    /// initial weights from `gen`. Throws ShapeError naming the layer when `in` does not fit.
    Shape build(const Shape& in, Generator& gen) {
        if (built_) {
            EMBER_CHECK(in == input_shape_, ShapeError, where(), ": already built for input ", input_shape_,
                        ", cannot rebuild for ", in);
            return output_shape_;
        }
        output_shape_ = do_build(in, gen);
        input_shape_ = in;
        built_ = true;
        if (!trainable_) set_trainable(false);  // frozen before its parameters existed
        return output_shape_;
    }
    /// build() with a generator seeded `seed`: model.build({180, 180, 3}, 123).
    Shape build(const Shape& in, std::uint64_t seed) {
        Generator gen(seed);
        return build(in, gen);
    }
    [[nodiscard]] bool built() const { return built_; }
    [[nodiscard]] const Shape& input_shape() const { return input_shape_; }
    [[nodiscard]] const Shape& output_shape() const { return output_shape_; }

    /// Applies the layer to a batch. Builds it first (with a generator seeded 0) when it was never built.
    Tensor<T> operator()(const Tensor<T>& x) {
        if (!built_) {
            EMBER_CHECK(x.rank() >= 1, ShapeError, where(), ": expected a batch [N, ...], got ", x.shape());
            Generator gen(0);
            build(x.shape().drop_front(), gen);
        }
        return forward(x);
    }
    virtual Tensor<T> forward(const Tensor<T>& x) = 0;

    /// Parameters with their names, in a stable order (the checkpoint order).
    [[nodiscard]] virtual std::vector<NamedParameter<T>> named_parameters() const { return {}; }
    [[nodiscard]] std::vector<Tensor<T>> parameters() const {
        std::vector<Tensor<T>> out;
        for (auto& p : named_parameters()) out.push_back(p.value);
        return out;
    }
    [[nodiscard]] index_t parameter_count() const {
        index_t n = 0;
        for (auto& p : named_parameters()) n += p.value.numel();
        return n;
    }

    /// Keras' `layer.trainable = False`: the parameters stop requiring grad, so backward computes no gradient for
    /// them and an optimizer is given trainable_parameters() instead of parameters(); a BatchNormalization then runs
    /// in inference mode even while the model trains (Keras' rule for fine-tuning). Containers pass it to every
    /// layer. The parameters are still saved and loaded with the others.
    virtual void set_trainable(bool on) {
        trainable_ = on;
        for (auto& p : named_parameters()) p.value.requires_grad(on);
    }
    [[nodiscard]] bool trainable() const { return trainable_; }
    /// The parameters that require grad: what an optimizer should update (Keras' trainable_weights).
    [[nodiscard]] std::vector<Tensor<T>> trainable_parameters() const {
        std::vector<Tensor<T>> out;
        for (auto& p : named_parameters())
            if (p.value.requires_grad()) out.push_back(p.value);
        return out;
    }
    /// The number of values in trainable_parameters() (Keras' "Trainable params").
    [[nodiscard]] index_t trainable_parameter_count() const {
        index_t n = 0;
        for (auto& p : trainable_parameters()) n += p.numel();
        return n;
    }

    /// State that is saved with the weights but never trained (Keras' non-trainable weights: BatchNormalization's
    /// "moving_mean" and "moving_variance"), with names as named_parameters() gives them. Checkpoints and training
    /// states store it; optimizers never see it. Most layers have none.
    [[nodiscard]] virtual std::vector<NamedParameter<T>> named_buffers() const { return {}; }
    /// named_parameters() then named_buffers(): everything a checkpoint stores, by name (Keras' model.weights lists
    /// the same tensors layer by layer).
    [[nodiscard]] std::vector<NamedParameter<T>> named_weights() const {
        auto out = named_parameters();
        for (auto& b : named_buffers()) out.push_back(std::move(b));
        return out;
    }
    /// The number of values in named_buffers() (Keras' "Non-trainable params").
    [[nodiscard]] index_t buffer_count() const {
        index_t n = 0;
        for (auto& b : named_buffers()) n += b.value.numel();
        return n;
    }

    /// The generators this module draws from while it runs (a Dropout layer's mask generator), with their names
    /// ("mask"; "dropout.mask" inside a Sequential): part of a training state, so that a resumed run draws
    /// what the uninterrupted one would have (train::save_training_state). Most layers have none.
    [[nodiscard]] virtual std::vector<std::pair<std::string, Generator*>> named_generators() { return {}; }

    /// What a checkpoint records to recognise this architecture before touching a weight: by default
    /// "name:Type:[out shape]" and each parameter's "name:[shape]"; Sequential lists its layers instead.
    [[nodiscard]] virtual std::string architecture() const {
        std::string s = (name_.empty() ? default_name() : name_) + ":" + recorded_type() + ":" + output_shape_.str();
        for (const auto& p : named_weights()) s += ";" + p.name + ":" + p.value.shape().str();
        return s;
    }

    /// Training mode (dropout active, batch normalization on batch statistics) or inference mode. Modules start in training mode, as in PyTorch.
    virtual void train(bool on = true) { training_ = on; }
    void eval() { train(false); }
    [[nodiscard]] bool is_training() const { return training_; }

protected:
    virtual Shape do_build(const Shape& in, Generator& gen) = 0;
    /// Throws StateError unless built (for accessors of parameters).
    void require_built() const {
        EMBER_CHECK(built_, StateError, where(), ": used before build(); call build(input_shape) or run a batch first");
    }

private:
    std::string name_;
    Shape input_shape_, output_shape_;
    bool built_ = false;
    bool training_ = true;
    bool trainable_ = true;
};

}  // namespace ember::nn
