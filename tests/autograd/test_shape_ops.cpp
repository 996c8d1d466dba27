#include <catch2/catch.hpp>

#include <ember/autograd/shape_ops.hpp>

#include "helpers.hpp"

using namespace ember;
using V = std::vector<Tensor<double>>;

TEST_CASE("reshape and flatten are views with gradients", "[autograd][shape_ops]") {
    Generator gen(4);
    auto x = Tensor<double>::uniform({2, 3, 4, 5}, -1, 1, gen);
    auto f = flatten(x);
    CHECK(f.shape() == Shape{2, 60});
    CHECK(f.shares_storage_with(x));
    CHECK(reshape(x, {-1, 5}).shape() == Shape{24, 5});
    CHECK(test::gradient_check({x}, [](const V& t) { return test::weighted_sum(flatten(t[0])); }) < 1e-6);
    CHECK(test::gradient_check({x}, [](const V& t) { return test::weighted_sum(reshape(t[0], {4, -1})); }) < 1e-6);
}

TEST_CASE("reshape errors name the shapes", "[autograd][shape_ops][errors]") {
    auto x = Tensor<float>::zeros({2, 3});
    CHECK(test::error_message<ShapeError>([&] { reshape(x, {4, 2}); }) ==
          "reshape: cannot reshape [2, 3] (6 elements) into [4, 2] (8 elements)");
    CHECK(test::error_message<ShapeError>([&] { reshape(x, {-1, -1}); }) == "reshape: only one extent may be -1");
    CHECK(test::error_message<ShapeError>([&] { reshape(x, {-1, 4}); }) ==
          "reshape: cannot reshape [2, 3] (6 elements) with an inferred extent");
}
