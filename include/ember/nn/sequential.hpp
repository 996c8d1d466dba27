// ember/nn/sequential.hpp - Sequential<T>: a runtime list of layers with Keras-style naming, shape inference
// (build) and summary().
#pragma once

#include <concepts>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>
#include <type_traits>

#include "ember/nn/module.hpp"

namespace ember::nn {

/// Layers applied in order. Construct from layer values (`Sequential<float>{Conv2D(32, 5), Flatten(), ...}`) or
/// add() them one by one. Names follow Keras ("conv2d", "conv2d_1", ...) unless a layer was named already.
template <Real T = float>
class Sequential : public Module<T> {
public:
    Sequential() = default;
    template <class... Layers>
        requires(sizeof...(Layers) > 0 && (std::derived_from<std::remove_cvref_t<Layers>, Module<T>> && ...))
    Sequential(Layers&&... layers) {  // NOLINT: braces read as a list of layers
        (add(std::forward<Layers>(layers)), ...);
    }
    Sequential(Sequential&&) noexcept = default;
    Sequential& operator=(Sequential&&) noexcept = default;

    [[nodiscard]] std::string type_name() const override { return "Sequential"; }
    [[nodiscard]] std::string default_name() const override { return "sequential"; }

    /// Appends a layer (moved or copied in). Returns a reference to the stored layer.
    template <class Layer>
        requires std::derived_from<std::remove_cvref_t<Layer>, Module<T>>
    std::remove_cvref_t<Layer>& add(Layer&& layer) {
        auto owned = std::make_unique<std::remove_cvref_t<Layer>>(std::forward<Layer>(layer));
        auto& ref = *owned;
        add(std::unique_ptr<Module<T>>(std::move(owned)));
        return ref;
    }
    void add(std::unique_ptr<Module<T>> layer) {
        EMBER_CHECK(layer != nullptr, ValueError, "Sequential::add: null layer");
        EMBER_CHECK(!this->built(), StateError, "Sequential::add: cannot add ", layer->type_name(),
                    " to a model that is already built");
        if (layer->name().empty()) {
            const std::string base = layer->default_name();
            const int k = name_counts_[base]++;
            layer->set_name(k == 0 ? base : base + "_" + std::to_string(k));
        }
        layer->train(this->is_training());
        layers_.push_back(std::move(layer));
    }

    /// Removes layer i of a model, which must keep the shape it is given (a removal may not change what the
    /// layers after it receive): fold_batch_norm() uses it. Throws ValueError otherwise, naming the layer.
    void remove(std::size_t i) {
        EMBER_CHECK(i < layers_.size(), ValueError, this->where(), ": no layer ", i, " to remove (", layers_.size(),
                    " layers)");
        const Module<T>& layer = *layers_[i];
        EMBER_CHECK(!this->built() || layer.input_shape() == layer.output_shape(), ValueError, this->where(),
                    ": cannot remove ", layer.where(), ", which maps ", layer.input_shape(), " to ",
                    layer.output_shape());
        EMBER_CHECK(layers_.size() > 1, ValueError, this->where(), ": cannot remove its only layer");
        layers_.erase(layers_.begin() + static_cast<std::ptrdiff_t>(i));
    }

    [[nodiscard]] std::size_t size() const { return layers_.size(); }
    [[nodiscard]] Module<T>& operator[](std::size_t i) { return *layers_.at(i); }
    [[nodiscard]] const Module<T>& operator[](std::size_t i) const { return *layers_.at(i); }

    /// Builds every layer for per-sample input shape `in` (e.g. {180, 180, 3}), drawing initial weights from a
    /// generator seeded with `seed`. Returns the per-sample output shape.
    Shape build(const Shape& in, std::uint64_t seed = 0) {
        Generator gen(seed);
        return Module<T>::build(in, gen);
    }
    using Module<T>::build;

    Tensor<T> forward(const Tensor<T>& x) override {
        EMBER_CHECK(x.rank() >= 1 && x.shape().drop_front() == this->input_shape(), ShapeError, this->where(),
                    ": expected input [N, ", this->input_shape().str().substr(1), ", got ", x.shape());
        Tensor<T> h = x;
        for (auto& layer : layers_) h = layer->forward(h);
        return h;
    }

