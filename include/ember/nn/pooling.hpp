// ember/nn/pooling.hpp - the pooling layers: MaxPool2D, AveragePooling2D, GlobalAveragePooling2D,
// GlobalMaxPooling2D (Keras' names, arguments and defaults; NHWC).
#pragma once

#include <optional>
#include <string>

#include "ember/nn/conv2d.hpp"  // Size2
#include "ember/nn/module.hpp"

namespace ember::nn {

namespace pooling_detail {
/// What MaxPool2D and AveragePooling2D share: the window, strides (the pool size unless given), padding, and the
/// output shape at build.
template <Real T>
class Pool2DLayer : public Module<T> {
protected:
    Pool2DLayer(const char* type, Size2 pool_size, std::optional<Size2> strides, Padding padding)
        : pool_(pool_size), strides_(strides.value_or(pool_size)), padding_(padding) {
        EMBER_CHECK(pool_.h > 0 && pool_.w > 0 && strides_.h > 0 && strides_.w > 0, ValueError, type,
                    ": pool size and strides must be > 0, got pool (", pool_.h, ", ", pool_.w, ") strides (",
                    strides_.h, ", ", strides_.w, ")");
    }
    [[nodiscard]] Pool2DOptions options() const { return {pool_.h, pool_.w, strides_.h, strides_.w, padding_}; }
    Shape do_build(const Shape& in, Generator&) override {
        EMBER_CHECK(in.rank() == 3, ShapeError, this->where(), ": expected input [N, H, W, C], got [N, ",
                    in.str().substr(1));
        const auto g = kernels::Pool2DGeometry::make(1, in[0], in[1], in[2], pool_.h, pool_.w, strides_.h,
                                                     strides_.w, padding_);
        EMBER_CHECK(g.oh > 0 && g.ow > 0, ShapeError, this->where(), ": input [N, ", in.str().substr(1),
                    " is smaller than the pool window");
        return {g.oh, g.ow, in[2]};
    }

private:
    Size2 pool_, strides_;
    Padding padding_;
};

/// What the global pooling layers share: [N, H, W, C] -> [N, C], or [N, 1, 1, C] with keepdims.
template <Real T>
class GlobalPool2DLayer : public Module<T> {
protected:
    explicit GlobalPool2DLayer(bool keepdims) : keepdims_(keepdims) {}
    [[nodiscard]] bool keepdims() const { return keepdims_; }
    Shape do_build(const Shape& in, Generator&) override {
        EMBER_CHECK(in.rank() == 3, ShapeError, this->where(), ": expected input [N, H, W, C], got [N, ",
                    in.str().substr(1));
        EMBER_CHECK(in[0] > 0 && in[1] > 0, ShapeError, this->where(), ": input [N, ", in.str().substr(1),
                    " has no pixels to pool");
        return keepdims_ ? Shape{1, 1, in[2]} : Shape{in[2]};
    }

private:
    bool keepdims_;
};
}  // namespace pooling_detail

/// Keras' MaxPooling2D: strides = pool size unless given, 'valid' (180 -> 90 -> 45 -> 22) or 'same' (ceil(H /
/// stride); the padding never wins).
template <Real T = float>
class MaxPool2D : public pooling_detail::Pool2DLayer<T> {
public:
    explicit MaxPool2D(Size2 pool_size = 2, std::optional<Size2> strides = std::nullopt,
                       Padding padding = Padding::valid)
        : pooling_detail::Pool2DLayer<T>("MaxPool2D", pool_size, strides, padding) {}
    [[nodiscard]] std::string type_name() const override { return "MaxPool2D"; }
    [[nodiscard]] std::string default_name() const override { return "max_pool2d"; }
    Tensor<T> forward(const Tensor<T>& x) override { return max_pool2d(x, this->options(), this->where()); }
};

/// Keras' AveragePooling2D: strides = pool size unless given, 'valid' or 'same' (a border window averages only
/// its pixels inside the image, as TensorFlow does).
template <Real T = float>
class AveragePooling2D : public pooling_detail::Pool2DLayer<T> {
public:
    explicit AveragePooling2D(Size2 pool_size = 2, std::optional<Size2> strides = std::nullopt,
                              Padding padding = Padding::valid)
        : pooling_detail::Pool2DLayer<T>("AveragePooling2D", pool_size, strides, padding) {}
    [[nodiscard]] std::string type_name() const override { return "AveragePooling2D"; }
    [[nodiscard]] std::string default_name() const override { return "average_pooling2d"; }
    Tensor<T> forward(const Tensor<T>& x) override { return avg_pool2d(x, this->options(), this->where()); }
};

/// Keras' GlobalAveragePooling2D: the mean over all pixels, [N, H, W, C] -> [N, C] ([N, 1, 1, C] with keepdims).
template <Real T = float>
class GlobalAveragePooling2D : public pooling_detail::GlobalPool2DLayer<T> {
public:
    explicit GlobalAveragePooling2D(bool keepdims = false) : pooling_detail::GlobalPool2DLayer<T>(keepdims) {}
    [[nodiscard]] std::string type_name() const override { return "GlobalAveragePooling2D"; }
    [[nodiscard]] std::string default_name() const override { return "global_average_pooling2d"; }
    Tensor<T> forward(const Tensor<T>& x) override { return global_avg_pool2d(x, this->keepdims(), this->where()); }
};

/// Keras' GlobalMaxPooling2D: the max over all pixels, [N, H, W, C] -> [N, C] ([N, 1, 1, C] with keepdims); the
/// gradient goes to the first maximum.
template <Real T = float>
class GlobalMaxPooling2D : public pooling_detail::GlobalPool2DLayer<T> {
public:
    explicit GlobalMaxPooling2D(bool keepdims = false) : pooling_detail::GlobalPool2DLayer<T>(keepdims) {}
    [[nodiscard]] std::string type_name() const override { return "GlobalMaxPooling2D"; }
    [[nodiscard]] std::string default_name() const override { return "global_max_pooling2d"; }
    Tensor<T> forward(const Tensor<T>& x) override { return global_max_pool2d(x, this->keepdims(), this->where()); }
};

}  // namespace ember::nn
