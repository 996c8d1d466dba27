// ember/nn/depthwise_conv2d.hpp - the DepthwiseConv2D layer (a [KH, KW, C, depth_multiplier] kernel and a
// [C * depth_multiplier] bias) and SeparableConv2D (depthwise, then a 1x1 Conv2D with the bias).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ember/nn/conv2d.hpp"  // Size2
#include "ember/nn/init.hpp"
#include "ember/nn/module.hpp"

namespace ember::nn {

namespace depthwise_detail {
/// The output extent [OH, OW] of a depthwise kernel on per-sample input `in` [H, W, C]; ShapeError naming `where`
/// when `in` is not [H, W, C] or is smaller than the kernel with 'valid' padding.
inline std::pair<index_t, index_t> output_extent(const Shape& in, Size2 kernel, Size2 strides, Padding padding,
                                                 const std::string& where) {
    EMBER_CHECK(in.rank() == 3, ShapeError, where, ": expected input [N, H, W, C], got [N, ", in.str().substr(1));
    const auto ey = kernels::padded_extent(in[0], kernel.h, strides.h, padding);
    const auto ex = kernels::padded_extent(in[1], kernel.w, strides.w, padding);
    EMBER_CHECK(ey.out > 0 && ex.out > 0, ShapeError, where, ": input [N, ", in.str().substr(1),
                " is smaller than the ", kernel.h, "x", kernel.w, " kernel with 'valid' padding");
    return {ey.out, ex.out};
}

inline void check_arguments(const char* type, Size2 kernel, Size2 strides, index_t depth_multiplier) {
    EMBER_CHECK(kernel.h > 0 && kernel.w > 0, ValueError, type, ": kernel_size must be > 0, got (", kernel.h, ", ",
                kernel.w, ")");
    EMBER_CHECK(strides.h > 0 && strides.w > 0, ValueError, type, ": strides must be > 0, got (", strides.h, ", ",
                strides.w, ")");
    EMBER_CHECK(depth_multiplier > 0, ValueError, type, ": depth_multiplier must be > 0, got ", depth_multiplier);
}
}  // namespace depthwise_detail

/// Keras' DepthwiseConv2D: each input channel convolved with its own depth_multiplier filters, into output channel
/// c * depth_multiplier + m; strides 1, 'valid' padding, no activation and a bias unless given. Kernel
/// [KH, KW, C, depth_multiplier] glorot_uniform (Keras' depthwise_initializer; its fans count the receptive field:
/// KH*KW*C in, KH*KW*depth_multiplier out), bias zeros. Input [N, H, W, C] -> [N, OH, OW, C * depth_multiplier].
template <Real T = float>
class DepthwiseConv2D : public Module<T> {
public:
    explicit DepthwiseConv2D(Size2 kernel_size, Padding padding = Padding::valid,
                             Activation activation = Activation::linear, Size2 strides = 1,
                             index_t depth_multiplier = 1, bool use_bias = true)
        : kernel_(kernel_size), strides_(strides), padding_(padding), activation_(activation),
          depth_multiplier_(depth_multiplier), use_bias_(use_bias) {
        depthwise_detail::check_arguments("DepthwiseConv2D", kernel_, strides_, depth_multiplier_);
    }

    [[nodiscard]] std::string type_name() const override { return "DepthwiseConv2D"; }
    [[nodiscard]] std::string default_name() const override { return "depthwise_conv2d"; }

