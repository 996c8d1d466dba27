// ember/nn/model.hpp - Model<T>: a graph of layer calls from nn::Input symbols to output symbols (Keras' functional
// Model), as a Module: trained by train::fit, saved by io::save_checkpoint, like a Sequential.
//
//     auto in = nn::Input<float>({32, 32, 16});
//     auto x = nn::call(nn::Conv2D(16, 3, nn::same, nn::relu), in);
//     x = nn::call(nn::Conv2D(16, 3, nn::same), x);
//     auto out = nn::call(nn::ReLU(), nn::call(nn::Add(), {x, in}));
//     nn::Model<float> model(in, out);   // built: its layers were built when called (functional.hpp)
//
// The layers are named as in a Sequential ("conv2d", "conv2d_1", ...) when the Model is made, in the graph's
// topological order (inputs first, then each layer after everything it reads); a name given explicitly is kept,
// and two layers of one name are refused. Parameters, buffers and generators come in that order, prefixed by
// the layer's name ("conv2d_1.kernel"). A model of one input and one output is a plain Module (forward(x));
// others take and return lists (forward({a, b})).
#pragma once

#include <algorithm>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "ember/nn/functional.hpp"
#include "ember/nn/sequential.hpp"

namespace ember::nn {

/// Keras' functional Model: `Model<float> model(in, out)` or `Model<float> model({a, b}, {out1, out2})`.
template <Real T = float>
class Model : public Module<T> {
public:
    Model(const Symbol<T>& input, const Symbol<T>& output, std::string name = {})
        : Model(std::vector<Symbol<T>>{input}, std::vector<Symbol<T>>{output}, std::move(name)) {}
    /// Finds the graph between `inputs` (symbols of nn::Input) and `outputs`, names its layers and checks it:
    /// ValueError for an input no output uses, an output that needs an input not among `inputs`, two layers of
    /// one name, an input that is not an nn::Input or given twice.
    Model(std::vector<Symbol<T>> inputs, std::vector<Symbol<T>> outputs, std::string name = {})
        : inputs_(std::move(inputs)), outputs_(std::move(outputs)) {
        this->set_name(std::move(name));
        check_endpoints();
        order_nodes();
        const auto names = plan_names();
        check_all_inputs_used(names);
        for (auto* layer : layers_) layer->set_name(names.at(layer));
        Generator unused(0);  // every layer is built already; this only records the shapes
        Module<T>::build(inputs_[0].shape(), unused);
        // No train() here: the layers may also belong to another model the user put in eval(), and a new model
        // must not switch them back (its own mode is set by train()/eval() like any module's).
    }
    Model(Model&&) noexcept = default;
    Model& operator=(Model&&) noexcept = default;

    [[nodiscard]] std::string type_name() const override { return "Functional"; }
    [[nodiscard]] std::string default_name() const override { return "functional"; }

    [[nodiscard]] const std::vector<Symbol<T>>& inputs() const { return inputs_; }
    [[nodiscard]] const std::vector<Symbol<T>>& outputs() const { return outputs_; }
    /// Every layer once, inputs first, in topological order (Keras' model.layers).
    [[nodiscard]] const std::vector<Module<T>*>& layers() const { return layers_; }
    /// The layer named `name` (Keras' get_layer); ValueError naming the model's layers when there is none.
    [[nodiscard]] Module<T>& layer(const std::string& name) const {
        for (auto* l : layers_)
            if (l->name() == name) return *l;
        std::string known;
        for (auto* l : layers_) (known += known.empty() ? "" : ", ") += l->name();
        throw ValueError(ember::detail::cat(this->where(), " has no layer '", name, "' (it has ", known, ")"));
    }

