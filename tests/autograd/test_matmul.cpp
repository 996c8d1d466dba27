#include <catch2/catch.hpp>

#include <ember/autograd/matmul.hpp>

#include "helpers.hpp"

using namespace ember;
using V = std::vector<Tensor<double>>;

TEST_CASE("matmul matches a triple loop and finite differences", "[autograd][matmul]") {
    Generator gen(3);
    auto a = Tensor<double>::uniform({5, 7}, -1, 1, gen);
    auto b = Tensor<double>::uniform({7, 3}, -1, 1, gen);
    auto c = matmul(a, b);
    for (index_t i = 0; i < 5; ++i)
        for (index_t j = 0; j < 3; ++j) {
            double acc = 0;
            for (index_t k = 0; k < 7; ++k) acc += a(i, k) * b(k, j);
            CHECK(c(i, j) == Approx(acc).epsilon(1e-14));
        }
    CHECK(test::gradient_check({a, b}, [](const V& t) { return test::weighted_sum(matmul(t[0], t[1])); }) < 1e-6);
}

TEST_CASE("matmul names both shapes when they do not chain", "[autograd][matmul][errors]") {
    CHECK(test::error_message<ShapeError>([] { matmul(Tensor<float>::zeros({2, 3}), Tensor<float>::zeros({4, 5})); }) ==
          "matmul: expected [M, K] x [K, N], got [2, 3] x [4, 5]");
}
