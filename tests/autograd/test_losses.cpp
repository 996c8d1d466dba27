// tests/autograd/test_losses.cpp - mean_squared_error against a plain loop, its gradient routing and its errors.
// (Its finite-difference checks are in test_op_table.cpp, with every other op's.)
#include <catch2/catch.hpp>

#include <ember/autograd/losses.hpp>

#include "helpers.hpp"

using namespace ember;

TEMPLATE_TEST_CASE("mean_squared_error matches a plain loop", "[autograd][loss]", float, double) {
    Generator gen(51);
    auto p = Tensor<TestType>::uniform({4, 3, 5}, -2, 2, gen);
    auto t = Tensor<TestType>::uniform({4, 3, 5}, -2, 2, gen);
    double expected = 0;
    for (index_t i = 0; i < p.numel(); ++i) {
        const double d = static_cast<double>(p.data()[i]) - static_cast<double>(t.data()[i]);
        expected += d * d;
    }
    expected /= static_cast<double>(p.numel());
    const auto loss = mean_squared_error(p, t);
    CHECK(loss.shape() == Shape{});
    CHECK(loss.item() == Approx(expected).epsilon(std::is_same_v<TestType, float> ? 1e-6 : 1e-14));
    CHECK(mean_squared_error(p, p).item() == 0);
}

TEST_CASE("mean_squared_error: gradient 2 (p - t) / n to predictions, its negative to targets", "[autograd][loss]") {
    auto p = Tensor<double>::from_data({2, 2}, {1, 2, 3, 4}).requires_grad(true);
    auto t = Tensor<double>::from_data({2, 2}, {0, 2, 5, 4});
    auto loss = mean_squared_error(p, t);
    CHECK(loss.item() == (1.0 + 0 + 4 + 0) / 4);
    CHECK(loss.grad_fn_name() == "mean_squared_error");
    loss.backward();
    CHECK(p.grad().to_vector() == std::vector<double>{0.5, 0, -1, 0});
    CHECK_FALSE(t.grad().defined());  // targets without requires_grad get no gradient
    t.requires_grad(true);
    p.zero_grad();
    mean_squared_error(p, t).backward();
    CHECK(t.grad().to_vector() == std::vector<double>{-0.5, 0, 1, 0});
}

TEST_CASE("mean_squared_error errors name both shapes", "[autograd][loss][errors]") {
    CHECK(test::error_message<ShapeError>([] {
              mean_squared_error(Tensor<float>::zeros({8, 1}), Tensor<float>::zeros({8}));
          }) == "mean_squared_error: predictions [8, 1] and targets [8] differ (give targets the predictions' shape, "
                "e.g. [N, 1] for a model with one output)");
    CHECK(test::error_message<ValueError>([] {
              mean_squared_error(Tensor<float>::zeros({0, 3}), Tensor<float>::zeros({0, 3}));
          }) == "mean_squared_error: predictions and targets of shape [0, 3] are empty");
}
