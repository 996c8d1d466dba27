// ember/autograd/pool.hpp - differentiable 2-D max pooling (NHWC, 'valid', Keras defaults: stride = pool size).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ember/autograd/engine.hpp"
#include "ember/kernels/pool.hpp"

namespace ember {

struct MaxPool2DOptions {
    index_t pool_h = 2, pool_w = 2;
    index_t stride_h = 0, stride_w = 0;  // 0: equal to the pool size (Keras' default)
};

/// Max over pool_h x pool_w windows of x [N,H,W,C] -> [N, floor((H-ph)/sh)+1, floor((W-pw)/sw)+1, C]
/// (180 -> 90 -> 45 -> 22 with 2x2: the last row and column of an odd extent are dropped).
template <Real T>
Tensor<T> max_pool2d(const Tensor<T>& x, MaxPool2DOptions o = {}, const std::string& where = "max_pool2d") {
    if (o.stride_h == 0) o.stride_h = o.pool_h;
    if (o.stride_w == 0) o.stride_w = o.pool_w;
    EMBER_CHECK(o.pool_h > 0 && o.pool_w > 0 && o.stride_h > 0 && o.stride_w > 0, ValueError, where,
                ": pool size and strides must be > 0, got pool (", o.pool_h, ", ", o.pool_w, ") strides (",
                o.stride_h, ", ", o.stride_w, ")");
    EMBER_CHECK(x.rank() == 4, ShapeError, where, ": expected input [N, H, W, C], got ", x.shape());
    const auto g = kernels::Pool2DGeometry::make(x.size(0), x.size(1), x.size(2), x.size(3), o.pool_h, o.pool_w,
                                                 o.stride_h, o.stride_w);
    EMBER_CHECK(g.oh > 0 && g.ow > 0, ShapeError, where, ": input ", x.shape(), " is smaller than the ", o.pool_h,
                "x", o.pool_w, " pool window");
    EMBER_CHECK(g.h * g.w * g.c < (index_t{1} << 31), ShapeError, where, ": an image of ", x.shape(),
                " is too large for 32-bit argmax indices");
    Tensor<T> y = Tensor<T>::empty({g.n, g.oh, g.ow, g.c});
    if (!autograd::needs_grad<T>({&x})) {  // inference: no argmax to keep
        kernels::max_pool2d_forward(g, x.data(), y.data(), static_cast<std::int32_t*>(nullptr));
        return y;
    }
    // Uninitialised, from the block cache: value-initialising a std::vector faulted in 54 MB of fresh zero pages
    // per training step of the reference model.
    auto argmax = std::make_shared<Storage<std::int32_t>>(static_cast<std::size_t>(y.numel()));
    kernels::max_pool2d_forward(g, x.data(), y.data(), argmax->data());
    return autograd::record(std::move(y), Op::max_pool2d, {x}, [g, argmax](const Tensor<T>& gy,
                                                                        std::vector<Tensor<T>>& gi) {
        kernels::max_pool2d_backward(g, gy.data(), argmax->data(), gi[0].data());
    });
}

}  // namespace ember
