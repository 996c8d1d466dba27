#include <catch2/catch.hpp>

#include <ember/autograd/softmax.hpp>

#include "helpers.hpp"

using namespace ember;
using V = std::vector<Tensor<double>>;

TEST_CASE("softmax and log_softmax: values and gradients", "[autograd][softmax]") {
    auto x = Tensor<double>::from_data({2, 3}, {1, 2, 3, -1, 0, 1000});
    auto p = softmax(x);
    const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    CHECK(p(0, 0) == Approx(std::exp(1.0) / z));
    CHECK(p(1, 2) == Approx(1.0));
    CHECK(log_softmax(x)(1, 0) == Approx(-1001.0));
    Generator gen(41);
    auto r = Tensor<double>::uniform({4, 5}, -3, 3, gen);
    CHECK(test::gradient_check({r}, [](const V& t) { return test::weighted_sum(softmax(t[0])); }) < 1e-6);
    CHECK(test::gradient_check({r}, [](const V& t) { return test::weighted_sum(log_softmax(t[0])); }) < 1e-6);
}

TEST_CASE("sparse categorical cross-entropy: value, gradient, class weights", "[autograd][loss]") {
    auto logits = Tensor<double>::from_data({2, 3}, {1, 2, 3, 0, 0, 0});
    const std::vector<std::int32_t> y{2, 0};
    const double expected = ((std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3) + std::log(3.0)) / 2;
    CHECK(sparse_categorical_crossentropy(logits, y).item() == Approx(expected).epsilon(1e-14));
    // Keras semantics: weights act per sample, the batch is still divided by N.
    const std::vector<double> w{2.0, 1.0, 0.5};
    const double weighted = (0.5 * (std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3) * 1 + 2.0 * std::log(3.0)) / 2;
    CHECK(sparse_categorical_crossentropy(logits, y, w).item() == Approx(weighted).epsilon(1e-14));
    Generator gen(42);
    auto r = Tensor<double>::uniform({6, 4}, -3, 3, gen);
    const std::vector<std::int32_t> labels{0, 3, 1, 1, 2, 0};
    CHECK(test::gradient_check({r}, [&](const V& t) { return sparse_categorical_crossentropy(t[0], labels); }) < 1e-6);
    const std::vector<double> cw{0.5, 2, 1, 3};
    CHECK(test::gradient_check({r}, [&](const V& t) { return sparse_categorical_crossentropy(t[0], labels, cw); }) < 1e-6);
}

