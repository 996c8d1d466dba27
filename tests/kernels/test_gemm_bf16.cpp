// Tests of ember/kernels/gemm_bf16.hpp: rounding to bfloat16 (to nearest, ties to even; NaN and infinity kept), and
// the bf16 GEMM against a double reference on every unit. The error bound stated (first order, for products and
// partial sums in float's normal range): inputs rounded to bfloat16 (8 significant bits) are off by at most u = 2^-8
// each, so a product by at most 2u + u^2 = 2^-7 + 2^-16 of |a||b|; the float sums round at most K + 1 times, each by
// 2^-24 of the magnitudes summed - so |C - (C0 + AB)| <= (2^-7 + 2^-16 + (K + 1) 2^-24) (|C0| + sum_p |a_ip||b_pj|).
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <ember/core/random.hpp>
#include <ember/kernels/gemm_bf16.hpp>

using namespace ember;
using namespace ember::kernels;

TEST_CASE("floats round to the nearest bfloat16, ties to even", "[kernels][bf16]") {
    CHECK(to_bf16_bits(1.0f) == 0x3f80);
    CHECK(to_bf16_bits(-2.0f) == 0xc000);
    CHECK(round_to_bf16(1.0f + 0x1p-8f) == 1.0f);                  // a tie: to the even 1.0
    CHECK(round_to_bf16(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);    // a tie: to the even 1 + 2^-6
    CHECK(round_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);
    CHECK(std::isinf(round_to_bf16(std::numeric_limits<float>::infinity())));
    CHECK(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
    const float nan_low_bits = std::bit_cast<float>(0x7f800001u);  // a NaN whose payload would round away
    CHECK(std::isnan(round_to_bf16(nan_low_bits)));
    CHECK(round_to_bf16(std::numeric_limits<float>::max()) == std::numeric_limits<float>::infinity());
    for (float x : {0.1f, 3.14159f, -1e-3f, 65504.0f})
        CHECK(std::abs(round_to_bf16(x) - x) <= std::abs(x) * 0x1p-8f);
}

namespace {
struct Case {
    bool ta, tb;
    index_t m, n, k;
};

/// op(X)[i][p] of a row-major X with leading dimension ld.
float at(const std::vector<float>& x, bool trans, index_t ld, index_t i, index_t p) {
    return trans ? x[static_cast<std::size_t>(p * ld + i)] : x[static_cast<std::size_t>(i * ld + p)];
}
}  // namespace

namespace {
/// The worst error of gemm_bf16 on `cs` with `unit`, as a share of the stated bound (C0 = 0.5 when accumulating).
double worst_share_of_bound(const Case& cs, const std::vector<float>& a, const std::vector<float>& b, Bf16Unit unit,
                            bool accumulate) {
    const index_t lda = cs.ta ? cs.m : cs.k, ldb = cs.tb ? cs.k : cs.n;
    std::vector<float> out(static_cast<std::size_t>(cs.m * cs.n), 0.5f);
    gemm_bf16(cs.ta, cs.tb, cs.m, cs.n, cs.k, a.data(), lda, b.data(), ldb, accumulate, out.data(), cs.n, unit);
    const double bound_per_abs = 0x1p-7 + 0x1p-16 + static_cast<double>(cs.k + 1) * 0x1p-24;
    double worst = 0;
    for (index_t i = 0; i < cs.m; ++i)
        for (index_t j = 0; j < cs.n; ++j) {
            double exact = accumulate ? 0.5 : 0.0, abs_sum = exact;
            for (index_t p = 0; p < cs.k; ++p) {
                const double x = at(a, cs.ta, lda, i, p), y = at(b, !cs.tb, ldb, j, p);
                exact += x * y;
                abs_sum += std::abs(x * y);
            }
            const double err = std::abs(out[static_cast<std::size_t>(i * cs.n + j)] - exact);
            worst = std::max(worst, err / (bound_per_abs * abs_sum + 1e-30));
        }
    return worst;
}
}  // namespace

TEST_CASE("gemm_bf16 is within the bfloat16 bound of the exact product, for every layout", "[kernels][bf16]") {
    Generator gen(3);
    for (const Case cs : {Case{false, false, 13, 40, 7}, Case{true, false, 200, 33, 513}, Case{false, true, 25, 64, 800},
                          Case{true, true, 3, 5, 1}, Case{false, false, 193, 96, 1030}}) {
        std::vector<float> a(static_cast<std::size_t>(cs.m * cs.k)), b(static_cast<std::size_t>(cs.k * cs.n));
        for (float& v : a) v = static_cast<float>(gen.uniform(-1, 1));
        for (float& v : b) v = static_cast<float>(gen.uniform(-1, 1));
        for (const auto unit : {Bf16Unit::amx, Bf16Unit::avx512, Bf16Unit::scalar})
            for (bool accumulate : {false, true}) {
                INFO("M=" << cs.m << " N=" << cs.n << " K=" << cs.k << " trans " << cs.ta << cs.tb << " accumulate "
                          << accumulate << " unit " << static_cast<int>(unit));
                CHECK(worst_share_of_bound(cs, a, b, unit, accumulate) <= 1.0);
            }
    }
}

// (A unit the CPU lacks runs the scalar loop: the case above then tests that twice; AMX sums in its own order.)
TEST_CASE("gemm_bf16 on vdpbf16ps equals its scalar emulation bit for bit", "[kernels][bf16]") {
    if (!cpu_has_bf16()) {
        WARN("this CPU has no AVX512_BF16: only the scalar loop was tested");
        return;
    }
    Generator gen(5);
    const index_t m = 37, n = 70, k = 601;
    std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
    for (float& v : a) v = static_cast<float>(gen.normal());
    for (float& v : b) v = static_cast<float>(gen.normal());
    std::vector<float> fast(static_cast<std::size_t>(m * n)), slow(fast.size());
    gemm_bf16(false, false, m, n, k, a.data(), k, b.data(), n, false, fast.data(), n, Bf16Unit::avx512);
    gemm_bf16(false, false, m, n, k, a.data(), k, b.data(), n, false, slow.data(), n, Bf16Unit::scalar);
    CHECK(std::memcmp(fast.data(), slow.data(), fast.size() * sizeof(float)) == 0);
}

TEST_CASE("gemm_bf16 edge cases", "[kernels][bf16][errors]") {
    std::vector<float> c{1.0f, 2.0f};
    gemm_bf16(false, false, 1, 2, 0, nullptr, 0, nullptr, 2, false, c.data(), 2);  // K = 0 writes zeros
    CHECK(c == std::vector<float>{0.0f, 0.0f});
    CHECK_THROWS_AS(gemm_bf16(false, false, -1, 2, 2, nullptr, 2, nullptr, 2, false, c.data(), 2), ValueError);
}
