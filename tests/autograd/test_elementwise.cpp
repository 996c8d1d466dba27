#include <catch2/catch.hpp>

#include <ember/autograd/elementwise.hpp>
#include <ember/autograd/reduce.hpp>

#include "helpers.hpp"

using namespace ember;
using test::error_message;
using test::gradient_check;
using test::weighted_sum;
using V = std::vector<Tensor<double>>;

TEST_CASE("broadcasting add/sub/mul/div match element loops", "[autograd][elementwise]") {
    auto a = Tensor<double>::from_data({2, 3}, {1, 2, 3, 4, 5, 6});
    auto bias = Tensor<double>::from_data({3}, {10, 20, 30});
    auto col = Tensor<double>::from_data({2, 1}, {2, 4});
    CHECK(add(a, bias).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36});
    CHECK(sub(a, col).to_vector() == std::vector<double>{-1, 0, 1, 0, 1, 2});
    CHECK(mul(col, bias).shape() == Shape{2, 3});
    CHECK(mul(col, bias).to_vector() == std::vector<double>{20, 40, 60, 40, 80, 120});
    CHECK(div(a, col).to_vector() == std::vector<double>{0.5, 1, 1.5, 1, 1.25, 1.5});
    CHECK((a * 2.0 + 1.0).to_vector() == std::vector<double>{3, 5, 7, 9, 11, 13});
    CHECK((-a).data()[0] == -1);
    CHECK(add(a, Tensor<double>::scalar(1)).data()[5] == 7);
}

TEST_CASE("elementwise gradients match finite differences, with broadcasting", "[autograd][elementwise]") {
    Generator gen(1);
    auto a = Tensor<double>::uniform({2, 3, 4}, -1, 1, gen);
    auto b = Tensor<double>::uniform({3, 1}, 0.5, 2, gen);  // broadcasts over dims 0 and 2
    auto bias = Tensor<double>::uniform({4}, -1, 1, gen);
    CHECK(gradient_check({a, b}, [](const V& t) { return weighted_sum(add(t[0], t[1])); }) < 1e-6);
    CHECK(gradient_check({a, b}, [](const V& t) { return weighted_sum(sub(t[0], t[1])); }) < 1e-6);
    CHECK(gradient_check({a, b}, [](const V& t) { return weighted_sum(mul(t[0], t[1])); }) < 1e-6);
    CHECK(gradient_check({a, b}, [](const V& t) { return weighted_sum(div(t[0], t[1])); }) < 1e-6);
    CHECK(gradient_check({b, a}, [](const V& t) { return weighted_sum(div(t[0], t[1])); }) < 1e-6);
    CHECK(gradient_check({a, bias}, [](const V& t) { return weighted_sum(add(t[0], t[1])); }) < 1e-6);
    CHECK(gradient_check({a}, [](const V& t) { return weighted_sum(rescale(t[0], 0.3, -2.0)); }) < 1e-6);
    CHECK(gradient_check({a}, [](const V& t) { return weighted_sum(relu(t[0])); }) < 1e-6);
    CHECK(gradient_check({a}, [](const V& t) { return weighted_sum(exp(t[0])); }) < 1e-6);
    CHECK(gradient_check({b}, [](const V& t) { return weighted_sum(log(t[0])); }) < 1e-6);
}

TEST_CASE("relu forward and its gradient at zero", "[autograd][elementwise]") {
    auto x = Tensor<double>::from_data({4}, {-1, 0, 2, -0.5}).requires_grad(true);
    auto y = relu(x);
    CHECK(y.to_vector() == std::vector<double>{0, 0, 2, 0});
    sum(y).backward();
    CHECK(x.grad().to_vector() == std::vector<double>{0, 0, 1, 0});
    CHECK(std::isnan(relu(Tensor<float>::full({1}, std::nanf(""))).item()));  // NaN is not silently zeroed
}

TEST_CASE("shapes that do not broadcast are named in the error", "[autograd][elementwise][errors]") {
    auto a = Tensor<float>::zeros({2, 3});
    auto b = Tensor<float>::zeros({4});
    CHECK(error_message<ShapeError>([&] { add(a, b); }) == "add: shapes [2, 3] and [4] cannot be broadcast together");
    CHECK(error_message<ShapeError>([&] { mul(a, Tensor<float>::zeros({3, 3})); }) ==
          "mul: shapes [2, 3] and [3, 3] cannot be broadcast together");
}