    /// The model is built when made, from the generators of its Inputs: build() only checks the shape, and a seed
    /// other than the first Input's is refused rather than silently ignored.
    Shape build(const Shape& in, std::uint64_t seed) {
        const auto input_seed = static_cast<const InputLayer<T>&>(inputs_[0].layer()).seed();
        EMBER_CHECK(seed == input_seed, ValueError, this->where(), ": its weights were drawn when its layers were "
                    "called, from its Input's generator (seed ", input_seed, "); build(shape, ", seed,
                    ") cannot draw them again: give the seed to nn::Input(shape, {.seed = ", seed, "})");
        Generator unused(seed);
        return Module<T>::build(in, unused);
    }
    using Module<T>::build;
    using Module<T>::operator();
    /// The outputs for a list of batches, one per input (forward({a, b})).
    std::vector<Tensor<T>> operator()(const std::vector<Tensor<T>>& xs) { return forward(xs); }

    /// A model of one input and one output applied to a batch [N, input shape...].
    Tensor<T> forward(const Tensor<T>& x) override {
        EMBER_CHECK(inputs_.size() == 1 && outputs_.size() == 1, StateError, this->where(), " has ", inputs_.size(),
                    " input(s) and ", outputs_.size(), " output(s): give it a std::vector of one batch per input");
        return forward(std::vector<Tensor<T>>{x})[0];
    }
    /// Runs the graph on one batch per input (each [N, that input's shape...], one N); returns one per output.
    std::vector<Tensor<T>> forward(const std::vector<Tensor<T>>& xs) {
        check_batches(xs);
        std::vector<Tensor<T>> values(nodes_.size());
        for (std::size_t i = 0; i < input_nodes_.size(); ++i) values[input_nodes_[i]] = xs[i];
        for (std::size_t s = inputs_.size(); s < nodes_.size(); ++s) {
            const auto& in = inbound_[s];
            if (auto* merge = dynamic_cast<Merge<T>*>(nodes_[s]->layer.get())) {
                std::vector<Tensor<T>> args;
                for (std::size_t k : in) args.push_back(values[k]);
                values[s] = merge->forward(args);
            } else {
                values[s] = nodes_[s]->layer->forward(values[in[0]]);
            }
            for (std::size_t k : in)  // an intermediate result lives only until its last reader has run
                if (last_use_[k] == s && !is_output_[k]) values[k] = Tensor<T>();
        }
        std::vector<Tensor<T>> out;
        for (std::size_t k : output_nodes_) out.push_back(values[k]);
        return out;
    }

    /// Each tensor once, under its first name: a layer reachable both directly and inside a nested Model would
    /// otherwise be listed twice, and an optimizer would update it twice a step.
    [[nodiscard]] std::vector<NamedParameter<T>> named_parameters() const override {
        return unique_named([](const Module<T>& l) { return l.named_parameters(); });
    }
    [[nodiscard]] std::vector<NamedParameter<T>> named_buffers() const override {
        return unique_named([](const Module<T>& l) { return l.named_buffers(); });
    }
    [[nodiscard]] std::vector<std::pair<std::string, Generator*>> named_generators() override {
        std::vector<std::pair<std::string, Generator*>> out;
        for (auto* layer : layers_)
            for (auto& [name, gen] : layer->named_generators()) {
                const Generator* g = gen;  // once, as parameters are
                if (std::none_of(out.begin(), out.end(), [&](const auto& o) { return o.second == g; }))
                    out.emplace_back(layer->name() + "." + name, gen);
            }
        return out;
    }
    void train(bool on = true) override {
        Module<T>::train(on);
        for (auto* layer : layers_) layer->train(on);
    }
    void set_trainable(bool on) override {
        Module<T>::set_trainable(on);
        for (auto* layer : layers_) layer->set_trainable(on);
    }

