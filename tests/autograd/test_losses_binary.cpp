// tests/autograd/test_losses_binary.cpp - binary_crossentropy_from_logits, binary_focal_crossentropy_from_logits
// and sparse_categorical_focal_crossentropy against long-double formulas, at extreme logits, and their errors.
// (Their finite-difference checks are in test_op_table.cpp, with every other op's.)
#include <catch2/catch.hpp>

#include <ember/autograd/losses.hpp>
#include <ember/autograd/softmax.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace ember;

namespace {
using Ld = long double;

Ld sigmoid_ld(Ld z) { return 1 / (1 + std::exp(-z)); }

/// The binary focal loss of one element, written as Keras writes it on probabilities (no clipping), in long double.
Ld focal_term(Ld z, Ld t_raw, const std::vector<double>& w, const BinaryFocalOptions<double>& o) {
    const Ld t = t_raw * (1 - o.label_smoothing) + 0.5L * o.label_smoothing;
    const Ld p = sigmoid_ld(z);
    const Ld bce = -(t * std::log(p) + (1 - t) * std::log(1 - p));
    const Ld p_t = t * p + (1 - t) * (1 - p);
    const Ld balance = o.apply_class_balancing ? t * o.alpha + (1 - t) * (1 - o.alpha) : 1;
    const Ld weight = w.empty() ? 1 : w[0] * (1 - t_raw) + w[1] * t_raw;
    return weight * balance * std::pow(1 - p_t, static_cast<Ld>(o.gamma)) * bce;
}

/// The sparse categorical focal loss, -alpha w[y] (1 - p_y)^gamma log p_y averaged over rows, in long double.
Ld categorical_focal(const Tensor<double>& z, const std::vector<std::int32_t>& y, const std::vector<double>& w,
                     double gamma, double alpha) {
    const index_t n = z.size(0), c = z.size(1);
    Ld total = 0;
    for (index_t i = 0; i < n; ++i) {
        Ld norm = 0;
        for (index_t j = 0; j < c; ++j) norm += std::exp(static_cast<Ld>(z.data()[i * c + j]));
        const Ld p = std::exp(static_cast<Ld>(z.data()[i * c + y[static_cast<std::size_t>(i)]])) / norm;
        const Ld weight = w.empty() ? 1 : w[static_cast<std::size_t>(y[static_cast<std::size_t>(i)])];
        total += -alpha * weight * std::pow(1 - p, static_cast<Ld>(gamma)) * std::log(p);
    }
    return total / static_cast<Ld>(n);
}

/// Hard and soft targets for [2, 4] logits.
Tensor<double> targets_2x4() { return Tensor<double>::from_data({2, 4}, {0, 1, 1, 0, 0.3, 1, 0, 0.75}); }
}  // namespace

TEMPLATE_TEST_CASE("binary_crossentropy_from_logits matches -t log p - (1 - t) log(1 - p), weighted and smoothed",
                   "[autograd][loss]", float, double) {
    using T = TestType;
    Generator gen(3);
    const auto z = Tensor<T>::uniform({2, 4}, -5, 5, gen);
    const auto t = Tensor<T>::from_data({2, 4}, {0, 1, 1, 0, 0.3f, 1, 0, 0.75f});
    const std::vector<T> w{0.4f, 2.5f};
    for (const bool weighted : {false, true})
        for (const T smoothing : {T(0), T(0.2)}) {
            CAPTURE(weighted, smoothing);
            Ld expected = 0;
            for (index_t i = 0; i < 8; ++i) {
                const Ld raw = t.data()[i], ti = raw * (1 - smoothing) + 0.5L * smoothing;
                const Ld p = sigmoid_ld(z.data()[i]);
                const Ld wi = weighted ? w[0] * (1 - raw) + w[1] * raw : 1;
                expected += -wi * (ti * std::log(p) + (1 - ti) * std::log(1 - p));
            }
            const auto loss = binary_crossentropy_from_logits(z, t, weighted ? w : std::vector<T>{}, smoothing);
            CHECK(loss.shape() == Shape{});
            CHECK(loss.item() == Approx(static_cast<double>(expected / 8)).epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-14));
        }
}

TEST_CASE("binary_crossentropy_from_logits: gradient w(t) (sigmoid(z) - t') / n to the logits only", "[autograd][loss]") {
    auto z = Tensor<double>::from_data({2, 2}, {-1, 0, 2, 0.5}).requires_grad(true);
    auto t = Tensor<double>::from_data({2, 2}, {0, 1, 1, 0.5}).requires_grad(true);
    const std::vector<double> w{0.5, 3};
    auto loss = binary_crossentropy_from_logits(z, t, w, 0.1);
    CHECK(loss.grad_fn_name() == "binary_crossentropy_from_logits");
    loss.backward();
    for (index_t i = 0; i < 4; ++i) {
        const double raw = t.data()[i], ti = raw * 0.9 + 0.05, s = 1 / (1 + std::exp(-z.data()[i]));
        CHECK(z.grad().data()[i] == Approx((w[0] * (1 - raw) + w[1] * raw) * (s - ti) / 4).epsilon(1e-14));
    }
    CHECK_FALSE(t.grad().defined());  // targets are data
}

