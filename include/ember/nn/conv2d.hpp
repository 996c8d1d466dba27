// ember/nn/conv2d.hpp - the Conv2D layer: owns a HWIO kernel [KH, KW, C_in, filters] and a bias [filters].
#pragma once

#include "ember/nn/init.hpp"
#include "ember/nn/module.hpp"

namespace ember::nn {

/// A pair of extents that converts from one int (5 -> 5x5) or from {height, width}.
struct Size2 {
    index_t h = 1, w = 1;
    Size2(index_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose, Conv2D(32, 5)
    Size2(index_t h_, index_t w_) : h(h_), w(w_) {}
};

/// Keras' Conv2D: strides 1, 'valid' padding, dilation 1 and no activation unless given; kernel glorot_uniform,
/// bias zeros. Input [N, H, W, C] -> [N, OH, OW, filters] (OH = H with 'same' and stride 1). A dilation_rate d
/// spaces the taps d apart (a 3x3 kernel with d = 2 sees a 5x5 window); as in Keras, strides and dilation cannot
/// both exceed 1.
template <Real T = float>
class Conv2D : public Module<T> {
public:
    Conv2D(index_t filters, Size2 kernel_size, Padding padding = Padding::valid,
           Activation activation = Activation::linear, Size2 strides = 1, Size2 dilation_rate = 1)
        : filters_(filters), kernel_(kernel_size), strides_(strides), dilation_(dilation_rate), padding_(padding),
          activation_(activation) {
        EMBER_CHECK(filters > 0, ValueError, "Conv2D: filters must be > 0, got ", filters);
        EMBER_CHECK(kernel_.h > 0 && kernel_.w > 0, ValueError, "Conv2D: kernel_size must be > 0, got (", kernel_.h,
                    ", ", kernel_.w, ")");
        EMBER_CHECK(strides_.h > 0 && strides_.w > 0, ValueError, "Conv2D: strides must be > 0, got (", strides_.h,
                    ", ", strides_.w, ")");
        EMBER_CHECK(dilation_.h > 0 && dilation_.w > 0, ValueError, "Conv2D: dilation_rate must be > 0, got (",
                    dilation_.h, ", ", dilation_.w, ")");
        EMBER_CHECK((dilation_.h == 1 && dilation_.w == 1) || (strides_.h == 1 && strides_.w == 1), ValueError,
                    "Conv2D: strides (", strides_.h, ", ", strides_.w, ") and dilation_rate (", dilation_.h, ", ",
                    dilation_.w, ") cannot both exceed 1 (as in Keras)");
    }

    [[nodiscard]] std::string type_name() const override { return "Conv2D"; }
    [[nodiscard]] std::string default_name() const override { return "conv2d"; }
    [[nodiscard]] std::string settings() const override {
        if (dilation_.h == 1 && dilation_.w == 1) return {};
        return "dilation=" + std::to_string(dilation_.h) + "x" + std::to_string(dilation_.w);
    }

    Tensor<T> forward(const Tensor<T>& x) override {
        this->require_built();
        return conv2d(x, kernel_w_, bias_, options(), this->where());
    }
    [[nodiscard]] std::vector<NamedParameter<T>> named_parameters() const override {
        if (!this->built()) return {};
        return {{"kernel", kernel_w_}, {"bias", bias_}};
    }
    [[nodiscard]] const Tensor<T>& kernel() const { this->require_built(); return kernel_w_; }
    [[nodiscard]] const Tensor<T>& bias() const { this->require_built(); return bias_; }
    [[nodiscard]] Conv2DOptions options() const {
        return {strides_.h, strides_.w, padding_, activation_ == Activation::relu, dilation_.h, dilation_.w};
    }

protected:
    Shape do_build(const Shape& in, Generator& gen) override {
        EMBER_CHECK(in.rank() == 3, ShapeError, this->where(), ": expected input [N, H, W, C], got [N, ",
                    in.str().substr(1));
        // the window a dilated kernel spans; checked before any weight is drawn, so that a refused call leaves
        // the generator (and so every later layer's weights) as it was
        const index_t span_h = (kernel_.h - 1) * dilation_.h + 1, span_w = (kernel_.w - 1) * dilation_.w + 1;
        const auto ey = kernels::padded_extent(in[0], span_h, strides_.h, padding_);
        const auto ex = kernels::padded_extent(in[1], span_w, strides_.w, padding_);
        EMBER_CHECK(ey.out > 0 && ex.out > 0, ShapeError, this->where(), ": input [N, ", in.str().substr(1),
                    " is smaller than the ", span_h, "x", span_w, " kernel window with 'valid' padding");
        const Shape kshape{kernel_.h, kernel_.w, in[2], filters_};
        kernel_w_ = init::glorot_uniform<T>(kshape, gen).requires_grad(true);
        bias_ = Tensor<T>::zeros({filters_}).requires_grad(true);
        return {ey.out, ex.out, filters_};
    }

private:
    index_t filters_;
    Size2 kernel_, strides_, dilation_;
    Padding padding_;
    Activation activation_;
    Tensor<T> kernel_w_, bias_;
};

}  // namespace ember::nn