    /// Each layer's "name:Type:[out shape]", with "<-" and the layers each of its calls reads ("add:Add:[8, 8, 4]
    /// <-conv2d_1,input_layer"; calls of a shared layer apart by '|'), then "outputs:" and the output layers: what
    /// checkpoints compare, so that weights of another wiring are refused.
    [[nodiscard]] std::string architecture() const override {
        std::string s;
        for (const auto* layer : layers_) {
            // appends only: GCC 12 -O3 warns of an overflow in string::insert, which `"x" + str` calls
            (s += s.empty() ? "" : ";") += layer->name() + ":" + layer->recorded_type() + ":" + layer->output_shape().str();
            std::string calls;
            for (std::size_t n = 0; n < nodes_.size(); ++n) {
                if (nodes_[n]->layer.get() != layer || inbound_[n].empty()) continue;
                std::string reads;
                for (std::size_t k : inbound_[n]) (reads += reads.empty() ? "" : ",") += label(k);
                (calls += calls.empty() ? "" : "|") += reads;
            }
            if (!calls.empty()) (s += "<-") += calls;
        }
        std::string outs;
        for (std::size_t k : output_nodes_) (outs += outs.empty() ? "" : ",") += label(k);
        return s + ";outputs:" + outs;
    }

    /// Keras' functional summary: layer (type), output shape, parameter count and "Connected to" (the layer calls
    /// each call reads, as "conv2d[0][0]": layer, call, output), then the totals.
    [[nodiscard]] std::string summary() const;

protected:
    /// Called once, by the constructor: every layer was built when it was called.
    Shape do_build(const Shape&, Generator&) override { return outputs_[0].shape(); }

private:
    template <class Get>
    std::vector<NamedParameter<T>> unique_named(Get get) const {
        std::vector<NamedParameter<T>> out;
        for (const auto* layer : layers_)
            for (auto& p : get(*layer)) {
                const bool seen = std::any_of(out.begin(), out.end(),
                                              [&](const auto& o) { return o.value.shares_storage_with(p.value); });
                if (!seen) out.push_back({layer->name() + "." + p.name, p.value});
            }
        return out;
    }
    void check_endpoints() const;
    void order_nodes();
    [[nodiscard]] std::map<const Module<T>*, std::string> plan_names() const;
    void check_all_inputs_used(const std::map<const Module<T>*, std::string>& names) const;
    void check_batches(const std::vector<Tensor<T>>& xs) const;
    /// "conv2d" for a layer's first call, "conv2d[1]" for its second.
    [[nodiscard]] std::string label(std::size_t node) const {
        const std::string& name = nodes_[node]->layer->name();
        return call_index_[node] == 0 ? name : name + "[" + std::to_string(call_index_[node]) + "]";
    }
    /// "[N, 32, 32, 3]" for per-sample shape [32, 32, 3].
    static std::string batch_str(const Shape& s) {
        return s.rank() == 0 ? "[N]" : std::string("[N, ") += s.str().substr(1);
    }

    std::vector<Symbol<T>> inputs_, outputs_;
    std::vector<const detail::GraphNode<T>*> nodes_;  // every call, inputs first, each after those it reads
    std::unordered_map<const detail::GraphNode<T>*, std::size_t> index_;
    std::vector<std::vector<std::size_t>> inbound_;  // per node: the nodes it reads
    std::vector<std::size_t> input_nodes_, output_nodes_, last_use_, call_index_;
    std::vector<bool> is_output_;
    std::vector<Module<T>*> layers_;  // distinct, in the order of their first call
};

template <Real T>
void Model<T>::check_endpoints() const {
    EMBER_CHECK(!inputs_.empty() && !outputs_.empty(), ValueError, this->where(), ": needs at least one input and "
                "one output, got ", inputs_.size(), " and ", outputs_.size());
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
        EMBER_CHECK(inputs_[i].defined(), ValueError, this->where(), ": input ", i, " is an undefined symbol");
        EMBER_CHECK(inputs_[i].is_input() && dynamic_cast<const InputLayer<T>*>(&inputs_[i].layer()) != nullptr,
                    ValueError, this->where(),
                    ": input ", i, " is the output of ", inputs_[i].layer().where(), ", not an nn::Input");
        for (std::size_t j = 0; j < i; ++j)
            EMBER_CHECK(!inputs_[i].same_as(inputs_[j]), ValueError, this->where(), ": input ", i, " is input ", j,
                        " again");
    }
    for (std::size_t i = 0; i < outputs_.size(); ++i)
        EMBER_CHECK(outputs_[i].defined(), ValueError, this->where(), ": output ", i, " is an undefined symbol");
}

