// ember/autograd/conv2d.hpp - differentiable 2-D convolution (NHWC input, HWIO kernel), optional bias and
// fused ReLU. Shapes are checked here once; kernels/conv2d.hpp trusts them.
#pragma once

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
};

namespace detail {
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

}  // namespace ember
