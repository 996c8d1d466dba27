#include <catch2/catch.hpp>

#include <ember/nn/init.hpp>

#include "helpers.hpp"

using namespace ember;

TEST_CASE("glorot fans include the receptive field, and limits match Keras for the reference model", "[nn][init]") {
    CHECK(nn::init::fans({5, 5, 3, 32}) == std::pair<index_t, index_t>{75, 800});
    CHECK(nn::init::fans({30976, 9}) == std::pair<index_t, index_t>{30976, 9});
    CHECK(nn::init::glorot_limit({5, 5, 3, 32}) == Approx(0.0828).margin(5e-5));
    CHECK(nn::init::glorot_limit({5, 5, 32, 32}) == Approx(0.0612).margin(5e-5));
    CHECK(nn::init::glorot_limit({5, 5, 32, 64}) == Approx(0.0500).margin(5e-5));
    CHECK(nn::init::glorot_limit({5, 5, 64, 64}) == Approx(0.0433).margin(5e-5));
    CHECK(nn::init::glorot_limit({30976, 9}) == Approx(0.01392).margin(5e-6));
}

TEST_CASE("glorot_uniform draws fill the interval and stay inside it", "[nn][init]") {
    Generator gen(9);
    auto w = nn::init::glorot_uniform<float>({5, 5, 3, 32}, gen);
    const float limit = static_cast<float>(nn::init::glorot_limit(w.shape()));
    float lo = 1, hi = -1;
    double mean = 0;
    for (float v : w.span()) {
        REQUIRE(std::abs(v) <= limit);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        mean += v;
    }
    CHECK(lo < -0.95f * limit);
    CHECK(hi > 0.95f * limit);
    CHECK(mean / static_cast<double>(w.numel()) == Approx(0).margin(0.005));
}