TEST_CASE("cross-entropy with label smoothing: the smoothed one-hot target, value and gradient", "[autograd][loss]") {
    Generator gen(43);
    auto r = Tensor<double>::uniform({5, 4}, -3, 3, gen);
    const std::vector<std::int32_t> labels{0, 3, 1, 1, 2};
    const std::vector<double> cw{0.5, 2, 1, 3};
    // Naive reference: -sum_j q_ij log softmax(z_i)_j with q = (1 - e) one_hot + e / C, row i weighted by w[y_i].
    auto reference = [&](double e, bool weighted) {
        double total = 0;
        for (index_t i = 0; i < 5; ++i) {
            double z = 0;
            for (index_t j = 0; j < 4; ++j) z += std::exp(r(i, j));
            const std::int32_t y = labels[static_cast<std::size_t>(i)];
            for (index_t j = 0; j < 4; ++j) {
                const double q = (1 - e) * (j == y ? 1.0 : 0.0) + e / 4;
                total -= (weighted ? cw[static_cast<std::size_t>(y)] : 1.0) * q * std::log(std::exp(r(i, j)) / z);
            }
        }
        return total / 5;
    };
    for (double e : {0.1, 0.5, 1.0}) {
        CAPTURE(e);
        CHECK(sparse_categorical_crossentropy(r, labels, {}, e).item() == Approx(reference(e, false)).epsilon(1e-12));
        CHECK(sparse_categorical_crossentropy(r, labels, cw, e).item() == Approx(reference(e, true)).epsilon(1e-12));
        CHECK(test::gradient_check({r}, [&](const V& t) { return sparse_categorical_crossentropy(t[0], labels, {}, e); }) < 1e-6);
        CHECK(test::gradient_check({r}, [&](const V& t) { return sparse_categorical_crossentropy(t[0], labels, cw, e); }) < 1e-6);
    }
    // Smoothing 0 is the plain loss, bit for bit, gradient included: the formulas of the loss without smoothing,
    // evaluated here in the same order (sum in double of -w[y] log p_y, divided by N; gradient w[y]/N (p - onehot)).
    auto a = r.detach().requires_grad(true);
    auto la = sparse_categorical_crossentropy(a, labels, cw, 0.0);
    const auto logp = log_softmax(r.detach());
    double plain = 0;
    for (index_t i = 0; i < 5; ++i)
        plain -= cw[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])] * logp(i, labels[static_cast<std::size_t>(i)]);
    CHECK(la.item() == plain / 5);
    la.backward();
    for (index_t i = 0; i < 5; ++i)
        for (index_t j = 0; j < 4; ++j) {
            const std::int32_t y = labels[static_cast<std::size_t>(i)];
            const double wi = 1.0 / 5 * cw[static_cast<std::size_t>(y)];
            CHECK(a.grad()(i, j) == wi * (std::exp(logp(i, j)) - (j == y ? 1.0 : 0.0)));
        }
    // The smoothing converts to the tensor's type: a double literal works on float logits.
    const auto f = Tensor<float>::from_data({1, 3}, {1, 2, 3});
    CHECK(sparse_categorical_crossentropy(f, std::vector<std::int32_t>{2}, {}, 0.3).item() ==
          Approx(sparse_categorical_crossentropy(f, std::vector<std::int32_t>{2}, {}, 0.3f).item()));
    // Full smoothing makes the label irrelevant: the loss of a uniform target.
    CHECK(sparse_categorical_crossentropy(r, labels, {}, 1.0).item() ==
          Approx(sparse_categorical_crossentropy(r, std::vector<std::int32_t>{1, 1, 1, 1, 1}, {}, 1.0).item()).epsilon(1e-14));
}

TEST_CASE("cross-entropy stays finite for logits of +-1e4", "[autograd][loss]") {
    for (float big : {1e4f, -1e4f}) {
        auto logits = Tensor<float>::from_data({2, 3}, {big, -big, 0, -big, big, big}).requires_grad(true);
        auto loss = sparse_categorical_crossentropy(logits, std::vector<std::int32_t>{1, 0});
        CHECK(std::isfinite(loss.item()));
        // row losses: big > 0 -> 2e4 and 2e4 + log 2; big < 0 -> 0 and 0
        CHECK(loss.item() == Approx(big > 0 ? 2e4 + std::log(2.0) / 2 : 0.0).margin(1e-2));
        loss.backward();
        for (float g : logits.grad().span()) CHECK(std::isfinite(g));
    }
}

TEST_CASE("cross-entropy errors name the label or the shapes", "[autograd][loss][errors]") {
    auto logits = Tensor<float>::zeros({2, 9});
    CHECK(test::error_message<ValueError>([&] { sparse_categorical_crossentropy(logits, std::vector<std::int32_t>{0, 9}); }) ==
          "sparse_categorical_crossentropy: label 9 at row 1 is outside [0, 9)");
    CHECK(test::error_message<ShapeError>([&] { sparse_categorical_crossentropy(logits, std::vector<std::int32_t>{0}); }) ==
          "sparse_categorical_crossentropy: 1 labels for logits [2, 9]");
    CHECK(test::error_message<ShapeError>([&] {
              sparse_categorical_crossentropy(Tensor<float>::zeros({2, 3, 3}), std::vector<std::int32_t>{0, 1});
          }) == "sparse_categorical_crossentropy: expected logits [N, classes], got [2, 3, 3]");
    CHECK(test::error_message<ShapeError>([&] {
              sparse_categorical_crossentropy(logits, std::vector<std::int32_t>{0, 1}, std::vector<float>{1, 2});
          }) == "sparse_categorical_crossentropy: 2 class weights for 9 classes");
    for (float e : {-0.1f, 1.5f, std::nanf("")}) {
        CAPTURE(e);
        CHECK_THAT(test::error_message<ValueError>([&] {
                       sparse_categorical_crossentropy(logits, std::vector<std::int32_t>{0, 1}, {}, e);
                   }),
                   Catch::StartsWith("sparse_categorical_crossentropy: label_smoothing must be in [0, 1], got "));
    }
}
