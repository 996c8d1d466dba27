// Cross-check of dilated convolutions against PyTorch: tests/fixtures/torch_dilation.safetensors, written by
// tools/make_torch_fixtures_dilation.py (float64, NHWC images and HWIO kernels, TensorFlow's 'same' padding).
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
    static const test::TorchFixture f("torch_dilation.safetensors");
    return f;
}
const Tensor<double>& get(const std::string& name) { return fixture().get(name); }
using test::rel_error;
}  // namespace

TEST_CASE("dilated Conv2D matches PyTorch: values and gradients, 'same' and 'valid'", "[interop][pytorch][conv2d]") {
    struct Case { const char* name; index_t dh, dw; Padding padding; bool relu; };
    for (const Case c : {Case{"same_d2", 2, 2, Padding::same, false}, Case{"same_d3x2_even", 3, 2, Padding::same, true},
                         Case{"valid_d2", 2, 2, Padding::valid, false}}) {
        const std::string n = c.name;
        CAPTURE(n);
        const auto w0 = get(n + ".w");
        nn::Conv2D<double> layer(w0.size(3), {w0.size(0), w0.size(1)}, c.padding, c.relu ? nn::relu : nn::linear, 1,
                                 {c.dh, c.dw});
        const Tensor<double> x = get(n + ".x").clone().requires_grad(true);
        layer.build(x.shape().drop_front(), 1);
        auto params = layer.named_parameters();
        params[0].value.copy_from(w0);
        params[1].value.copy_from(get(n + ".b"));
        const Tensor<double> y = layer(x);
        CHECK(rel_error(y, get(n + ".y")) < 1e-10);
        sum(mul(y, get(n + ".r"))).backward();
        CHECK(rel_error(x.grad(), get(n + ".dx")) < 1e-10);
        CHECK(rel_error(layer.kernel().grad(), get(n + ".dw")) < 1e-10);
        CHECK(rel_error(layer.bias().grad(), get(n + ".db")) < 1e-10);
    }
    CHECK(test::error_message<ValueError>([] { nn::Conv2D<float>(4, 3, nn::same, nn::linear, 2, 2); }) ==
          "Conv2D: strides (2, 2) and dilation_rate (2, 2) cannot both exceed 1 (as in Keras)");
    CHECK(test::error_message<ValueError>([] {
              (void)conv2d(Tensor<float>::ones({1, 5, 5, 1}), Tensor<float>::ones({2, 2, 1, 1}), Tensor<float>(),
                           {1, 1, Padding::same, false, 2, -1});
          }) == "conv2d: dilation_rate must be > 0, got (2, -1)");
    nn::Conv2D<float> wide(2, 3, nn::valid, nn::linear, 1, 3);
    CHECK(test::error_message<ShapeError>([&] { wide.build({6, 9, 1}, 1); }) ==
          "Conv2D 'conv2d': input [N, 6, 9, 1] is smaller than the 7x7 kernel window with 'valid' padding");
}
