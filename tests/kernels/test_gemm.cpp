#include <catch2/catch.hpp>

#include <ember/kernels/gemm.hpp>

#include "helpers.hpp"

using namespace ember;

TEST_CASE("gemm matches a plain triple loop for every transpose and beta", "[kernels][gemm]") {
    Generator gen(4);
    const index_t m = 13, n = 7, k = 9;
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (double beta : {0.0, 1.0, 0.5}) {
                CAPTURE(ta, tb, beta);
                auto a = Tensor<double>::uniform(ta ? Shape{k, m} : Shape{m, k}, -1, 1, gen);
                auto b = Tensor<double>::uniform(tb ? Shape{n, k} : Shape{k, n}, -1, 1, gen);
                auto c = Tensor<double>::uniform({m, n}, -1, 1, gen);
                auto ref = c.clone();
                for (index_t i = 0; i < m; ++i)
                    for (index_t j = 0; j < n; ++j) {
                        double acc = 0;
                        for (index_t p = 0; p < k; ++p) acc += (ta ? a(p, i) : a(i, p)) * (tb ? b(j, p) : b(p, j));
                        ref(i, j) = 2.0 * acc + beta * ref(i, j);
                    }
                kernels::gemm<double>(ta, tb, m, n, k, 2.0, a.data(), ta ? m : k, b.data(), tb ? k : n, beta, c.data(), n);
                CHECK(test::max_rel_error(c, ref) < 1e-13);
            }
}

TEST_CASE("gemm with k = 0 scales C by beta", "[kernels][gemm]") {
    auto c = Tensor<float>::full({2, 2}, 3);
    kernels::gemm<float>(false, false, 2, 2, 0, 1.f, nullptr, 0, nullptr, 2, 0.f, c.data(), 2);
    for (float v : c.span()) CHECK(v == 0);
}
