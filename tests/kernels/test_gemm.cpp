#include <catch2/catch.hpp>

#include <cmath>

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

TEST_CASE("the packed SIMD GEMM agrees with Eigen on edge-heavy shapes and all transposes", "[kernels][gemm]") {
    Generator gen(6);
    INFO("SIMD mode: " << kernels::simd::isa_name);
    const index_t shapes[][3] = {{1, 1, 1}, {13, 7, 9}, {12, 32, 256}, {25, 33, 257}, {81, 32, 800}, {37, 800, 32},
                                 {100, 64, 513}, {5, 100, 3}};
    for (const auto& s : shapes) {
        const index_t m = s[0], n = s[1], k = s[2];
        for (bool ta : {false, true})
            for (bool tb : {false, true})
                for (float beta : {0.0f, 1.0f}) {
                    CAPTURE(m, n, k, ta, tb, beta);
                    // leading dimensions larger than the extents, to catch stride mistakes
                    const index_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
                    auto a = Tensor<float>::uniform({ta ? k : m, lda}, -1, 1, gen);
                    auto b = Tensor<float>::uniform({tb ? n : k, ldb}, -1, 1, gen);
                    auto c = Tensor<float>::uniform({m, ldc}, -1, 1, gen);
                    auto ref = c.clone();
                    kernels::gemm_eigen<float>(ta, tb, m, n, k, 1.f, a.data(), lda, b.data(), ldb, beta, ref.data(), ldc);
                    // the packed path itself (gemm() sends narrow N to Eigen)
                    const kernels::PackedB<float> packed(tb, b.data(), ldb, k, n);
                    kernels::gemm_packed(ta, m, a.data(), lda, packed, beta == 1.0f, c.data(), ldc);
                    CHECK(test::max_rel_error(c, ref) < 1e-5 * std::sqrt(static_cast<double>(k)));
                }
    }
}

TEST_CASE("the packed GEMM in double is exact to rounding", "[kernels][gemm]") {
    Generator gen(7);
    auto a = Tensor<double>::uniform({29, 301}, -1, 1, gen);
    auto b = Tensor<double>::uniform({301, 19}, -1, 1, gen);
    auto c = Tensor<double>::zeros({29, 19}), ref = Tensor<double>::zeros({29, 19});
    kernels::gemm_eigen<double>(false, false, 29, 19, 301, 1.0, a.data(), 301, b.data(), 19, 0.0, ref.data(), 19);
    kernels::gemm<double>(false, false, 29, 19, 301, 1.0, a.data(), 301, b.data(), 19, 0.0, c.data(), 19);
    CHECK(test::max_rel_error(c, ref) < 1e-12);
}
