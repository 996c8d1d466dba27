// Cross-check against PyTorch: tests/fixtures/torch_reference.safetensors holds inputs, weights, outputs and
// gradients computed by PyTorch 1.13 (tools/make_torch_fixtures.py), in ember's layouts (NHWC, HWIO, Dense
// [in, out]) - so passing this test is also the weight-interop contract.
#include <catch2/catch.hpp>

#include <ember/data/safetensors.hpp>
#include <ember/nn/nn.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
const data::Safetensors<double>& fixture() {
    static const auto f = data::load_safetensors<double>(std::string(EMBER_SOURCE_DIR) + "/tests/fixtures/torch_reference.safetensors");
    return f;
}
const Tensor<double>& get(const std::string& name) {
    const auto& t = fixture().tensors;
    auto it = t.find(name);
    if (it == t.end()) FAIL("fixture has no tensor '" << name << "'");
    return it->second;
}
Tensor<double> leaf(const std::string& name) { return get(name).clone().requires_grad(true); }
std::vector<std::int32_t> labels(const std::string& name) {
    std::vector<std::int32_t> out;
    for (double v : get(name).span()) out.push_back(static_cast<std::int32_t>(v));
    return out;
}
constexpr double kTol = 1e-5;
}  // namespace

TEST_CASE("conv2d matches PyTorch: 'same' 5x5 + relu, even kernel stride 2, 'valid' stride 2", "[interop][pytorch]") {
    struct Case { const char* name; Conv2DOptions o; };
    for (const Case& c : {Case{"conv_same5", {1, 1, Padding::same, true}}, Case{"conv_even4_s2", {2, 2, Padding::same, false}},
                          Case{"conv_valid3_s2", {2, 2, Padding::valid, false}}}) {
        const std::string n = c.name;
        CAPTURE(n);
        auto x = leaf(n + ".x"), w = leaf(n + ".w"), b = leaf(n + ".b");
        auto y = conv2d(x, w, b, c.o);
        CHECK(test::max_rel_error(y, get(n + ".y")) < kTol);
        sum(mul(y, get(n + ".r"))).backward();
        CHECK(test::max_rel_error(x.grad(), get(n + ".dx")) < kTol);
        CHECK(test::max_rel_error(w.grad(), get(n + ".dw")) < kTol);
        CHECK(test::max_rel_error(b.grad(), get(n + ".db")) < kTol);
    }
}

TEST_CASE("max_pool2d and dense match PyTorch", "[interop][pytorch]") {
    auto x = leaf("pool.x");
    auto y = max_pool2d(x);
    CHECK(test::max_rel_error(y, get("pool.y")) < kTol);
    sum(mul(y, get("pool.r"))).backward();
    CHECK(test::max_rel_error(x.grad(), get("pool.dx")) < kTol);

    auto dx = leaf("dense.x"), dw = leaf("dense.w"), db = leaf("dense.b");
    auto dy = add(matmul(dx, dw), db);
    CHECK(test::max_rel_error(dy, get("dense.y")) < kTol);
    sum(mul(dy, get("dense.r"))).backward();
    CHECK(test::max_rel_error(dx.grad(), get("dense.dx")) < kTol);
    CHECK(test::max_rel_error(dw.grad(), get("dense.dw")) < kTol);
    CHECK(test::max_rel_error(db.grad(), get("dense.db")) < kTol);
}

TEST_CASE("sparse categorical cross-entropy matches PyTorch, and Keras' class weighting", "[interop][pytorch]") {
    const auto y = labels("loss.labels");
    auto logits = leaf("loss.logits");
    auto loss = sparse_categorical_crossentropy(logits, y);
    CHECK(loss.item() == Approx(get("loss.value").item()).epsilon(kTol));
    loss.backward();
    CHECK(test::max_rel_error(logits.grad(), get("loss.dlogits")) < kTol);
    auto logits2 = leaf("loss.logits");
    const auto cw = get("loss.class_weights").to_vector();
    auto weighted = sparse_categorical_crossentropy(logits2, y, cw);
    CHECK(weighted.item() == Approx(get("loss.weighted_value").item()).epsilon(kTol));
    weighted.backward();
    CHECK(test::max_rel_error(logits2.grad(), get("loss.weighted_dlogits")) < kTol);
}

TEST_CASE("a reduced reference model matches PyTorch: logits, loss and every parameter gradient", "[interop][pytorch]") {
    nn::Sequential<double> model{nn::Rescaling<double>(1.0 / 255), nn::Conv2D<double>(4, 5, nn::same, nn::relu),
                                 nn::Conv2D<double>(4, 5, nn::same, nn::relu), nn::MaxPool2D<double>(2),
                                 nn::Conv2D<double>(8, 5, nn::same, nn::relu), nn::MaxPool2D<double>(2),
                                 nn::Flatten<double>(), nn::Dense<double>(3)};
    model.build({20, 20, 3});
    for (auto& p : model.named_parameters()) {
        CAPTURE(p.name);
        Tensor<double> dst = p.value;
        REQUIRE(get("model." + p.name).shape() == dst.shape());  // the layouts map 1:1
        dst.copy_from(get("model." + p.name));
    }
    auto logits = model(get("model.images"));
    CHECK(test::max_rel_error(logits, get("model.logits")) < kTol);
    auto loss = nn::sparse_categorical_crossentropy(logits, labels("model.labels"));
    CHECK(loss.item() == Approx(get("model.loss").item()).epsilon(kTol));
    loss.backward();
    for (auto& p : model.named_parameters()) {
        CAPTURE(p.name);
        CHECK(test::max_rel_error(p.value.grad(), get("model.grad." + p.name)) < kTol);
    }
}
