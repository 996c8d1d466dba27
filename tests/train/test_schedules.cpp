// Tests of ember/train/schedules.hpp: Keras' CosineDecay and ExponentialDecay counted in epochs, and their errors.
#include <catch2/catch.hpp>

#include <cmath>

#include <ember/train/schedules.hpp>

#include "helpers.hpp"

using namespace ember;

TEST_CASE("learning-rate schedules follow Keras' CosineDecay and ExponentialDecay, counted in epochs", "[train][schedule]") {
    const double pi = 3.14159265358979323846;
    const auto cosine = train::cosine_decay(24);
    CHECK(cosine(1, 3e-4) == 3e-4);
    for (int e = 1; e <= 24; ++e)  // the closed form, bit for bit
        CHECK(cosine(e, 3e-4) == 0.5 * 3e-4 * (1 + std::cos(pi * (e - 1) / 24)));
    CHECK(cosine(25, 3e-4) == 0.0);
    CHECK(cosine(40, 3e-4) == 0.0);  // stays at alpha * initial after decay_epochs
    const auto floor = train::cosine_decay(10, 0.1);
    CHECK(floor(6, 1.0) == Approx(0.9 * 0.5 + 0.1).epsilon(1e-15));
    CHECK(floor(11, 1.0) == Approx(0.1).epsilon(1e-15));
    CHECK(floor(99, 1.0) == Approx(0.1).epsilon(1e-15));

    const auto smooth = train::exponential_decay(10, 0.5);
    CHECK(smooth(1, 0.1) == 0.1);
    CHECK(smooth(6, 0.1) == Approx(0.1 * std::pow(0.5, 0.5)).epsilon(1e-15));
    const auto stairs = train::exponential_decay(10, 0.5, true);
    CHECK(stairs(10, 0.1) == 0.1);
    CHECK(stairs(11, 0.1) == 0.05);
    CHECK(stairs(21, 0.1) == 0.025);

    CHECK(test::error_message<ValueError>([] { train::cosine_decay(0); }) == "cosine_decay: decay_epochs must be > 0, got 0");
    CHECK(test::error_message<ValueError>([] { train::cosine_decay(5, 1.5); }) == "cosine_decay: alpha must lie in [0, 1], got 1.5");
    CHECK(test::error_message<ValueError>([] { train::exponential_decay(0, 0.5); }) ==
          "exponential_decay: decay_epochs must be > 0, got 0");
    CHECK(test::error_message<ValueError>([] { train::exponential_decay(5, 0); }) ==
          "exponential_decay: decay_rate must be finite and > 0, got 0");
}
