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

/// Keras' Conv2D: strides 1, 'valid' padding and no activation unless given; kernel glorot_uniform, bias zeros.
/// Input [N, H, W, C] -> [N, OH, OW, filters] (OH = H with 'same' and stride 1).
template <Real T = float>
class Conv2D : public Module<T> {
public:
    Conv2D(index_t filters, Size2 kernel_size, Padding padding = Padding::valid,
           Activation activation = Activation::linear, Size2 strides = 1)
        : filters_(filters), kernel_(kernel_size), strides_(strides), padding_(padding), activation_(activation) {
        EMBER_CHECK(filters > 0, ValueError, "Conv2D: filters must be > 0, got ", filters);
        EMBER_CHECK(kernel_.h > 0 && kernel_.w > 0, ValueError, "Conv2D: kernel_size must be > 0, got (", kernel_.h,
                    ", ", kernel_.w, ")");
        EMBER_CHECK(strides_.h > 0 && strides_.w > 0, ValueError, "Conv2D: strides must be > 0, got (", strides_.h,
                    ", ", strides_.w, ")");
    }

    [[nodiscard]] std::string type_name() const override { return "Conv2D"; }
    [[nodiscard]] std::string default_name() const override { return "conv2d"; }

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
        return {strides_.h, strides_.w, padding_, activation_ == Activation::relu};
    }

protected:
    Shape do_build(const Shape& in, Generator& gen) override {
        EMBER_CHECK(in.rank() == 3, ShapeError, this->where(), ": expected input [N, H, W, C], got [N, ",
                    in.str().substr(1));
        const Shape kshape{kernel_.h, kernel_.w, in[2], filters_};
        kernel_w_ = init::glorot_uniform<T>(kshape, gen).requires_grad(true);
        bias_ = Tensor<T>::zeros({filters_}).requires_grad(true);
        const auto ey = kernels::padded_extent(in[0], kernel_.h, strides_.h, padding_);
        const auto ex = kernels::padded_extent(in[1], kernel_.w, strides_.w, padding_);
        EMBER_CHECK(ey.out > 0 && ex.out > 0, ShapeError, this->where(), ": input [N, ", in.str().substr(1),
                    " is smaller than the ", kernel_.h, "x", kernel_.w, " kernel with 'valid' padding");
        return {ey.out, ex.out, filters_};
    }

private:
    index_t filters_;
    Size2 kernel_, strides_;
    Padding padding_;
    Activation activation_;
    Tensor<T> kernel_w_, bias_;
};

}  // namespace ember::nn
