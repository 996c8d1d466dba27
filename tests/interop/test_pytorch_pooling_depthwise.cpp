// Cross-check of the pooling and depthwise layers against PyTorch: tests/fixtures/torch_pooling_depthwise.safetensors
// holds inputs, weights, outputs and gradients computed by PyTorch 1.13 in float64
// (tools/make_torch_fixtures_pooling_depthwise.py), in ember's layouts: depthwise kernels [KH, KW, C, M] against
// PyTorch's groups=C weight [C*M, 1, KH, KW], 'same' average pooling against count_include_pad=False.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include <ember/io/safetensors.hpp>
#include <ember/nn/nn.hpp>

#include "helpers.hpp"
#include "torch_fixture.hpp"

using namespace ember;

namespace {
const test::TorchFixture& fixture() {
    static const test::TorchFixture f("torch_pooling_depthwise.safetensors");
    return f;
}
const Tensor<double>& get(const std::string& name) { return fixture().get(name); }
bool has(const std::string& name) { return fixture().has(name); }
Tensor<double> leaf(const std::string& name) { return fixture().leaf(name); }
std::vector<std::int32_t> labels(const std::string& name) { return fixture().labels(name); }
using test::rel_error;

// float64 on both sides: far inside the 1e-5 asked for, and strict enough to catch a float32 intermediate.
constexpr double kTol = 1e-10;

/// Backpropagates sum(y * r) and compares y and the gradient of x with the fixture's case `n`.
void check_single_input(const std::string& n, const Tensor<double>& x, const Tensor<double>& y) {
    CHECK(rel_error(y, get(n + ".y")) < kTol);
    sum(mul(y, get(n + ".r"))).backward();
    CHECK(rel_error(x.grad(), get(n + ".dx")) < kTol);
}
}  // namespace

TEST_CASE("the pooling and depthwise fixture is float64, with I64 labels, from its generator script",
          "[interop][pytorch]") {
    CHECK(fixture().file().metadata.at("generator") == "tools/make_torch_fixtures_pooling_depthwise.py");
    for (const auto& [name, dtype] : fixture().file().dtypes) {
        CAPTURE(name);
        CHECK(dtype == (name.ends_with("labels") ? "I64" : "F64"));
    }
}

TEST_CASE("depthwise_conv2d matches PyTorch's groups=C convolution: 'same', strides, multipliers, no bias",
          "[interop][pytorch][depthwise]") {
    struct Case {
        const char* name;
        Conv2DOptions o;
    };
    for (const Case& c : {Case{"dw_same3", {1, 1, Padding::same, true}}, Case{"dw_s2_m2", {2, 2, Padding::same, false}},
                          Case{"dw_even4", {2, 1, Padding::same, true}},
                          Case{"dw_valid_m3", {1, 2, Padding::valid, false}},
                          Case{"dw_nobias", {1, 1, Padding::same, false}}}) {
        const std::string n = c.name;
        CAPTURE(n);
        const bool with_bias = has(n + ".b");
        CHECK(with_bias == (n != "dw_nobias"));
        auto x = leaf(n + ".x"), w = leaf(n + ".w");
        Tensor<double> b = with_bias ? leaf(n + ".b") : Tensor<double>();
        auto y = depthwise_conv2d(x, w, b, c.o);
        CHECK(rel_error(y, get(n + ".y")) < kTol);
        sum(mul(y, get(n + ".r"))).backward();
        CHECK(rel_error(x.grad(), get(n + ".dx")) < kTol);
        CHECK(rel_error(w.grad(), get(n + ".dw")) < kTol);
        if (with_bias) CHECK(rel_error(b.grad(), get(n + ".db")) < kTol);
    }
}

TEST_CASE("avg_pool2d, 'same' max_pool2d and global pooling match PyTorch", "[interop][pytorch][pooling]") {
    struct Case {
        const char* name;
        bool average;
        Pool2DOptions o;
    };
    for (const Case& c : {Case{"avg_valid", true, {2, 2, 2, 2, Padding::valid}},
                          Case{"avg_same", true, {2, 2, 2, 2, Padding::same}},
                          Case{"avg_same3", true, {3, 3, 1, 1, Padding::same}},
                          Case{"avg_s2_k3", true, {3, 3, 2, 2, Padding::same}},
                          Case{"max_same", false, {2, 2, 2, 2, Padding::same}},
                          Case{"max_s2_k3", false, {3, 3, 2, 2, Padding::same}}}) {
        const std::string n = c.name;
        CAPTURE(n);
        auto x = leaf(n + ".x");
        check_single_input(n, x, c.average ? avg_pool2d(x, c.o) : max_pool2d(x, c.o));
    }
    auto gx = leaf("gap.x");
    check_single_input("gap", gx, global_avg_pool2d(gx));
    auto mx = leaf("gmp.x");
    check_single_input("gmp", mx, global_max_pool2d(mx));
}

TEST_CASE("SeparableConv2D matches PyTorch's depthwise then pointwise convolution", "[interop][pytorch][depthwise]") {
    nn::SeparableConv2D<double> sep(5, 3, nn::same, nn::relu, 2, 2);
    sep.build({7, 6, 3}, 1);
    for (auto& p : sep.named_parameters()) {
        CAPTURE(p.name);
        Tensor<double> dst = p.value;
        REQUIRE(get("sep." + p.name).shape() == dst.shape());
        dst.copy_from(get("sep." + p.name));
    }
    auto x = leaf("sep.x");
    auto y = sep(x);
    CHECK(rel_error(y, get("sep.y")) < kTol);
    sum(mul(y, get("sep.r"))).backward();
    CHECK(rel_error(x.grad(), get("sep.dx")) < kTol);
    for (auto& p : sep.named_parameters()) {
        CAPTURE(p.name);
        CHECK(rel_error(p.value.grad(), get("sep.d" + p.name)) < kTol);
    }
}

TEST_CASE("a MobileNet-style model matches a PyTorch module: logits, loss and every parameter gradient",
          "[interop][pytorch][depthwise]") {
    nn::Sequential<double> model{nn::Conv2D<double>(4, 3, nn::same, nn::relu),
                                 nn::DepthwiseConv2D<double>(3, nn::same, nn::relu, 2),
                                 nn::SeparableConv2D<double>(6, 3, nn::same, nn::relu),
                                 nn::AveragePooling2D<double>(2, std::nullopt, nn::same),
                                 nn::GlobalAveragePooling2D<double>(), nn::Dense<double>(3)};
    model.build({9, 9, 3}, 1);
    std::set<std::string> in_fixture, in_model;
    for (const auto& [name, t] : fixture().file().tensors)
        if (name.starts_with("model.grad.")) in_fixture.insert(name.substr(11));
    for (auto& p : model.named_parameters()) {
        CAPTURE(p.name);
        in_model.insert(p.name);
        Tensor<double> dst = p.value;
        REQUIRE(get("model." + p.name).shape() == dst.shape());
        dst.copy_from(get("model." + p.name));
    }
    CHECK(in_model == in_fixture);
    CHECK(in_model.size() == 9);

    auto logits = model(get("model.images"));
    CHECK(rel_error(logits, get("model.logits")) < kTol);
    auto loss = nn::sparse_categorical_crossentropy(logits, labels("model.labels"));
    CHECK(std::abs(loss.item() - get("model.loss").item()) < kTol * std::abs(get("model.loss").item()));
    loss.backward();
    for (auto& p : model.named_parameters()) {
        CAPTURE(p.name);
        CHECK(rel_error(p.value.grad(), get("model.grad." + p.name)) < kTol);
    }
}
