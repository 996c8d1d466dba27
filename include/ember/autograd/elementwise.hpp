// ember/autograd/elementwise.hpp - differentiable elementwise ops: add/sub/mul/div with NumPy broadcasting,
// scalar affine maps (rescaling), relu, exp, log and the arithmetic operators. Forward and backward side by side.
#pragma once

#include <cmath>
#include <string>
#include <string_view>

#include "ember/autograd/engine.hpp"
#include "ember/kernels/elementwise.hpp"

namespace ember {

/// The broadcast result of shapes `a` and `b` (NumPy's rule). Throws ShapeError naming `op` and both shapes.
inline Shape broadcast_shape(const Shape& a, const Shape& b, std::string_view op) {
    const index_t r = std::max(a.rank(), b.rank());
    std::vector<index_t> out(static_cast<std::size_t>(r));
    for (index_t i = 0; i < r; ++i) {
        const index_t da = i < r - a.rank() ? 1 : a[i - (r - a.rank())];
        const index_t db = i < r - b.rank() ? 1 : b[i - (r - b.rank())];
        EMBER_CHECK(da == db || da == 1 || db == 1, ShapeError, op, ": shapes ", a, " and ", b,
                    " cannot be broadcast together");
        out[static_cast<std::size_t>(i)] = da == 1 ? db : da;
    }
    return Shape(std::move(out));
}

namespace detail {
/// add, sub, mul or div of a and b with broadcasting; `op` is a template argument so that each op compiles to its
/// own loops, with no per-element switch.
template <Op op, Real T>
Tensor<T> binary(const Tensor<T>& a, const Tensor<T>& b) {
    static_assert(op == Op::add || op == Op::sub || op == Op::mul || op == Op::div, "binary: not a binary op");
    const Shape out_shape = broadcast_shape(a.shape(), b.shape(), op_name(op));
    Tensor<T> out = Tensor<T>::empty(out_shape);
    const auto sa = kernels::broadcast_strides(a.shape(), out_shape);
    const auto sb = kernels::broadcast_strides(b.shape(), out_shape);
    const T* pa = a.data();
    const T* pb = b.data();
    T* po = out.data();
    auto f = [](T x, T y) {
        if constexpr (op == Op::add) return x + y;
        else if constexpr (op == Op::sub) return x - y;
        else if constexpr (op == Op::mul) return x * y;
        else return x / y;
    };
    if (a.shape() == b.shape()) {
        kernels::map_elements(out.numel(), [&](index_t i) { po[i] = f(pa[i], pb[i]); });
    } else {
        kernels::for_each_broadcast(out_shape, sa, sb,
                                    [&](index_t i, index_t ia, index_t ib) { po[i] = f(pa[ia], pb[ib]); });
    }
    return autograd::record(std::move(out), op, {a, b},
                            [a, b, out_shape](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        const bool need_a = gi[0].defined(), need_b = gi[1].defined();
        // d/da and d/db as elementwise factors on the output grid, then summed back to each operand's shape.
        auto grad_into = [&](Tensor<T>& dst, const Shape& dst_shape, auto factor) {
            Tensor<T> tmp = Tensor<T>::empty(out_shape);
            const auto sa = kernels::broadcast_strides(a.shape(), out_shape);
            const auto sb = kernels::broadcast_strides(b.shape(), out_shape);
            const T* pa = a.data();
            const T* pb = b.data();
            const T* pg = g.data();
            T* pt = tmp.data();
            kernels::for_each_broadcast(out_shape, sa, sb, [&](index_t i, index_t ia, index_t ib) {
                pt[i] = pg[i] * factor(pa[ia], pb[ib]);
            });
            kernels::sum_to(pt, out_shape, dst.data(), dst_shape);
        };
        if constexpr (op == Op::add) {
            if (need_a) kernels::sum_to(g.data(), out_shape, gi[0].data(), a.shape());
            if (need_b) kernels::sum_to(g.data(), out_shape, gi[1].data(), b.shape());
        } else if constexpr (op == Op::sub) {
            if (need_a) kernels::sum_to(g.data(), out_shape, gi[0].data(), a.shape());
            if (need_b) grad_into(gi[1], b.shape(), [](T, T) { return T(-1); });
        } else if constexpr (op == Op::mul) {
            if (need_a) grad_into(gi[0], a.shape(), [](T, T y) { return y; });
            if (need_b) grad_into(gi[1], b.shape(), [](T x, T) { return x; });
        } else {
            if (need_a) grad_into(gi[0], a.shape(), [](T, T y) { return T(1) / y; });
            if (need_b) grad_into(gi[1], b.shape(), [](T x, T y) { return -x / (y * y); });
        }
    });
}

/// y = f(x) elementwise; backward multiplies the incoming gradient by df(x, y).
template <Real T, class F, class DF>
Tensor<T> unary(const Tensor<T>& x, Op op, F f, DF df) {
    Tensor<T> y = Tensor<T>::empty(x.shape());
    const T* px = x.data();
    T* py = y.data();
    kernels::map_elements(x.numel(), [&](index_t i) { py[i] = f(px[i]); });
    if (!autograd::needs_grad<T>({&x})) return y;
    return autograd::record(y, op, {x}, [x, y = y.detach(), df](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        const T* px = x.data();
        const T* py = y.data();
        const T* pg = g.data();
        T* pd = gi[0].data();
        kernels::map_elements(x.numel(), [&](index_t i) { pd[i] += pg[i] * df(px[i], py[i]); });
    });
}
}  // namespace detail

/// a + b with broadcasting (a bias of shape [K] adds to every row of [N, K]).
template <Real T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) { return detail::binary<Op::add>(a, b); }
/// a - b with broadcasting.
template <Real T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) { return detail::binary<Op::sub>(a, b); }
/// a * b elementwise with broadcasting.
template <Real T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) { return detail::binary<Op::mul>(a, b); }
/// a / b elementwise with broadcasting.
template <Real T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) { return detail::binary<Op::div>(a, b); }

