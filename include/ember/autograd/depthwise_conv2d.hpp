// ember/autograd/depthwise_conv2d.hpp - differentiable depthwise 2-D convolution (NHWC input, [KH, KW, C, M]
// kernel), optional bias and fused ReLU. Shapes are checked here once; kernels/depthwise_conv2d.hpp trusts them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ember/autograd/conv2d.hpp"  // Conv2DOptions
#include "ember/autograd/engine.hpp"
#include "ember/kernels/depthwise_conv2d.hpp"

namespace ember {

namespace detail {
/// The one shape check of depthwise_conv2d. `where` names the caller in messages.
template <Real T>
kernels::DepthwiseConv2DGeometry check_depthwise_conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias,
                                                        const Conv2DOptions& o, const std::string& where) {
    EMBER_CHECK(w.rank() == 4 && w.size(0) > 0 && w.size(1) > 0 && w.size(3) > 0, ShapeError, where,
                ": expected a depthwise kernel [KH, KW, C, depth_multiplier] of non-zero extents, got ", w.shape());
    EMBER_CHECK(x.rank() == 4 && x.size(3) == w.size(2), ShapeError, where, ": expected input [N, H, W, ",
                w.size(2), "], got ", x.shape());
    const index_t out_channels = w.size(2) * w.size(3);
    EMBER_CHECK(!bias.defined() || (bias.rank() == 1 && bias.size(0) == out_channels), ShapeError, where,
                ": expected bias [", out_channels, "] (channels x depth_multiplier), got ", bias.shape());
    EMBER_CHECK(o.stride_h > 0 && o.stride_w > 0, ValueError, where, ": strides must be > 0, got (", o.stride_h,
                ", ", o.stride_w, ")");
    const auto g = kernels::DepthwiseConv2DGeometry::make(x.size(0), x.size(1), x.size(2), x.size(3), w.size(0),
                                                          w.size(1), w.size(3), o.stride_h, o.stride_w, o.padding);
    EMBER_CHECK(g.oh > 0 && g.ow > 0, ShapeError, where, ": input ", x.shape(), " is smaller than the ", g.kh,
                "x", g.kw, " kernel with 'valid' padding");
    return g;
}
}  // namespace detail

/// y[N,OH,OW,C*M] = depthwise(x[N,H,W,C], w[KH,KW,C,M]) + bias[C*M] (bias may be undefined), ReLU'd when o.relu:
/// each input channel c convolved with its own M filters, into output channels c*M .. c*M + M-1 (Keras'
/// DepthwiseConv2D; PyTorch's conv2d with groups = C). Strides and 'same' padding as conv2d's (TensorFlow's).
/// Throws ShapeError or ValueError naming `where`.
template <Real T>
Tensor<T> depthwise_conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias = {},
                           const Conv2DOptions& o = {}, const std::string& where = "depthwise_conv2d") {
    const auto g = detail::check_depthwise_conv2d(x, w, bias, o, where);
    Tensor<T> y = Tensor<T>::empty({g.n, g.oh, g.ow, g.out_channels()});
    const bool grad = autograd::needs_grad<T>({&x, &w, &bias});
    std::shared_ptr<Storage<std::uint8_t>> mask;  // the ReLU derivative, not y itself (a quarter of the memory)
    if (grad && o.relu) mask = std::make_shared<Storage<std::uint8_t>>(static_cast<std::size_t>(y.numel()));
    kernels::depthwise_conv2d_forward(g, x.data(), w.data(), bias.defined() ? bias.data() : nullptr, o.relu,
                                      y.data(), mask ? mask->data() : nullptr);
    if (!grad) return y;
    return autograd::record(y, Op::depthwise_conv2d, {x, w, bias},
                            [=](const Tensor<T>& gy, std::vector<Tensor<T>>& gi) {
        kernels::depthwise_conv2d_backward(g, x.data(), w.data(), gy.data(), mask ? mask->data() : nullptr,
                                           gi[0].defined() ? gi[0].data() : nullptr,
                                           gi[1].defined() ? gi[1].data() : nullptr,
                                           gi[2].defined() ? gi[2].data() : nullptr);
    });
}

}  // namespace ember