    [[nodiscard]] std::vector<NamedParameter<T>> named_parameters() const override {
        std::vector<NamedParameter<T>> out;
        for (const auto& layer : layers_)
            for (auto& p : layer->named_parameters()) out.push_back({layer->name() + "." + p.name, p.value});
        return out;
    }

    [[nodiscard]] std::vector<NamedParameter<T>> named_buffers() const override {
        std::vector<NamedParameter<T>> out;
        for (const auto& layer : layers_)
            for (auto& b : layer->named_buffers()) out.push_back({layer->name() + "." + b.name, b.value});
        return out;
    }

    [[nodiscard]] std::vector<std::pair<std::string, Generator*>> named_generators() override {
        std::vector<std::pair<std::string, Generator*>> out;
        for (auto& layer : layers_)
            for (auto& [name, gen] : layer->named_generators()) out.emplace_back(layer->name() + "." + name, gen);
        return out;
    }

    void train(bool on = true) override {
        Module<T>::train(on);
        for (auto& layer : layers_) layer->train(on);
    }
    void set_trainable(bool on) override {
        Module<T>::set_trainable(on);
        for (auto& layer : layers_) layer->set_trainable(on);
    }

    /// "conv2d:Conv2D:[180, 180, 32];...": each layer's name, type and output shape (what checkpoints compare).
    [[nodiscard]] std::string architecture() const override {
        std::string s;
        for (std::size_t i = 0; i < size(); ++i) {
            if (i) s += ';';
            s += (*this)[i].name() + ":" + (*this)[i].recorded_type() + ":" + (*this)[i].output_shape().str();
        }
        return s;
    }

    /// Keras-style table: layer (type), output shape, parameter count, and the totals.
    [[nodiscard]] std::string summary() const {
        this->require_built();
        std::ostringstream os;
        const std::string rule(79, '_'), double_rule(79, '=');
        auto shape_str = [](const Shape& s) {
            std::string r = "(None";
            for (index_t d : s) r += ", " + std::to_string(d);
            return r + ")";
        };
        auto row = [&](const std::string& a, const std::string& b, const std::string& c) {
            os << ' ' << std::left << std::setw(36) << a << std::setw(28) << b << std::right << std::setw(13) << c
               << '\n';
        };
        os << "Model: \"" << (this->name().empty() ? this->default_name() : this->name()) << "\"\n" << rule << '\n';
        row("Layer (type)", "Output Shape", "Param #");
        os << double_rule << '\n';
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            const auto& l = *layers_[i];
            row(l.name() + " (" + l.type_name() + ")", shape_str(l.output_shape()),
                with_commas(l.parameter_count() + l.buffer_count()));
            os << (i + 1 < layers_.size() ? std::string() : double_rule) << '\n';
        }
        const index_t trainable = this->trainable_parameter_count();
        const index_t frozen = this->parameter_count() - trainable + this->buffer_count();
        os << "Total params: " << with_commas(trainable + frozen) << '\n'
           << "Trainable params: " << with_commas(trainable) << '\n'
           << "Non-trainable params: " << with_commas(frozen) << '\n'
           << rule << '\n';
        return os.str();
    }

    /// 460585 -> "460,585".
    static std::string with_commas(index_t n) {
        const std::string digits = std::to_string(n);
        std::string s;
        for (std::size_t i = 0; i < digits.size(); ++i) {  // appends only: GCC 12 -O3 misreads string::insert
            if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) s += ',';
            s += digits[i];
        }
        return s;
    }

protected:
    Shape do_build(const Shape& in, Generator& gen) override {
        EMBER_CHECK(!layers_.empty(), StateError, this->where(), ": cannot build a model without layers");
        Shape s = in;
        for (auto& layer : layers_) s = layer->build(s, gen);
        return s;
    }

private:
    std::vector<std::unique_ptr<Module<T>>> layers_;
    std::map<std::string, int> name_counts_;
};

}  // namespace ember::nn
