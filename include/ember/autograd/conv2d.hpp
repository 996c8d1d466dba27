// ember/autograd/conv2d.hpp - differentiable 2-D convolution (NHWC input, HWIO kernel), optional bias and
// fused ReLU. Shapes are checked here once; kernels/conv2d.hpp trusts them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "ember/autograd/engine.hpp"
#include "ember/kernels/conv2d.hpp"

namespace ember {

using kernels::Padding;

struct Conv2DOptions {
    index_t stride_h = 1;
    index_t stride_w = 1;
    Padding padding = Padding::valid;  // Keras' default
    bool relu = false;                 // fuse max(y, 0) into the output pass
    index_t dilation_h = 1;            // Keras' dilation_rate: taps dilation apart (atrous convolution)
    index_t dilation_w = 1;
};

namespace detail {
/// A dilated kernel as the dense kernel it equals: [(KH-1)*dh+1, (KW-1)*dw+1, C, K] with the taps at multiples of
/// the dilation and zeros between. Convolving with it is the dilated convolution ('same' padding included, which
/// TensorFlow also computes from the effective extent); it spends multiply-adds on the zeros, which keeps one set
/// of convolution kernels and their tests for both.
template <Real T>
Tensor<T> dilate_kernel(const Tensor<T>& w, index_t dh, index_t dw) {
    const index_t kh = w.size(0), kw = w.size(1), ck = w.size(2) * w.size(3);
    Tensor<T> out = Tensor<T>::zeros({(kh - 1) * dh + 1, (kw - 1) * dw + 1, w.size(2), w.size(3)});
    for (index_t y = 0; y < kh; ++y)
        for (index_t x = 0; x < kw; ++x)
            std::copy_n(w.data() + (y * kw + x) * ck, ck, out.data() + (y * dh * out.size(1) + x * dw) * ck);
    return out;
}

/// Adds the taps of a dense kernel's gradient `g` (dilate_kernel's layout) into the dilated kernel's gradient `gw`.
template <Real T>
void add_dilated_taps(const Tensor<T>& g, index_t dh, index_t dw, Tensor<T>& gw) {
    const index_t kh = gw.size(0), kw = gw.size(1), ck = gw.size(2) * gw.size(3);
    for (index_t y = 0; y < kh; ++y)
        for (index_t x = 0; x < kw; ++x) {
            const T* src = g.data() + (y * dh * g.size(1) + x * dw) * ck;
            T* dst = gw.data() + (y * kw + x) * ck;
            for (index_t i = 0; i < ck; ++i) dst[i] += src[i];
        }
}

template <Real T>
Tensor<T> dilated_conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias, const Conv2DOptions& o,
                         const std::string& where);

/// The one shape check shared by conv2d's forward and backward paths. `where` names the caller in messages.
template <Real T>
kernels::Conv2DGeometry check_conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias,
                                     const Conv2DOptions& o, const std::string& where) {
    EMBER_CHECK(w.rank() == 4, ShapeError, where, ": expected kernel [KH, KW, C_in, C_out], got ", w.shape());
    EMBER_CHECK(x.rank() == 4 && x.size(3) == w.size(2), ShapeError, where, ": expected input [N, H, W, ",
                w.size(2), "], got ", x.shape());
    EMBER_CHECK(!bias.defined() || (bias.rank() == 1 && bias.size(0) == w.size(3)), ShapeError, where,
                ": expected bias [", w.size(3), "], got ", bias.shape());
    EMBER_CHECK(o.stride_h > 0 && o.stride_w > 0, ValueError, where, ": strides must be > 0, got (", o.stride_h,
                ", ", o.stride_w, ")");
    EMBER_CHECK(o.dilation_h > 0 && o.dilation_w > 0, ValueError, where, ": dilation_rate must be > 0, got (",
                o.dilation_h, ", ", o.dilation_w, ")");
    EMBER_CHECK((o.dilation_h == 1 && o.dilation_w == 1) || (o.stride_h == 1 && o.stride_w == 1), ValueError, where,
                ": strides (", o.stride_h, ", ", o.stride_w, ") and dilation_rate (", o.dilation_h, ", ", o.dilation_w,
                ") cannot both exceed 1 (as in Keras)");
    auto g = kernels::Conv2DGeometry::make(x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(1),
                                           w.size(3), o.stride_h, o.stride_w, o.padding);
    EMBER_CHECK(g.oh > 0 && g.ow > 0, ShapeError, where, ": input ", x.shape(), " is smaller than the ", g.kh,
                "x", g.kw, " kernel with 'valid' padding");
    return g;
}
}  // namespace detail

