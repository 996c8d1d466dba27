// ember/autograd/activations.hpp - differentiable activations beyond relu: leaky_relu, sigmoid, tanh, gelu (exact
// and tanh-approximated) and swish, with Keras' definitions. Forward and backward side by side. sigmoid, tanh, gelu
// and swish are finite, with finite gradients, for every finite input, and keep their tails: no exp of a large
// argument, no 1 - y of a y rounded to 1 (tests/autograd/test_activations.cpp checks them out to the type's maximum).
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <type_traits>

#include "ember/autograd/elementwise.hpp"

namespace ember {

namespace detail {
/// 1 / (1 + exp(-v)) without overflow: exp is only taken of -|v|, so it lies in (0, 1].
template <Real T>
T stable_sigmoid(T v) {
    const T e = std::exp(-std::abs(v));
    return v >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

/// log(1 + exp(v)) without overflow or loss of the small tail: max(v, 0) + log1p(exp(-|v|)).
template <Real T>
T stable_softplus(T v) {
    return std::max(v, T(0)) + std::log1p(std::exp(-std::abs(v)));
}

/// The standard normal CDF, 0.5 * erfc(-v / sqrt 2): erfc keeps the tail for negative v, where 1 + erf(v / sqrt 2)
/// would cancel to 0 long before the true value underflows.
template <Real T>
T normal_cdf(T v) {
    return T(0.5) * std::erfc(-v * static_cast<T>(std::numbers::sqrt2 / 2));
}

/// The tanh-approximated gelu and its derivative (Keras' approximate=True, PyTorch's approximate='tanh'):
/// 0.5 x (1 + tanh(u)), u = sqrt(2 / pi) (x + 0.044715 x^3), evaluated as x sigmoid(2u), since
/// 0.5 (1 + tanh(u)) = sigmoid(2u) keeps the tail for negative x that 1 + tanh(u) cancels to 0.
template <Real T>
struct GeluTanh {
    static constexpr T k = static_cast<T>(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);  // sqrt(2 / pi)
    static constexpr T c = T(0.044715);
    static T value(T x) { return x * stable_sigmoid(T(2) * k * (x + c * x * x * x)); }
    /// sigmoid(2u) + x sech^2(u) u' / 2, with sech^2(u) = 4 sigmoid(2u) sigmoid(-2u).
    static T derivative(T x) {
        const T u = k * (x + c * x * x * x);
        const T s = stable_sigmoid(T(2) * u), bump = s * stable_sigmoid(T(-2) * u);
        // Where sigmoid has saturated, bump is 0 and so is the second term; testing it keeps 0 * inf (x^2 beyond
        // the type's range) out of the result.
        return bump == T(0) ? s : s + T(2) * x * bump * k * (T(1) + T(3) * c * x * x);
    }
};
}  // namespace detail

/// Keras' leaky_relu: x for x >= 0, negative_slope * x below. The gradient at exactly 0 is negative_slope, as in
/// TensorFlow and PyTorch. The slope has no default here because the libraries disagree (keras.ops.leaky_relu 0.2,
/// Keras' LeakyReLU layer 0.3, PyTorch 0.01); nn::LeakyReLU defaults to Keras' layer's 0.3. Throws ValueError for a
/// slope that is not finite.
template <Real T>
Tensor<T> leaky_relu(const Tensor<T>& x, std::type_identity_t<T> negative_slope) {
    EMBER_CHECK(std::isfinite(negative_slope), ValueError, "leaky_relu: negative_slope must be finite, got ",
                negative_slope);
    return detail::unary(
        x, Op::leaky_relu, [=](T v) { return v < T(0) ? negative_slope * v : v; },
        [=](T v, T) { return v > T(0) ? T(1) : negative_slope; });
}

/// The logistic function 1 / (1 + exp(-x)), computed without overflow. Backward: y (1 - y), with 1 - y evaluated
/// as sigmoid(-x), so that the gradient of a large positive x is its tiny true value, not a rounded 0.
template <Real T>
Tensor<T> sigmoid(const Tensor<T>& x) {
    return detail::unary(
        x, Op::sigmoid, [](T v) { return detail::stable_sigmoid(v); },
        [](T v, T y) { return y * detail::stable_sigmoid(-v); });
}

/// The hyperbolic tangent. Backward: sech^2(x) = 4 e / (1 + e)^2, e = exp(-2 |x|), which is 1 - y^2 without its
/// cancellation to 0 once y rounds to +-1.
template <Real T>
Tensor<T> tanh(const Tensor<T>& x) {
    return detail::unary(
        x, Op::tanh, [](T v) { return std::tanh(v); },
        [](T v, T) {
            const T e = std::exp(T(-2) * std::abs(v));
            return T(4) * e / ((T(1) + e) * (T(1) + e));
        });
}

/// Keras' gelu. With approximate = false (Keras' default; PyTorch's approximate='none') the exact
/// x * Phi(x), Phi the standard normal CDF: backward Phi(x) + x phi(x). With approximate = true the tanh form
/// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
template <Real T>
Tensor<T> gelu(const Tensor<T>& x, bool approximate = false) {
    if (approximate)
        return detail::unary(
            x, Op::gelu, [](T v) { return detail::GeluTanh<T>::value(v); },
            [](T v, T) { return detail::GeluTanh<T>::derivative(v); });
    return detail::unary(
        x, Op::gelu, [](T v) { return v * detail::normal_cdf(v); },
        [](T v, T) {
            constexpr T inv_sqrt_2pi = static_cast<T>(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
            const T density = std::exp(T(-0.5) * v * v) * inv_sqrt_2pi;
            return detail::normal_cdf(v) + v * density;
        });
}

/// Keras' swish (also named silu): x * sigmoid(x). Backward: s (1 + x (1 - s)), s = sigmoid(x), with 1 - s taken
/// as sigmoid(-x).
template <Real T>
Tensor<T> swish(const Tensor<T>& x) {
    return detail::unary(
        x, Op::swish, [](T v) { return v * detail::stable_sigmoid(v); },
        [](T v, T) { return detail::stable_sigmoid(v) * (T(1) + v * detail::stable_sigmoid(-v)); });
}

}  // namespace ember