    Tensor<T> forward(const Tensor<T>& x) override {
        this->require_built();
        return depthwise_conv2d(x, kernel_w_, bias_, options(), this->where());
    }
    /// "depthwise_kernel" and "bias" (none with use_bias = false), as Keras names them.
    [[nodiscard]] std::vector<NamedParameter<T>> named_parameters() const override {
        if (!this->built()) return {};
        if (!use_bias_) return {{"depthwise_kernel", kernel_w_}};
        return {{"depthwise_kernel", kernel_w_}, {"bias", bias_}};
    }
    [[nodiscard]] const Tensor<T>& depthwise_kernel() const { this->require_built(); return kernel_w_; }
    /// Undefined with use_bias = false.
    [[nodiscard]] const Tensor<T>& bias() const { this->require_built(); return bias_; }
    [[nodiscard]] Conv2DOptions options() const {
        return {strides_.h, strides_.w, padding_, activation_ == Activation::relu};
    }

protected:
    Shape do_build(const Shape& in, Generator& gen) override {
        const auto [oh, ow] = depthwise_detail::output_extent(in, kernel_, strides_, padding_, this->where());
        kernel_w_ = init::glorot_uniform<T>({kernel_.h, kernel_.w, in[2], depth_multiplier_}, gen).requires_grad(true);
        if (use_bias_) bias_ = Tensor<T>::zeros({in[2] * depth_multiplier_}).requires_grad(true);
        return {oh, ow, in[2] * depth_multiplier_};
    }

private:
    Size2 kernel_, strides_;
    Padding padding_;
    Activation activation_;
    index_t depth_multiplier_;
    bool use_bias_;
    Tensor<T> kernel_w_, bias_;
};

/// Keras' SeparableConv2D: a depthwise convolution (kernel [KH, KW, C, depth_multiplier], no bias, no
/// activation) then a 1x1 convolution to `filters` channels (kernel [1, 1, C * depth_multiplier, filters]) with
/// the bias and the activation. Both kernels glorot_uniform, bias zeros; strides and padding apply to the
/// depthwise step. The 1x1 step is ember's conv2d (the implicit GEMM at stride 1).
template <Real T = float>
class SeparableConv2D : public Module<T> {
public:
    SeparableConv2D(index_t filters, Size2 kernel_size, Padding padding = Padding::valid,
                    Activation activation = Activation::linear, Size2 strides = 1, index_t depth_multiplier = 1,
                    bool use_bias = true)
        : filters_(filters), kernel_(kernel_size), strides_(strides), padding_(padding), activation_(activation),
          depth_multiplier_(depth_multiplier), use_bias_(use_bias) {
        EMBER_CHECK(filters > 0, ValueError, "SeparableConv2D: filters must be > 0, got ", filters);
        depthwise_detail::check_arguments("SeparableConv2D", kernel_, strides_, depth_multiplier_);
    }

    [[nodiscard]] std::string type_name() const override { return "SeparableConv2D"; }
    [[nodiscard]] std::string default_name() const override { return "separable_conv2d"; }

    Tensor<T> forward(const Tensor<T>& x) override {
        this->require_built();
        const Tensor<T> h = depthwise_conv2d(x, depthwise_w_, Tensor<T>(), {strides_.h, strides_.w, padding_, false},
                                             this->where());
        return conv2d(h, pointwise_w_, bias_, {1, 1, Padding::valid, activation_ == Activation::relu},
                      this->where());
    }
    /// "depthwise_kernel", "pointwise_kernel" and "bias" (none with use_bias = false), as Keras names them.
    [[nodiscard]] std::vector<NamedParameter<T>> named_parameters() const override {
        if (!this->built()) return {};
        std::vector<NamedParameter<T>> out{{"depthwise_kernel", depthwise_w_}, {"pointwise_kernel", pointwise_w_}};
        if (use_bias_) out.push_back({"bias", bias_});
        return out;
    }
    [[nodiscard]] const Tensor<T>& depthwise_kernel() const { this->require_built(); return depthwise_w_; }
    [[nodiscard]] const Tensor<T>& pointwise_kernel() const { this->require_built(); return pointwise_w_; }
    /// Undefined with use_bias = false.
    [[nodiscard]] const Tensor<T>& bias() const { this->require_built(); return bias_; }

protected:
    Shape do_build(const Shape& in, Generator& gen) override {
        const auto [oh, ow] = depthwise_detail::output_extent(in, kernel_, strides_, padding_, this->where());
        const index_t mid = in[2] * depth_multiplier_;
        depthwise_w_ = init::glorot_uniform<T>({kernel_.h, kernel_.w, in[2], depth_multiplier_}, gen).requires_grad(true);
        pointwise_w_ = init::glorot_uniform<T>({1, 1, mid, filters_}, gen).requires_grad(true);
        if (use_bias_) bias_ = Tensor<T>::zeros({filters_}).requires_grad(true);
        return {oh, ow, filters_};
    }

private:
    index_t filters_;
    Size2 kernel_, strides_;
    Padding padding_;
    Activation activation_;
    index_t depth_multiplier_;
    bool use_bias_;
    Tensor<T> depthwise_w_, pointwise_w_, bias_;
};

}  // namespace ember::nn