/// y[N,OH,OW,K] = conv(x[N,H,W,C], w[KH,KW,C,K]) + bias[K] (bias may be undefined), ReLU'd when o.relu.
/// 'same' padding follows TensorFlow (extra row/column at the bottom/right). Throws ShapeError naming `where`.
template <Real T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias = {}, const Conv2DOptions& o = {},
                 const std::string& where = "conv2d") {
    if (o.dilation_h > 1 || o.dilation_w > 1) return detail::dilated_conv2d(x, w, bias, o, where);
    const auto g = detail::check_conv2d(x, w, bias, o, where);
    Tensor<T> y = Tensor<T>::empty({g.n, g.oh, g.ow, g.k});
    const bool grad = autograd::needs_grad<T>({&x, &w, &bias});
    std::shared_ptr<Storage<std::uint8_t>> mask;  // the ReLU derivative, not y itself (a quarter of the memory)
    if (grad && o.relu) mask = std::make_shared<Storage<std::uint8_t>>(static_cast<std::size_t>(y.numel()));
    kernels::conv2d_forward(g, x.data(), w.data(), bias.defined() ? bias.data() : nullptr, o.relu, y.data(),
                            kernels::ConvAlgo::automatic, mask ? mask->data() : nullptr);
    if (!grad) return y;
    return autograd::record(y, Op::conv2d, {x, w, bias},
                            [=](const Tensor<T>& gy, std::vector<Tensor<T>>& gi) {
        kernels::conv2d_backward(g, x.data(), w.data(), gy.data(), mask ? mask->data() : nullptr,
                                 gi[0].defined() ? gi[0].data() : nullptr, gi[1].defined() ? gi[1].data() : nullptr,
                                 gi[2].defined() ? gi[2].data() : nullptr);
    });
}

namespace detail {
/// conv2d with dilation: the dense equivalent kernel forward, its gradient's taps gathered back in backward.
template <Real T>
Tensor<T> dilated_conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias, const Conv2DOptions& o,
                         const std::string& where) {
    EMBER_CHECK(w.rank() == 4, ShapeError, where, ": expected kernel [KH, KW, C_in, C_out], got ", w.shape());
    EMBER_CHECK(o.dilation_h > 0 && o.dilation_w > 0, ValueError, where, ": dilation_rate must be > 0, got (",
                o.dilation_h, ", ", o.dilation_w, ")");  // before the dense kernel is sized from it
    const Tensor<T> dense = dilate_kernel(w, o.dilation_h, o.dilation_w);
    const auto g = check_conv2d(x, dense, bias, o, where);
    Tensor<T> y = Tensor<T>::empty({g.n, g.oh, g.ow, g.k});
    const bool grad = autograd::needs_grad<T>({&x, &w, &bias});
    std::shared_ptr<Storage<std::uint8_t>> mask;
    if (grad && o.relu) mask = std::make_shared<Storage<std::uint8_t>>(static_cast<std::size_t>(y.numel()));
    kernels::conv2d_forward(g, x.data(), dense.data(), bias.defined() ? bias.data() : nullptr, o.relu, y.data(),
                            kernels::ConvAlgo::automatic, mask ? mask->data() : nullptr);
    if (!grad) return y;
    return autograd::record(y, Op::conv2d, {x, w, bias}, [=](const Tensor<T>& gy, std::vector<Tensor<T>>& gi) {
        Tensor<T> gdense = gi[1].defined() ? Tensor<T>::zeros(dense.shape()) : Tensor<T>();
        kernels::conv2d_backward(g, x.data(), dense.data(), gy.data(), mask ? mask->data() : nullptr,
                                 gi[0].defined() ? gi[0].data() : nullptr, gdense.defined() ? gdense.data() : nullptr,
                                 gi[2].defined() ? gi[2].data() : nullptr);
        if (gi[1].defined()) add_dilated_taps(gdense, o.dilation_h, o.dilation_w, gi[1]);
    });
}
}  // namespace detail

}  // namespace ember
