#include <catch2/catch.hpp>

#include <ember/autograd/reduce.hpp>

#include "helpers.hpp"

using namespace ember;
using test::gradient_check;
using test::weighted_sum;
using V = std::vector<Tensor<double>>;

TEST_CASE("sum and mean over everything and along an axis", "[autograd][reduce]") {
    auto x = Tensor<double>::from_data({2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK(sum(x).item() == 21);
    CHECK(mean(x).item() == 3.5);
    CHECK(sum(x, 0).to_vector() == std::vector<double>{5, 7, 9});
    CHECK(sum(x, -1).to_vector() == std::vector<double>{6, 15});
    CHECK(mean(x, 1, true).shape() == Shape{2, 1});
    CHECK(mean(x, 1).to_vector() == std::vector<double>{2, 5});
}

TEST_CASE("reduction gradients match finite differences", "[autograd][reduce]") {
    Generator gen(2);
    auto x = Tensor<double>::uniform({3, 4, 5}, -1, 1, gen);
    CHECK(gradient_check({x}, [](const V& t) { return sum(t[0]); }) < 1e-6);
    CHECK(gradient_check({x}, [](const V& t) { return mean(t[0]); }) < 1e-6);
    for (index_t axis : {0, 1, 2})
        CHECK(gradient_check({x}, [axis](const V& t) { return weighted_sum(mean(t[0], axis)); }) < 1e-6);
    CHECK(gradient_check({x}, [](const V& t) { return weighted_sum(sum(t[0], 1, true)); }) < 1e-6);
}

TEST_CASE("mean of an empty tensor is an error", "[autograd][reduce][errors]") {
    CHECK(test::error_message<ValueError>([] { mean(Tensor<float>::zeros({0, 3})); }) ==
          "mean: the tensor of shape [0, 3] is empty");
}
