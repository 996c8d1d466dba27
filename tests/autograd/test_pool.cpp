#include <catch2/catch.hpp>

#include <ember/autograd/pool.hpp>

#include "helpers.hpp"
#include "reference.hpp"

using namespace ember;
using V = std::vector<Tensor<double>>;

TEST_CASE("max_pool2d op: Keras defaults, odd sizes, gradients", "[autograd][pool]") {
    Generator gen(31);
    auto x = Tensor<double>::uniform({2, 5, 7, 3}, -1, 1, gen);
    auto y = max_pool2d(x);
    CHECK(y.shape() == Shape{2, 2, 3, 3});
    CHECK(test::max_rel_error(y, test::max_pool_reference(x, 2, 2, 2, 2)) == 0);
    CHECK(test::gradient_check({x}, [](const V& t) { return test::weighted_sum(max_pool2d(t[0])); }) < 1e-6);
    CHECK(test::gradient_check({x}, [](const V& t) { return test::weighted_sum(max_pool2d(t[0], {3, 2, 1, 2})); }) < 1e-6);
    CHECK(max_pool2d(Tensor<float>::zeros({1, 45, 45, 64})).shape() == Shape{1, 22, 22, 64});
}

TEST_CASE("max_pool2d errors", "[autograd][pool][errors]") {
    CHECK(test::error_message<ShapeError>([] { max_pool2d(Tensor<float>::zeros({1, 1, 4, 3})); }) ==
          "max_pool2d: input [1, 1, 4, 3] is smaller than the 2x2 pool window");
    CHECK(test::error_message<ShapeError>([] { max_pool2d(Tensor<float>::zeros({4, 4, 3})); }) ==
          "max_pool2d: expected input [N, H, W, C], got [4, 4, 3]");
    CHECK(test::error_message<ValueError>([] { max_pool2d(Tensor<float>::zeros({1, 4, 4, 3}), {0, 2}); }) ==
          "max_pool2d: pool size and strides must be > 0, got pool (0, 2) strides (0, 2)");
}