/// Places the inputs, then every call the outputs need, each after the calls it reads (a depth-first walk from
/// each output in turn), and derives what forward() and the summary use from that order.
template <Real T>
void Model<T>::order_nodes() {
    std::unordered_map<const detail::GraphNode<T>*, int> state;  // 1: being visited, 2: placed
    auto place = [&](const detail::GraphNode<T>* node) {
        state[node] = 2;
        index_[node] = nodes_.size();
        nodes_.push_back(node);
    };
    for (const auto& in : inputs_) place(&in.node());
    for (std::size_t o = 0; o < outputs_.size(); ++o) {
        const auto* root = &outputs_[o].node();
        if (state[root] == 2) continue;
        state[root] = 1;
        std::vector<std::pair<const detail::GraphNode<T>*, std::size_t>> stack{{root, 0}};
        while (!stack.empty()) {
            auto& [node, next] = stack.back();
            if (next == node->inbound.size()) {
                EMBER_CHECK(!node->inbound.empty(), ValueError, this->where(), ": output ", o, " (",
                            outputs_[o].layer().where(), ") needs ", node->layer->where(), " of shape ", node->shape,
                            ", an nn::Input that is not among the model's inputs");
                place(node);
                stack.pop_back();
                continue;
            }
            const auto* child = &node->inbound[next++].node();
            int& st = state[child];
            // A call's inputs exist before it and symbols never change, so a graph of symbols cannot loop back on
            // itself; the check guards the walk's order against a graph that could.
            EMBER_CHECK(st != 1, StateError, this->where(), ": the graph has a cycle through ", child->layer->where());
            if (st == 2) continue;
            st = 1;
            stack.emplace_back(child, 0);
        }
    }
    const std::size_t n = nodes_.size(), none = static_cast<std::size_t>(-1);
    inbound_.assign(n, {});
    last_use_.assign(n, none);
    call_index_.assign(n, 0);
    is_output_.assign(n, false);
    std::unordered_map<const Module<T>*, std::size_t> calls;
    for (std::size_t s = 0; s < n; ++s) {
        for (const auto& sym : nodes_[s]->inbound) {
            inbound_[s].push_back(index_.at(&sym.node()));
            last_use_[inbound_[s].back()] = s;
        }
        const Module<T>* layer = nodes_[s]->layer.get();
        call_index_[s] = calls[layer]++;
        if (call_index_[s] == 0) layers_.push_back(nodes_[s]->layer.get());
    }
    for (std::size_t i = 0; i < inputs_.size(); ++i) input_nodes_.push_back(i);
    for (const auto& out : outputs_) {
        output_nodes_.push_back(index_.at(&out.node()));
        is_output_[output_nodes_.back()] = true;
    }
}

/// Each layer's name: its own when it has one (two layers of one name are a ValueError), else the first of
/// "conv2d", "conv2d_1", ... that no layer of the model holds, in the order of layers_.
template <Real T>
std::map<const Module<T>*, std::string> Model<T>::plan_names() const {
    std::map<const Module<T>*, std::string> names;
    std::map<std::string, const Module<T>*> taken;
    for (const auto* layer : layers_) {
        if (layer->name().empty()) continue;
        const auto [it, fresh] = taken.emplace(layer->name(), layer);
        EMBER_CHECK(fresh, ValueError, this->where(), ": two layers are named '", layer->name(), "' (",
                    it->second->type_name(), " and ", layer->type_name(), "); names must be unique within a model");
        names[layer] = layer->name();
    }
    std::map<std::string, int> counts;
    for (const auto* layer : layers_) {
        if (!layer->name().empty()) continue;
        const std::string base = layer->default_name();
        std::string name;
        do {
            const int k = counts[base]++;
            name = k == 0 ? base : base + "_" + std::to_string(k);
        } while (taken.contains(name));
        taken.emplace(name, layer);
        names[layer] = name;
    }
    return names;
}

