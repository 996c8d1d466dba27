// ember/nn/functional.hpp - the pieces of Keras' functional API: symbolic tensors (Symbol), nn::Input, nn::call
// (a layer applied to symbols, with shape inference), the base of layers that merge several inputs (Merge) and layer
// sharing (nn::shared). nn::Model (model.hpp) turns symbols into a trainable Module.
//
// A residual block:
//
//     auto in = nn::Input<float>({32, 32, 16});
//     auto x = nn::call(nn::Conv2D(16, 3, nn::same, nn::relu), in);
//     x = nn::call(nn::Conv2D(16, 3, nn::same), x);
//     auto y = nn::call(nn::ReLU(), nn::call(nn::Add(), {x, in}));      // the shortcut joins here
//     auto out = nn::call(nn::Dense(10), nn::call(nn::Flatten(), y));
//     nn::Model<float> model(in, out);
//
// nn::call builds the layer on the spot, so a shape that does not fit (a Dense on an image, branches of different
// shapes merged) throws where the graph is written, naming the layer and the shapes. The initial weights come from
// a generator that each Input owns (seeded by InputOptions::seed, 0 unless given): a layer draws from the generator
// of the Input its first argument descends from, in the order the calls are made. The same code therefore builds the
// same weights every time, independently of any other model in the program.
//
// A layer is moved into the graph; a temporary reads as in Keras. To call one layer on several symbols (Keras'
// layer sharing: one set of weights, gradients from every call), make it shared: `auto dense = nn::shared(
// nn::Dense(64));` then `nn::call(dense, a)` and `nn::call(dense, b)`. A named lvalue layer is refused at compile
// time, since copying it would silently give each call its own weights.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ember/autograd/merge.hpp"
#include "ember/nn/module.hpp"

namespace ember::nn {

template <Real T>
class Symbol;

namespace detail {
/// One call of a layer in a graph: the layer, the symbols it was called on (none for an Input), the per-sample
/// shape it produced and the generator that layers called on its output draw their initial weights from.
template <Real T>
struct GraphNode {
    std::shared_ptr<Module<T>> layer;
    std::vector<Symbol<T>> inbound;
    Shape shape;
    std::shared_ptr<Generator> generator;
};
}  // namespace detail

/// A symbolic tensor (Keras' KerasTensor): the per-sample shape a layer call produces and the call itself, from
/// which nn::Model finds its graph. Immutable: a call's inputs exist before it, so no graph of symbols has a cycle.
template <Real T = float>
class Symbol {
public:
    Symbol() = default;  // undefined: what a default-constructed variable holds before it is assigned
    explicit Symbol(std::shared_ptr<const detail::GraphNode<T>> node) : node_(std::move(node)) {}

    [[nodiscard]] bool defined() const { return node_ != nullptr; }
    /// The per-sample shape (no batch dimension): {32, 32, 16}.
    [[nodiscard]] const Shape& shape() const { return node().shape; }
    /// The layer whose call produced this symbol (an InputLayer for an Input).
    [[nodiscard]] Module<T>& layer() const { return *node().layer; }
    /// The symbols that call was made on; empty for an Input.
    [[nodiscard]] const std::vector<Symbol<T>>& inbound() const { return node().inbound; }
    [[nodiscard]] bool is_input() const { return inbound().empty(); }
    /// The graph node behind the symbol (for nn::call and nn::Model).
    [[nodiscard]] const detail::GraphNode<T>& node() const {
        EMBER_CHECK(node_ != nullptr, StateError, "nn::Symbol: used before it was assigned (symbols come from "
                    "nn::Input and nn::call)");
        return *node_;
    }
    /// True when both are the same symbol (the same call's output).
    [[nodiscard]] bool same_as(const Symbol& other) const { return node_ == other.node_; }

private:
    std::shared_ptr<const detail::GraphNode<T>> node_;
};

/// Keras' InputLayer: where a graph starts. It has no weights and passes its input on; nn::Input makes one.
template <Real T = float>
class InputLayer : public Module<T> {
public:
    explicit InputLayer(std::uint64_t seed = 0) : seed_(seed) {}
    [[nodiscard]] std::string type_name() const override { return "InputLayer"; }
    [[nodiscard]] std::string default_name() const override { return "input_layer"; }
    Tensor<T> forward(const Tensor<T>& x) override { return x; }
    /// The seed of the generator that the layers called on this input draw their initial weights from.
    [[nodiscard]] std::uint64_t seed() const { return seed_; }

protected:
    Shape do_build(const Shape& in, Generator&) override { return in; }

private:
    std::uint64_t seed_;
};

/// Options of nn::Input: the layer's name (automatic, "input_layer", "input_layer_1", ..., when empty) and the seed
/// of the generator that the layers called on it draw their initial weights from.
struct InputOptions {
    std::string name;
    std::uint64_t seed = 0;
};

/// Keras' Input(shape=...): the start of a graph, for samples of per-sample shape `shape` (no batch dimension).
template <Real T = float>
Symbol<T> Input(const Shape& shape, const InputOptions& options = {}) {
    auto layer = std::make_shared<InputLayer<T>>(options.seed);
    layer->set_name(options.name);
    auto gen = std::make_shared<Generator>(options.seed);
    layer->build(shape, *gen);
    return Symbol<T>(std::make_shared<const detail::GraphNode<T>>(detail::GraphNode<T>{layer, {}, shape, gen}));
}

/// Base of the layers that map a list of inputs to one output (Keras' Merge): Add, Concatenate. Built from every
/// input's per-sample shape; applied to a list of batches. As a single-input Module (in a Sequential) it refuses.
template <Real T = float>
class Merge : public Module<T> {
public:
    using Module<T>::build;
    using Module<T>::operator();

