// Cross-check of batch normalization against PyTorch: tests/fixtures/torch_batch_norm.safetensors, written by
// tools/make_torch_fixtures_batch_norm.py (float64, ember's NHWC layout). The training form normalizes with the
// batch's statistics and moves the Keras-style averages; the inference form uses the moving statistics.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include <ember/io/safetensors.hpp>
#include <ember/nn/nn.hpp>

#include "helpers.hpp"
#include "torch_fixture.hpp"

using namespace ember;

namespace {
const test::TorchFixture& fixture() {
    static const test::TorchFixture f("torch_batch_norm.safetensors");
    return f;
}
const Tensor<double>& get(const std::string& name) { return fixture().get(name); }
using test::rel_error;
constexpr double kTol = 1e-10;  // float64 on both sides; far inside the 1e-5 the cross-check asks for

/// A BatchNormalization layer for the case's input, with the fixture's gamma, beta and moving statistics.
nn::BatchNormalization<double> layer_for(const std::string& name, bool training) {
    nn::BatchNormalization<double> bn;
    const Tensor<double>& x = get(name + ".x");
    bn.build(x.shape().drop_front(), 1);
    auto params = bn.named_parameters();
    auto buffers = bn.named_buffers();
    params[0].value.copy_from(get(name + ".gamma"));
    params[1].value.copy_from(get(name + ".beta"));
    buffers[0].value.copy_from(get(name + ".moving_mean"));
    buffers[1].value.copy_from(get(name + ".moving_variance"));
    bn.train(training);
    return bn;
}

void check_case(const std::string& name, bool training) {
    CAPTURE(name);
    auto bn = layer_for(name, training);
    const Tensor<double> x = get(name + ".x").clone().requires_grad(true);
    const Tensor<double> y = bn(x);
    CHECK(rel_error(y, get(name + ".y")) < kTol);
    sum(mul(y, get(name + ".r"))).backward();
    CHECK(rel_error(x.grad(), get(name + ".dx")) < kTol);
    CHECK(rel_error(bn.gamma().grad(), get(name + ".dgamma")) < kTol);
    CHECK(rel_error(bn.beta().grad(), get(name + ".dbeta")) < kTol);
    const std::string suffix = training ? ".new_moving_" : ".moving_";
    CHECK(rel_error(bn.moving_mean(), get(name + suffix + "mean")) < kTol);
    CHECK(rel_error(bn.moving_variance(), get(name + suffix + "variance")) < kTol);
}
}  // namespace

TEST_CASE("BatchNormalization matches PyTorch in training and inference, with Keras' moving averages",
          "[interop][pytorch][batch_norm]") {
    CHECK(fixture().file().metadata.at("generator") == "tools/make_torch_fixtures_batch_norm.py");
    check_case("train_nhwc", true);
    check_case("train_dense", true);
    check_case("eval_nhwc", false);
}