TEMPLATE_TEST_CASE("the binary losses stay exact and finite at extreme logits", "[autograd][loss]", float, double) {
    using T = TestType;
    const T big = std::numeric_limits<T>::max() / 4;
    auto z = Tensor<T>::from_data({6, 1}, {T(50), T(-50), T(1e4), T(-1e4), big, -big}).requires_grad(true);
    const auto t = Tensor<T>::from_data({6, 1}, {1, 0, 0, 0, 1, 0});
    // z = 50 with t = 1 costs log(1 + e^-50) ~ 1.9e-22, not a rounded 0; z = 1e4 with t = 0 costs 1e4.
    auto one = binary_crossentropy_from_logits(z.slice_rows(0, 1), t.slice_rows(0, 1));
    CHECK(one.item() == Approx(std::exp(-50.0)).epsilon(1e-5));
    auto loss = binary_crossentropy_from_logits(z, t);
    loss.backward();
    CHECK(std::isfinite(loss.item()));
    for (index_t i = 0; i < 6; ++i) CHECK(std::isfinite(z.grad().data()[i]));
    CHECK(z.grad().data()[2] == Approx(1.0 / 6));  // saturated wrong: full gradient, no NaN
    z.zero_grad();
    for (const T gamma : {T(0), T(0.5), T(2)}) {
        BinaryFocalOptions<T> o;
        o.gamma = gamma;
        o.apply_class_balancing = true;
        auto focal = binary_focal_crossentropy_from_logits(z, t, {}, o);
        focal.backward();
        CAPTURE(gamma);
        CHECK(std::isfinite(focal.item()));
        for (index_t i = 0; i < 6; ++i) CHECK(std::isfinite(z.grad().data()[i]));
        z.zero_grad();
    }
}

TEST_CASE("binary_focal_crossentropy_from_logits matches Keras' formula; gamma 0 is the cross-entropy",
          "[autograd][loss]") {
    Generator gen(4);
    const auto z = Tensor<double>::uniform({2, 4}, -6, 6, gen);
    const std::vector<double> w{0.4, 2.5};
    const auto targets = targets_2x4();
    struct Case { BinaryFocalOptions<double> o; bool weighted; };
    for (const Case& c : {Case{{}, false}, Case{{0.5, 0.3, true, 0}, false}, Case{{3, 0.6, true, 0.1}, true},
                          Case{{2, 0.25, false, 0.2}, true}}) {
        CAPTURE(c.o.gamma, c.o.alpha, c.o.apply_class_balancing, c.o.label_smoothing, c.weighted);
        const std::vector<double> weights = c.weighted ? w : std::vector<double>{};
        Ld expected = 0;
        for (index_t i = 0; i < 8; ++i) expected += focal_term(z.data()[i], targets.data()[i], weights, c.o);
        const double value = binary_focal_crossentropy_from_logits(z, targets, weights, c.o).item();
        CHECK(value == Approx(static_cast<double>(expected / 8)).epsilon(1e-13));
    }
    BinaryFocalOptions<double> plain;
    plain.gamma = 0;
    auto a = z.clone().requires_grad(true), b = z.clone().requires_grad(true);
    auto focal = binary_focal_crossentropy_from_logits(a, targets, w, plain);
    auto bce = binary_crossentropy_from_logits(b, targets, w);
    CHECK(focal.grad_fn_name() == "binary_focal_crossentropy_from_logits");
    CHECK(focal.item() == Approx(bce.item()).epsilon(1e-15));
    focal.backward();
    bce.backward();
    CHECK(test::max_rel_error(a.grad(), b.grad()) < 1e-15);
}

TEST_CASE("sparse_categorical_focal_crossentropy matches Keras' formula; gamma 0, alpha 1 is the cross-entropy",
          "[autograd][loss]") {
    Generator gen(5);
    const auto z = Tensor<double>::uniform({5, 3}, -4, 4, gen);
    const std::vector<std::int32_t> y{0, 2, 1, 2, 0};
    const std::vector<double> w{0.5, 2, 1.5};
    for (const double gamma : {0.0, 0.5, 2.0, 3.0})
        for (const bool weighted : {false, true}) {
            CAPTURE(gamma, weighted);
            const std::vector<double> weights = weighted ? w : std::vector<double>{};
            const double value = sparse_categorical_focal_crossentropy(z, y, weights, {gamma, 0.25}).item();
            CHECK(value == Approx(static_cast<double>(categorical_focal(z, y, weights, gamma, 0.25))).epsilon(1e-13));
        }
    auto a = z.clone().requires_grad(true), b = z.clone().requires_grad(true);
    auto focal = sparse_categorical_focal_crossentropy(a, y, w, {0, 1});
    auto xent = sparse_categorical_crossentropy(b, y, w);
    CHECK(focal.grad_fn_name() == "sparse_categorical_focal_crossentropy");
    CHECK(focal.item() == Approx(xent.item()).epsilon(1e-15));
    focal.backward();
    xent.backward();
    CHECK(test::max_rel_error(a.grad(), b.grad()) < 1e-14);
}

