// ember/nn/init.hpp - weight initialisers with Keras' definitions of fan-in and fan-out.
#pragma once

#include <cmath>
#include <utility>

#include "ember/core/tensor.hpp"

namespace ember::nn::init {

/// (fan_in, fan_out) as Keras computes them: [in, out] for a Dense kernel; for a conv kernel [KH, KW, C_in, C_out]
/// both include the receptive field: fan_in = KH*KW*C_in, fan_out = KH*KW*C_out.
inline std::pair<index_t, index_t> fans(const Shape& s) {
    if (s.rank() < 1) return {1, 1};
    if (s.rank() == 1) return {s[0], s[0]};
    if (s.rank() == 2) return {s[0], s[1]};
    index_t receptive = 1;
    for (index_t d = 0; d + 2 < s.rank(); ++d) receptive *= s[d];
    return {receptive * s[-2], receptive * s[-1]};
}

/// Limit L of glorot_uniform: sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010).
inline double glorot_limit(const Shape& s) {
    const auto [fan_in, fan_out] = fans(s);
    return std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
}

/// U(-L, L) with L = glorot_limit(shape): Keras' default kernel initialiser.
template <Real T>
Tensor<T> glorot_uniform(const Shape& shape, Generator& gen) {
    const T limit = static_cast<T>(glorot_limit(shape));
    return Tensor<T>::uniform(shape, -limit, limit, gen);
}

/// U(-L, L) with L = sqrt(6 / fan_in) (He et al. 2015), for ReLU networks.
template <Real T>
Tensor<T> he_uniform(const Shape& shape, Generator& gen) {
    const T limit = static_cast<T>(std::sqrt(6.0 / static_cast<double>(fans(shape).first)));
    return Tensor<T>::uniform(shape, -limit, limit, gen);
}

}  // namespace ember::nn::init
