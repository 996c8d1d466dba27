// Cross-check against PyTorch: tests/fixtures/torch_activations_losses.safetensors holds inputs, values and input
// gradients of the activations and of the classification losses on logits, computed by PyTorch 1.13 in float64
// (tools/make_torch_fixtures_activations_losses.py, whose docstring gives each case's PyTorch form).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <ember/io/safetensors.hpp>
#include <ember/nn/nn.hpp>

#include "helpers.hpp"
#include "torch_fixture.hpp"

using namespace ember;

namespace {
const test::TorchFixture& fixture() {
    static const test::TorchFixture f("torch_activations_losses.safetensors");
    return f;
}
const Tensor<double>& get(const std::string& name) { return fixture().get(name); }
Tensor<double> leaf(const std::string& name) { return fixture().leaf(name); }
std::vector<double> weights(const std::string& name) { return get(name).to_vector(); }

/// max |a - b| / max(1, max |b|): relative for large values, absolute for the tails near 0.
double error(const Tensor<double>& a, const Tensor<double>& b) {
    REQUIRE(a.defined());
    REQUIRE(a.shape() == b.shape());
    double diff = 0, scale = 1;
    for (index_t i = 0; i < a.numel(); ++i) {
        diff = std::max(diff, std::abs(a.data()[i] - b.data()[i]));
        scale = std::max(scale, std::abs(b.data()[i]));
    }
    return diff / scale;
}

// float64 on both sides: the formulas agree to about 1e-15. 1e-10 is far inside the 1e-5 the cross-check asks
// for, and still catches a float32 intermediate in ember's double path.
constexpr double kTol = 1e-10;

/// Checks a loss case '<prefix>.value' and '<prefix>.dz' for loss(z) on logits `z_name`.
void check_loss(const std::string& prefix, const std::string& z_name,
                const std::function<Tensor<double>(const Tensor<double>&)>& loss) {
    CAPTURE(prefix);
    auto z = leaf(z_name);
    auto value = loss(z);
    value.backward();
    CHECK(std::abs(value.item() - get(prefix + ".value").item()) / std::max(1.0, std::abs(get(prefix + ".value").item())) <
          kTol);
    CHECK(error(z.grad(), get(prefix + ".dz")) < kTol);
}
}  // namespace

TEST_CASE("the activations fixture comes from its generator script", "[interop][pytorch]") {
    CHECK(fixture().file().metadata.at("generator") == "tools/make_torch_fixtures_activations_losses.py");
}

TEST_CASE("the activations match PyTorch, value and input gradient, extremes included", "[interop][pytorch]") {
    const std::vector<std::pair<std::string, std::function<Tensor<double>(const Tensor<double>&)>>> ops{
        {"leaky_relu_0.3", [](const Tensor<double>& x) { return leaky_relu(x, 0.3); }},
        {"leaky_relu_0.01", [](const Tensor<double>& x) { return leaky_relu(x, 0.01); }},
        {"sigmoid", [](const Tensor<double>& x) { return sigmoid(x); }},
        {"tanh", [](const Tensor<double>& x) { return tanh(x); }},
        {"gelu", [](const Tensor<double>& x) { return gelu(x); }},
        {"gelu_tanh", [](const Tensor<double>& x) { return gelu(x, true); }},
        {"swish", [](const Tensor<double>& x) { return swish(x); }}};
    for (const auto& [name, op] : ops) {
        CAPTURE(name);
        auto x = leaf("act.x");
        auto y = op(x);
        CHECK(error(y, get("act." + name + ".y")) < kTol);
        sum(mul(y, get("act.r"))).backward();
        CHECK(error(x.grad(), get("act." + name + ".dx")) < kTol);
    }
}