    /// Checks the per-sample shapes of the inputs (at least two; ShapeError naming the layer and every shape when
    /// they cannot be merged) and builds the layer. Returns the per-sample output shape.
    Shape build(const std::vector<Shape>& in, Generator& gen) {
        EMBER_CHECK(in.size() >= 2, ValueError, this->where(), ": a merge layer needs at least 2 inputs, got ",
                    in.size());
        if (this->built()) {
            EMBER_CHECK(in == input_shapes_, ShapeError, this->where(), ": already built for inputs ",
                        ember::detail::shape_list(input_shapes_), ", cannot be called on ",
                        ember::detail::shape_list(in));
            return this->output_shape();
        }
        (void)merged_shape(in);  // throws before anything changes
        input_shapes_ = in;
        return Module<T>::build(in[0], gen);
    }
    /// The per-sample shapes of the inputs it was built for.
    [[nodiscard]] const std::vector<Shape>& input_shapes() const { return input_shapes_; }

    /// Applies the layer to a list of batches, building it first (generator seeded 0) when it was never built.
    Tensor<T> operator()(const std::vector<Tensor<T>>& xs) {
        if (!this->built()) {
            std::vector<Shape> shapes;
            for (const auto& x : xs) {
                EMBER_CHECK(x.defined() && x.rank() >= 1, ShapeError, this->where(), ": expected batches [N, ...]");
                shapes.push_back(x.shape().drop_front());
            }
            Generator gen(0);
            build(shapes, gen);
        }
        return forward(xs);
    }
    /// Merges batches whose per-sample shapes are those it was built for, with one batch size.
    Tensor<T> forward(const std::vector<Tensor<T>>& xs) {
        this->require_built();
        const bool batched = !xs.empty() && xs[0].defined() && xs[0].rank() >= 1;
        const index_t n = batched ? xs[0].size(0) : 0;
        bool fits = batched && xs.size() == input_shapes_.size();
        std::vector<Shape> got, expected;
        for (std::size_t i = 0; i < xs.size(); ++i) {
            got.push_back(xs[i].defined() ? xs[i].shape() : Shape{});
            fits = fits && xs[i].defined() && got[i] == input_shapes_[i].prepend(n);
        }
        for (const Shape& s : input_shapes_) expected.push_back(s.prepend(n));
        EMBER_CHECK(fits, ShapeError, this->where(), ": expected inputs ", ember::detail::shape_list(expected),
                    ", got ", ember::detail::shape_list(got));
        return merge(xs);
    }
    /// A merge layer takes a list: StateError.
    Tensor<T> forward(const Tensor<T>&) override {
        throw StateError(ember::detail::cat(this->where(), ": a merge layer takes a list of inputs, not one tensor"));
    }

protected:
    /// The per-sample output shape for per-sample input shapes `in`; ShapeError naming the layer and every shape.
    [[nodiscard]] virtual Shape merged_shape(const std::vector<Shape>& in) const = 0;
    /// The merge of batches already checked against input_shapes().
    virtual Tensor<T> merge(const std::vector<Tensor<T>>& xs) = 0;

