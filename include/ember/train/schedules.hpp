// ember/train/schedules.hpp - learning-rate schedules by epoch, for the LearningRateScheduler callback: Keras'
// CosineDecay and ExponentialDecay with epochs in place of steps. (The rate that reacts to validation, Keras'
// ReduceLROnPlateau, is the callback of that name in callbacks.hpp.)
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>

#include "ember/core/error.hpp"

namespace ember::train {

/// The rate of epoch `epoch` (1, 2, ...), given the optimizer's rate when fit started.
using LrSchedule = std::function<double(int epoch, double initial_lr)>;

/// Keras' CosineDecay(initial, decay_steps = decay_epochs, alpha) counted in epochs: epoch e trains at
/// initial * ((1 - alpha) * (1 + cos(pi * min(e - 1, decay_epochs) / decay_epochs)) / 2 + alpha), so the first
/// epoch runs at the initial rate and the rate reaches alpha * initial after decay_epochs epochs and stays there.
/// ValueError unless decay_epochs > 0 and 0 <= alpha <= 1.
inline LrSchedule cosine_decay(int decay_epochs, double alpha = 0.0) {
    EMBER_CHECK(decay_epochs > 0, ValueError, "cosine_decay: decay_epochs must be > 0, got ", decay_epochs);
    EMBER_CHECK(alpha >= 0 && alpha <= 1, ValueError, "cosine_decay: alpha must lie in [0, 1], got ", alpha);
    return [decay_epochs, alpha](int epoch, double initial) {
        const double step = std::min(std::max(epoch - 1, 0), decay_epochs);
        const double cosine = 0.5 * (1 + std::cos(std::numbers::pi * step / decay_epochs));
        return initial * ((1 - alpha) * cosine + alpha);
    };
}

/// Keras' ExponentialDecay(initial, decay_steps = decay_epochs, decay_rate, staircase) counted in epochs: epoch e
/// trains at initial * decay_rate ^ ((e - 1) / decay_epochs), the exponent rounded down with staircase (so
/// exponential_decay(10, 0.5, true) halves the rate every 10 epochs). ValueError unless decay_epochs > 0 and
/// decay_rate is finite and > 0.
inline LrSchedule exponential_decay(int decay_epochs, double decay_rate, bool staircase = false) {
    EMBER_CHECK(decay_epochs > 0, ValueError, "exponential_decay: decay_epochs must be > 0, got ", decay_epochs);
    EMBER_CHECK(decay_rate > 0 && std::isfinite(decay_rate), ValueError,
                "exponential_decay: decay_rate must be finite and > 0, got ", decay_rate);
    return [decay_epochs, decay_rate, staircase](int epoch, double initial) {
        double p = static_cast<double>(std::max(epoch - 1, 0)) / decay_epochs;
        if (staircase) p = std::floor(p);
        return initial * std::pow(decay_rate, p);
    };
}

}  // namespace ember::train