TEST_CASE("binary_crossentropy_from_logits matches PyTorch's binary_cross_entropy_with_logits", "[interop][pytorch]") {
    const std::vector<double> w = weights("binary.w");
    struct Case { const char* name; const char* data; bool weighted; double smoothing; };
    for (const Case& c : {Case{"hard", "hard", false, 0}, Case{"hard_weighted", "hard", true, 0},
                          Case{"soft_smoothed", "soft", false, 0.2}, Case{"soft_weighted_smoothed", "soft", true, 0.1},
                          Case{"far", "far", false, 0}, Case{"far_weighted", "far", true, 0}}) {
        const std::string data = std::string("binary.") + c.data;
        const Tensor<double>& t = get(data + ".t");
        check_loss(std::string("bce.") + c.name, data + ".z", [&](const Tensor<double>& z) {
            return binary_crossentropy_from_logits(z, t, c.weighted ? w : std::vector<double>{}, c.smoothing);
        });
        // The loss object, with [N] targets against [N, 1] logits where the case has one output.
        const nn::BinaryCrossentropy<double> object{true, c.smoothing, c.weighted ? w : std::vector<double>{}};
        const Tensor<double> flat = t.size(1) == 1 ? t.view_detached({t.size(0)}) : t;
        check_loss(std::string("bce.") + c.name, data + ".z", [&](const Tensor<double>& z) { return object(z, flat); });
    }
}

TEST_CASE("binary_focal_crossentropy_from_logits matches Keras' formula evaluated by PyTorch", "[interop][pytorch]") {
    const std::vector<double> w = weights("binary.w");
    struct Case { const char* name; const char* data; BinaryFocalOptions<double> o; bool weighted; };
    for (const Case& c : {Case{"defaults", "hard", {}, false}, Case{"balanced_gamma0.5", "hard", {0.5, 0.3, true, 0}, false},
                          Case{"weighted", "hard", {}, true}, Case{"soft_all", "soft", {3, 0.6, true, 0.1}, true}}) {
        const std::string data = std::string("binary.") + c.data;
        const Tensor<double>& t = get(data + ".t");
        const std::vector<double> cw = c.weighted ? w : std::vector<double>{};
        check_loss(std::string("bfocal.") + c.name, data + ".z", [&](const Tensor<double>& z) {
            return binary_focal_crossentropy_from_logits(z, t, cw, c.o);
        });
        const nn::BinaryFocalCrossentropy<double> object{c.o.gamma, c.o.alpha, c.o.apply_class_balancing, cw,
                                                         c.o.label_smoothing};
        check_loss(std::string("bfocal.") + c.name, data + ".z", [&](const Tensor<double>& z) { return object(z, t); });
    }
}

TEST_CASE("sparse_categorical_focal_crossentropy matches Keras' formula evaluated by PyTorch", "[interop][pytorch]") {
    const std::vector<double> w = weights("categorical.w");
    auto it = fixture().file().integers.find("categorical.labels");
    REQUIRE(it != fixture().file().integers.end());
    std::vector<std::int32_t> labels;
    for (std::int64_t v : it->second.values) labels.push_back(static_cast<std::int32_t>(v));
    auto targets = Tensor<double>::empty({static_cast<index_t>(labels.size())});
    for (std::size_t i = 0; i < labels.size(); ++i) targets.data()[i] = labels[i];
    struct Case { const char* name; CategoricalFocalOptions<double> o; bool weighted; };
    for (const Case& c : {Case{"defaults", {}, false}, Case{"weighted_gamma0.5", {0.5, 0.25}, true},
                          Case{"gamma0_alpha1", {0, 1}, false}, Case{"weighted_gamma3", {3, 0.7}, true}}) {
        const std::vector<double> cw = c.weighted ? w : std::vector<double>{};
        check_loss(std::string("sfocal.") + c.name, "categorical.z", [&](const Tensor<double>& z) {
            return sparse_categorical_focal_crossentropy(z, labels, cw, c.o);
        });
        const nn::SparseCategoricalFocalCrossentropy<double> object{c.o.gamma, c.o.alpha, cw};
        check_loss(std::string("sfocal.") + c.name, "categorical.z",
                   [&](const Tensor<double>& z) { return object(z, targets); });
    }
}