    Shape do_build(const Shape&, Generator&) override {
        EMBER_CHECK(!input_shapes_.empty(), StateError, this->where(),
                    ": a merge layer takes a list of inputs: nn::call(layer, {a, b}) in a graph, layer({a, b}) on "
                    "batches; it cannot be a layer of a Sequential");
        return merged_shape(input_shapes_);
    }

private:
    std::vector<Shape> input_shapes_;
};

namespace detail {
/// The element type of a layer class: float for Conv2D<float>.
template <Real T>
T element_type_of(const Module<T>*);
template <class Layer>
using element_type_t = decltype(element_type_of(static_cast<std::remove_cvref_t<Layer>*>(nullptr)));

template <class X>
inline constexpr bool is_shared_ptr = false;
template <class X>
inline constexpr bool is_shared_ptr<std::shared_ptr<X>> = true;

/// Builds `layer` for the shapes of `xs` (drawing from the generator of xs[0]'s graph) and returns its output.
template <Real T>
Symbol<T> call_layer(const std::shared_ptr<Module<T>>& layer, const std::vector<Symbol<T>>& xs) {
    EMBER_CHECK(layer != nullptr, ValueError, "nn::call: the layer is null");
    EMBER_CHECK(!xs.empty(), ValueError, "nn::call: ", layer->where(), " called on no input");
    for (std::size_t i = 0; i < xs.size(); ++i)
        EMBER_CHECK(xs[i].defined(), ValueError, "nn::call: ", layer->where(), " called on an undefined symbol (input ",
                    i, "); symbols come from nn::Input and nn::call");
    const auto& generator = xs[0].node().generator;
    Shape out;
    if (auto* merge = dynamic_cast<Merge<T>*>(layer.get())) {
        std::vector<Shape> shapes;
        for (const auto& x : xs) shapes.push_back(x.shape());
        out = merge->build(shapes, *generator);
    } else {
        EMBER_CHECK(xs.size() == 1, ValueError, "nn::call: ", layer->where(), " takes one input, got ", xs.size(),
                    " (merge them first, with nn::Add or nn::Concatenate)");
        EMBER_CHECK(!layer->built() || layer->input_shape() == xs[0].shape(), ShapeError, layer->where(),
                    ": built for input ", layer->input_shape(), ", cannot be called on ", xs[0].shape(),
                    ": a layer keeps the weights it was built with, so each of its calls needs that input shape");
        out = layer->build(xs[0].shape(), *generator);
    }
    return Symbol<T>(std::make_shared<const GraphNode<T>>(GraphNode<T>{layer, xs, out, generator}));
}

template <class Layer>
std::shared_ptr<Module<element_type_t<Layer>>> own(Layer&& layer) {
    static_assert(!std::is_lvalue_reference_v<Layer>,
                  "nn::call: pass a temporary layer (nn::call(nn::Dense(8), x)) or std::move(layer); to call one "
                  "layer on several symbols with shared weights, make it with nn::shared(...)");
    return std::make_shared<std::remove_cvref_t<Layer>>(std::forward<Layer>(layer));
}
}  // namespace detail

/// `layer` applied to symbol `x` (Keras' `layer(x)`): the layer is moved into the graph and built for x's shape.
template <class Layer>
    requires(!detail::is_shared_ptr<std::remove_cvref_t<Layer>>)
Symbol<detail::element_type_t<Layer>> call(Layer&& layer, const Symbol<detail::element_type_t<Layer>>& x) {
    static_assert(!std::derived_from<std::remove_cvref_t<Layer>, Merge<detail::element_type_t<Layer>>>,
                  "nn::call: a merge layer takes a list of symbols: nn::call(nn::Add(), {a, b})");
    return detail::call_layer(detail::own(std::forward<Layer>(layer)), {x});
}

/// A merge layer applied to symbols `xs` (Keras' `Add()([a, b])`): nn::call(nn::Add(), {a, b}).
template <class Layer>
    requires(!detail::is_shared_ptr<std::remove_cvref_t<Layer>>)
Symbol<detail::element_type_t<Layer>> call(Layer&& layer,
                                           const std::vector<Symbol<detail::element_type_t<Layer>>>& xs) {
    static_assert(std::derived_from<std::remove_cvref_t<Layer>, Merge<detail::element_type_t<Layer>>>,
                  "nn::call: only a merge layer (nn::Add, nn::Concatenate) takes a list of symbols");
    return detail::call_layer(detail::own(std::forward<Layer>(layer)), xs);
}

/// A shared layer applied to `x`: every call of one shared layer uses, and trains, the same weights.
template <class Layer>
Symbol<detail::element_type_t<Layer>> call(const std::shared_ptr<Layer>& layer,
                                           const Symbol<detail::element_type_t<Layer>>& x) {
    return detail::call_layer(std::shared_ptr<Module<detail::element_type_t<Layer>>>(layer), {x});
}

/// A shared merge layer applied to symbols `xs`.
template <class Layer>
Symbol<detail::element_type_t<Layer>> call(const std::shared_ptr<Layer>& layer,
                                           const std::vector<Symbol<detail::element_type_t<Layer>>>& xs) {
    return detail::call_layer(std::shared_ptr<Module<detail::element_type_t<Layer>>>(layer), xs);
}

/// `layer` made shareable: nn::call on the result several times gives one layer with one set of weights.
template <class Layer>
    requires std::derived_from<std::remove_cvref_t<Layer>, Module<detail::element_type_t<Layer>>>
std::shared_ptr<std::remove_cvref_t<Layer>> shared(Layer&& layer) {
    static_assert(!std::is_lvalue_reference_v<Layer>,
                  "nn::shared: give it a temporary or std::move(layer); a copy of a named layer would leave the named "
                  "one out of the graph, or share only some of its state");
    return std::make_shared<std::remove_cvref_t<Layer>>(std::forward<Layer>(layer));
}

}  // namespace ember::nn