TEMPLATE_TEST_CASE("sparse_categorical_focal_crossentropy is finite at logits of order 1e3", "[autograd][loss]", float,
                   double) {
    using T = TestType;
    auto z = Tensor<T>::from_data({3, 3}, {1000, -1000, 0, -1000, 1000, 0, 0, 0, 1000}).requires_grad(true);
    const std::vector<std::int32_t> y{0, 0, 1};  // one certain hit, two certain misses
    for (const T gamma : {T(0), T(0.5), T(2)}) {
        CAPTURE(gamma);
        auto loss = sparse_categorical_focal_crossentropy(z, y, {}, {gamma, T(0.25)});
        loss.backward();
        // The misses cost 0.25 * 2000 and 0.25 * 1000, the hit nothing.
        CHECK(loss.item() == Approx(0.25 * 3000 / 3).epsilon(1e-6));
        for (index_t i = 0; i < 9; ++i) CHECK(std::isfinite(z.grad().data()[i]));
        z.zero_grad();
    }
}

TEST_CASE("the binary and focal losses' errors name the loss and the shapes", "[autograd][loss][errors]") {
    const auto z = Tensor<float>::zeros({4, 1});
    const auto t = Tensor<float>::zeros({4, 1});
    CHECK(test::error_message<ShapeError>([&] { binary_crossentropy_from_logits(z, Tensor<float>::zeros({4})); }) ==
          "binary_crossentropy_from_logits: logits [4, 1] and targets [4] differ (give targets the logits' shape, "
          "e.g. [N, 1] for a model with one output)");
    CHECK(test::error_message<ValueError>([] {
              binary_crossentropy_from_logits(Tensor<float>::zeros({0, 1}), Tensor<float>::zeros({0, 1}));
          }) == "binary_crossentropy_from_logits: logits and targets of shape [0, 1] are empty");
    CHECK(test::error_message<ShapeError>([&] {
              binary_crossentropy_from_logits(z, t, std::vector<float>{1, 2, 3});
          }) == "binary_crossentropy_from_logits: 3 class weights for logits [4, 1] (a binary loss takes 2: for targets 0 "
                "and 1)");
    const auto bad = Tensor<float>::from_data({4, 1}, {0, 1, 2, 0});
    CHECK(test::error_message<ValueError>([&] { binary_crossentropy_from_logits(z, bad); }) ==
          "binary_crossentropy_from_logits: target 2 at flat index 2 of targets [4, 1] is outside [0, 1]");
    const auto nan = Tensor<float>::from_data({4, 1}, {0, std::numeric_limits<float>::quiet_NaN(), 1, 0});
    CHECK(test::error_message<ValueError>([&] { binary_focal_crossentropy_from_logits(z, nan); }) ==
          "binary_focal_crossentropy_from_logits: target nan at flat index 1 of targets [4, 1] is outside [0, 1]");
    CHECK(test::error_message<ValueError>([&] { binary_crossentropy_from_logits(z, t, {}, 1.5f); }) ==
          "binary_crossentropy_from_logits: label_smoothing must be in [0, 1], got 1.5");
    CHECK(test::error_message<ValueError>([&] { binary_focal_crossentropy_from_logits(z, t, {}, {-1.0f}); }) ==
          "binary_focal_crossentropy_from_logits: gamma must be finite and >= 0, got -1");
    CHECK(test::error_message<ValueError>([&] { binary_focal_crossentropy_from_logits(z, t, {}, {2.0f, 1.5f}); }) ==
          "binary_focal_crossentropy_from_logits: alpha must be in [0, 1], got 1.5");
    const auto logits = Tensor<float>::zeros({2, 3});
    const std::vector<std::int32_t> y{0, 3};
    CHECK(test::error_message<ValueError>([&] { sparse_categorical_focal_crossentropy(logits, y); }) ==
          "sparse_categorical_focal_crossentropy: label 3 at row 1 is outside [0, 3) for logits [2, 3]");
    CHECK(test::error_message<ShapeError>([&] {
              sparse_categorical_focal_crossentropy(logits, std::vector<std::int32_t>{0});
          }) == "sparse_categorical_focal_crossentropy: 1 labels for logits [2, 3]");
    CHECK(test::error_message<ShapeError>([&] {
              sparse_categorical_focal_crossentropy(logits, std::vector<std::int32_t>{0, 1}, std::vector<float>{1, 2});
          }) == "sparse_categorical_focal_crossentropy: 2 class weights for logits [2, 3]");
    CHECK(test::error_message<ShapeError>([&] {
              sparse_categorical_focal_crossentropy(Tensor<float>::zeros({6}), std::vector<std::int32_t>{0});
          }) == "sparse_categorical_focal_crossentropy: expected logits [N, classes], got [6]");
    CHECK(test::error_message<ValueError>([&] {
              sparse_categorical_focal_crossentropy(logits, std::vector<std::int32_t>{0, 1}, {}, {-0.5f});
          }) == "sparse_categorical_focal_crossentropy: gamma must be finite and >= 0, got -0.5");
}
