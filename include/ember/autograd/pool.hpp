// ember/autograd/pool.hpp - differentiable 2-D pooling (NHWC): max and average over windows ('valid' or 'same',
// Keras defaults: stride = pool size), and global average and max over the whole image.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ember/autograd/engine.hpp"
#include "ember/kernels/pool.hpp"

namespace ember {

using kernels::Padding;

/// Window, strides and padding of max_pool2d and avg_pool2d.
struct Pool2DOptions {
    index_t pool_h = 2, pool_w = 2;
    index_t stride_h = 0, stride_w = 0;  // 0: equal to the pool size (Keras' default)
    Padding padding = Padding::valid;    // 'same': TensorFlow's padding, never pooled (see Pool2DGeometry::make)
};
using MaxPool2DOptions = Pool2DOptions;
using AvgPool2DOptions = Pool2DOptions;

namespace detail {
/// The one shape check of the windowed pooling ops. `where` names the caller in messages.
template <Real T>
kernels::Pool2DGeometry check_pool2d(const Tensor<T>& x, Pool2DOptions& o, const std::string& where) {
    if (o.stride_h == 0) o.stride_h = o.pool_h;
    if (o.stride_w == 0) o.stride_w = o.pool_w;
    EMBER_CHECK(o.pool_h > 0 && o.pool_w > 0 && o.stride_h > 0 && o.stride_w > 0, ValueError, where,
                ": pool size and strides must be > 0, got pool (", o.pool_h, ", ", o.pool_w, ") strides (",
                o.stride_h, ", ", o.stride_w, ")");
    EMBER_CHECK(x.rank() == 4, ShapeError, where, ": expected input [N, H, W, C], got ", x.shape());
    const auto g = kernels::Pool2DGeometry::make(x.size(0), x.size(1), x.size(2), x.size(3), o.pool_h, o.pool_w,
                                                 o.stride_h, o.stride_w, o.padding);
    EMBER_CHECK(g.oh > 0 && g.ow > 0, ShapeError, where, ": input ", x.shape(), " is smaller than the ", o.pool_h,
                "x", o.pool_w, " pool window");
    return g;
}

/// The check of the global pooling ops: [N, H, W, C] with at least one pixel.
template <Real T>
kernels::Pool2DGeometry check_global_pool2d(const Tensor<T>& x, const std::string& where) {
    EMBER_CHECK(x.rank() == 4, ShapeError, where, ": expected input [N, H, W, C], got ", x.shape());
    EMBER_CHECK(x.size(1) > 0 && x.size(2) > 0, ShapeError, where, ": input ", x.shape(), " has no pixels to pool");
    const index_t h = x.size(1), w = x.size(2);
    return kernels::Pool2DGeometry::make(x.size(0), h, w, x.size(3), h, w, h, w);
}

/// Max pooling over geometry g, recorded as `op` (max_pool2d, or global_max_pool2d with one whole-image window).
template <Real T>
Tensor<T> max_pool(const Tensor<T>& x, const kernels::Pool2DGeometry& g, Shape out_shape, Op op,
                   const std::string& where) {
    EMBER_CHECK(g.h * g.w * g.c < (index_t{1} << 31), ShapeError, where, ": an image of ", x.shape(),
                " is too large for 32-bit argmax indices");
    Tensor<T> y = Tensor<T>::empty(std::move(out_shape));
    if (!autograd::needs_grad<T>({&x})) {  // inference: no argmax to keep
        kernels::max_pool2d_forward(g, x.data(), y.data(), static_cast<std::int32_t*>(nullptr));
        return y;
    }
    // Uninitialised, from the block cache: value-initialising a std::vector faulted in 54 MB of fresh zero pages
    // per training step of the reference model.
    auto argmax = std::make_shared<Storage<std::int32_t>>(static_cast<std::size_t>(y.numel()));
    kernels::max_pool2d_forward(g, x.data(), y.data(), argmax->data());
    return autograd::record(std::move(y), op, {x}, [g, argmax](const Tensor<T>& gy, std::vector<Tensor<T>>& gi) {
        kernels::max_pool2d_backward(g, gy.data(), argmax->data(), gi[0].data());
    });
}

/// Average pooling over geometry g, recorded as `op` (avg_pool2d, or global_avg_pool2d).
template <Real T>
Tensor<T> avg_pool(const Tensor<T>& x, const kernels::Pool2DGeometry& g, Shape out_shape, Op op) {
    Tensor<T> y = Tensor<T>::empty(std::move(out_shape));
    kernels::avg_pool2d_forward(g, x.data(), y.data());
    return autograd::record(std::move(y), op, {x}, [g](const Tensor<T>& gy, std::vector<Tensor<T>>& gi) {
        kernels::avg_pool2d_backward(g, gy.data(), gi[0].data());
    });
}
}  // namespace detail

/// Max over pool_h x pool_w windows of x [N,H,W,C]. 'valid': [N, floor((H-ph)/sh)+1, floor((W-pw)/sw)+1, C]
/// (180 -> 90 -> 45 -> 22 with 2x2: the last row and column of an odd extent are dropped); 'same': [N,
/// ceil(H/sh), ceil(W/sw), C], padding ignored (Keras' MaxPooling2D). The gradient goes to the first maximum.
template <Real T>
Tensor<T> max_pool2d(const Tensor<T>& x, Pool2DOptions o = {}, const std::string& where = "max_pool2d") {
    const auto g = detail::check_pool2d(x, o, where);
    return detail::max_pool(x, g, {g.n, g.oh, g.ow, g.c}, Op::max_pool2d, where);
}

/// Mean over pool_h x pool_w windows of x [N,H,W,C], shaped as max_pool2d's output (Keras' AveragePooling2D).
/// With 'same' padding a border window averages only its pixels inside the image, as TensorFlow does.
template <Real T>
Tensor<T> avg_pool2d(const Tensor<T>& x, Pool2DOptions o = {}, const std::string& where = "avg_pool2d") {
    const auto g = detail::check_pool2d(x, o, where);
    return detail::avg_pool(x, g, {g.n, g.oh, g.ow, g.c}, Op::avg_pool2d);
}

/// Mean over all pixels of x [N,H,W,C] -> [N,C] ([N,1,1,C] with keepdims): Keras' GlobalAveragePooling2D.
template <Real T>
Tensor<T> global_avg_pool2d(const Tensor<T>& x, bool keepdims = false,
                            const std::string& where = "global_avg_pool2d") {
    const auto g = detail::check_global_pool2d(x, where);
    return detail::avg_pool(x, g, keepdims ? Shape{g.n, 1, 1, g.c} : Shape{g.n, g.c}, Op::global_avg_pool2d);
}

/// Max over all pixels of x [N,H,W,C] -> [N,C] ([N,1,1,C] with keepdims): Keras' GlobalMaxPooling2D. The
/// gradient goes to the first maximum (row-major).
template <Real T>
Tensor<T> global_max_pool2d(const Tensor<T>& x, bool keepdims = false,
                            const std::string& where = "global_max_pool2d") {
    const auto g = detail::check_global_pool2d(x, where);
    return detail::max_pool(x, g, keepdims ? Shape{g.n, 1, 1, g.c} : Shape{g.n, g.c}, Op::global_max_pool2d, where);
}

}  // namespace ember