/// y = scale * x + offset (Keras' Rescaling layer; also the scalar forms of *, +, -).
template <Real T>
Tensor<T> rescale(const Tensor<T>& x, T scale, T offset = T(0)) {
    return detail::unary(
        x, Op::rescale, [=](T v) { return scale * v + offset; }, [=](T, T) { return scale; });
}

/// max(x, 0); its gradient at exactly 0 is taken as 0 (as TensorFlow and PyTorch do); NaN stays NaN.
template <Real T>
Tensor<T> relu(const Tensor<T>& x) {
    return detail::unary(
        x, Op::relu, [](T v) { return v < T(0) ? T(0) : v; }, [](T v, T) { return v > T(0) ? T(1) : T(0); });
}

template <Real T>
Tensor<T> exp(const Tensor<T>& x) {
    return detail::unary(
        x, Op::exp, [](T v) { return std::exp(v); }, [](T, T y) { return y; });
}

template <Real T>
Tensor<T> log(const Tensor<T>& x) {
    return detail::unary(
        x, Op::log, [](T v) { return std::log(v); }, [](T v, T) { return T(1) / v; });
}

template <Real T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <Real T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <Real T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <Real T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <Real T> Tensor<T> operator-(const Tensor<T>& a) { return rescale(a, T(-1)); }
template <Real T> Tensor<T> operator*(const Tensor<T>& a, std::type_identity_t<T> s) { return rescale(a, s); }
template <Real T> Tensor<T> operator*(std::type_identity_t<T> s, const Tensor<T>& a) { return rescale(a, s); }
template <Real T> Tensor<T> operator/(const Tensor<T>& a, std::type_identity_t<T> s) { return rescale(a, T(1) / s); }
template <Real T> Tensor<T> operator+(const Tensor<T>& a, std::type_identity_t<T> s) { return rescale(a, T(1), s); }
template <Real T> Tensor<T> operator-(const Tensor<T>& a, std::type_identity_t<T> s) { return rescale(a, T(1), -s); }

}  // namespace ember