template <Real T>
void Model<T>::check_all_inputs_used(const std::map<const Module<T>*, std::string>& names) const {
    for (std::size_t i = 0; i < inputs_.size(); ++i)
        EMBER_CHECK(last_use_[i] != static_cast<std::size_t>(-1) || is_output_[i], ValueError, this->where(),
                    ": input '", names.at(nodes_[i]->layer.get()), "' (", inputs_[i].shape(),
                    ") is not used by any output");
}

template <Real T>
void Model<T>::check_batches(const std::vector<Tensor<T>>& xs) const {
    EMBER_CHECK(xs.size() == inputs_.size(), ValueError, this->where(), ": takes ", inputs_.size(),
                " input batch(es), got ", xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const std::string& name = inputs_[i].layer().name();
        EMBER_CHECK(xs[i].defined(), ValueError, this->where(), ": the batch for input '", name, "' is undefined");
        EMBER_CHECK(xs[i].rank() >= 1 && xs[i].shape().drop_front() == inputs_[i].shape(), ShapeError, this->where(),
                    ": input '", name, "' expects ", batch_str(inputs_[i].shape()), ", got ", xs[i].shape());
        EMBER_CHECK(xs[i].size(0) == xs[0].size(0), ShapeError, this->where(), ": the batch for input '", name,
                    "' has ", xs[i].size(0), " samples, the first input's has ", xs[0].size(0));
    }
}

template <Real T>
std::string Model<T>::summary() const {
    std::ostringstream os;
    const std::string rule(98, '_'), double_rule(98, '=');
    auto row = [&](const std::string& layer, const std::string& shape, const std::string& params,
                   const std::string& connected) {
        os << ' ' << std::left << std::setw(32) << layer << std::setw(26) << shape << std::right << std::setw(9)
           << params << "  " << connected << '\n';
    };
    auto shape_str = [](const Shape& s) {
        std::string r = "(None";
        for (index_t d : s) r += ", " + std::to_string(d);
        return r + ")";
    };
    os << "Model: \"" << (this->name().empty() ? this->default_name() : this->name()) << "\"\n" << rule << '\n';
    row("Layer (type)", "Output Shape", "Param #", "Connected to");
    os << double_rule << '\n';
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        const Module<T>* layer = layers_[i];
        std::vector<std::string> connected;
        for (std::size_t n = 0; n < nodes_.size(); ++n)
            if (nodes_[n]->layer.get() == layer)
                for (std::size_t k : inbound_[n])
                    connected.push_back(nodes_[k]->layer->name() + "[" + std::to_string(call_index_[k]) + "][0]");
        if (connected.empty()) connected.push_back("-");
        row(layer->name() + " (" + layer->type_name() + ")", shape_str(layer->output_shape()),
            Sequential<T>::with_commas(layer->parameter_count() + layer->buffer_count()), connected[0]);
        for (std::size_t c = 1; c < connected.size(); ++c) os << std::string(70, ' ') << connected[c] << '\n';
        os << (i + 1 < layers_.size() ? std::string() : double_rule) << '\n';
    }
    const index_t trainable = this->trainable_parameter_count();
    const index_t frozen = this->parameter_count() - trainable + this->buffer_count();
    os << "Total params: " << Sequential<T>::with_commas(trainable + frozen) << '\n'
       << "Trainable params: " << Sequential<T>::with_commas(trainable) << '\n'
       << "Non-trainable params: " << Sequential<T>::with_commas(frozen) << '\n'
       << rule << '\n';
    return os.str();
}

}  // namespace ember::nn
