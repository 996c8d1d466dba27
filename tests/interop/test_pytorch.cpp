// Cross-check against PyTorch: tests/fixtures/torch_reference.safetensors holds inputs, weights, outputs and
// gradients computed by PyTorch 1.13 in float64 (tools/make_torch_fixtures.py), stored in ember's layouts (NHWC,
// HWIO, Dense [in, out]) - so passing this test is also the weight-interop contract that the script documents.
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
    static const test::TorchFixture f("torch_reference.safetensors");
    return f;
}
const Tensor<double>& get(const std::string& name) { return fixture().get(name); }
bool has(const std::string& name) { return fixture().has(name); }
Tensor<double> leaf(const std::string& name) { return fixture().leaf(name); }
std::vector<std::int32_t> labels(const std::string& name) { return fixture().labels(name); }
using test::rel_error;

// Everything is float64 on both sides, so the results agree to rounding (about 1e-15 measured with PyTorch 1.13).
// 1e-10 is far stricter than the 1e-5 the cross-check asks for: it also catches a float32 intermediate (about
// 1e-7) sneaking into ember's double path, besides any difference in padding, indexing or formulae.
constexpr double kTol = 1e-10;
}  // namespace

TEST_CASE("the PyTorch fixture is float64, with I64 labels, from the generator script", "[interop][pytorch]") {
    CHECK(fixture().file().metadata.at("generator") == "tools/make_torch_fixtures.py");
    for (const auto& [name, dtype] : fixture().file().dtypes) {
        CAPTURE(name);
        CHECK(dtype == (name.ends_with("labels") ? "I64" : "F64"));
    }
}

TEST_CASE("conv2d matches PyTorch: 'same' (odd, even, rectangular kernels, strides 1 and 2), 'valid', no bias",
          "[interop][pytorch]") {
    struct Case {
        const char* name;
        Conv2DOptions o;
    };
    for (const Case& c : {Case{"conv_same5", {1, 1, Padding::same, true}},
                          Case{"conv_even4_s2", {2, 2, Padding::same, false}},
                          Case{"conv_rect_s12", {1, 2, Padding::same, true}},
                          Case{"conv_valid3_s2", {2, 2, Padding::valid, false}},
                          Case{"conv_nobias", {1, 1, Padding::valid, false}}}) {
        const std::string n = c.name;
        CAPTURE(n);
        const bool with_bias = has(n + ".b");
        CHECK(with_bias == (n != "conv_nobias"));
        auto x = leaf(n + ".x"), w = leaf(n + ".w");
        Tensor<double> b = with_bias ? leaf(n + ".b") : Tensor<double>();
        auto y = conv2d(x, w, b, c.o);
        CHECK(rel_error(y, get(n + ".y")) < kTol);
        sum(mul(y, get(n + ".r"))).backward();
        CHECK(rel_error(x.grad(), get(n + ".dx")) < kTol);
        CHECK(rel_error(w.grad(), get(n + ".dw")) < kTol);
        if (with_bias) CHECK(rel_error(b.grad(), get(n + ".db")) < kTol);
    }
}

TEST_CASE("max_pool2d matches PyTorch on odd sizes (45 -> 22) and routes ties to the first maximum",
          "[interop][pytorch]") {
    for (const std::string n : {"pool", "pool45", "pool_ties"}) {
        CAPTURE(n);
        auto x = leaf(n + ".x");
        auto y = max_pool2d(x);
        CHECK(rel_error(y, get(n + ".y")) < kTol);
        sum(mul(y, get(n + ".r"))).backward();
        CHECK(rel_error(x.grad(), get(n + ".dx")) < kTol);
    }
    CHECK(get("pool45.y").shape() == Shape{1, 22, 11, 2});
}

TEST_CASE("dense (x W + b, W [in, out]) matches PyTorch's linear", "[interop][pytorch]") {
    auto x = leaf("dense.x"), w = leaf("dense.w"), b = leaf("dense.b");
    auto y = add(matmul(x, w), b);
    CHECK(rel_error(y, get("dense.y")) < kTol);
    sum(mul(y, get("dense.r"))).backward();
    CHECK(rel_error(x.grad(), get("dense.dx")) < kTol);
    CHECK(rel_error(w.grad(), get("dense.dw")) < kTol);
    CHECK(rel_error(b.grad(), get("dense.db")) < kTol);
}

TEST_CASE("sparse categorical cross-entropy matches PyTorch, with large logits and Keras' class weighting",
          "[interop][pytorch]") {
    const auto y = labels("loss.labels");
    for (const std::string n : {"loss", "loss_large"}) {
        CAPTURE(n);
        auto logits = leaf(n + ".logits");
        auto loss = sparse_categorical_crossentropy(logits, y);
        CHECK(rel_error(loss.item(), get(n + ".value").item()) < kTol);
        loss.backward();
        CHECK(rel_error(logits.grad(), get(n + ".dlogits")) < kTol);
    }
    // Keras: sum_i w[y_i] * nll_i / N (PyTorch's weight= would divide by sum_i w[y_i] instead)
    auto logits = leaf("loss.logits");
    const auto cw = get("loss.class_weights").to_vector();
    auto weighted = sparse_categorical_crossentropy(logits, y, cw);
    CHECK(rel_error(weighted.item(), get("loss.weighted_value").item()) < kTol);
    weighted.backward();
    CHECK(rel_error(logits.grad(), get("loss.weighted_dlogits")) < kTol);
}

TEST_CASE("a reduced reference model matches a PyTorch module: logits, loss and every parameter gradient",
          "[interop][pytorch]") {
    nn::Sequential<double> model{nn::Rescaling<double>(1.0 / 255),
                                 nn::Conv2D<double>(4, 5, nn::same, nn::relu),
                                 nn::Conv2D<double>(4, 5, nn::same, nn::relu),
                                 nn::MaxPool2D<double>(2),
                                 nn::Conv2D<double>(8, 5, nn::same, nn::relu),
                                 nn::MaxPool2D<double>(2),
                                 nn::Dropout<double>(0.25),
                                 nn::Flatten<double>(),
                                 nn::Dense<double>(3)};
    model.build({20, 20, 3});
    model.eval();  // PyTorch's module ran in eval mode: dropout is the identity

    // The fixture holds exactly the model's parameters, under ember's names and in ember's shapes.
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
    CHECK(in_model.size() == 8);

    auto logits = model(get("model.images"));
    CHECK(rel_error(logits, get("model.logits")) < kTol);
    auto loss = nn::sparse_categorical_crossentropy(logits, labels("model.labels"));
    CHECK(rel_error(loss.item(), get("model.loss").item()) < kTol);
    loss.backward();
    for (auto& p : model.named_parameters()) {
        CAPTURE(p.name);
        CHECK(rel_error(p.value.grad(), get("model.grad." + p.name)) < kTol);
    }
}
