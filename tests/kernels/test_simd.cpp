#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include <ember/kernels/simd.hpp>

using namespace ember::kernels;

TEST_CASE("the SIMD mode is the one the build asked for", "[kernels][simd]") {
#if defined(EMBER_FORCE_SCALAR)
    CHECK(std::strcmp(simd::isa_name, "scalar") == 0);
#elif defined(__AVX512F__)
    CHECK(std::strcmp(simd::isa_name, "avx512") == 0);
#elif defined(__AVX2__) && defined(__FMA__)
    CHECK(std::strcmp(simd::isa_name, "avx2") == 0);
#else
    CHECK(std::strcmp(simd::isa_name, "scalar") == 0);
#endif
    WARN("SIMD mode: " << simd::isa_name);
}

TEMPLATE_TEST_CASE("Vec<T> arithmetic matches scalar arithmetic lane by lane", "[kernels][simd]", float, double) {
    using V = simd::Vec<TestType>;
    constexpr int w = V::width;
    TestType a[w], b[w], c[w], out[w];
    for (int i = 0; i < w; ++i) {
        a[i] = TestType(i + 1) / 3;
        b[i] = TestType(w - i) * TestType(0.7);
        c[i] = TestType(-i);
    }
    const V va = V::load(a), vb = V::load(b), vc = V::load(c);
    (va + vb).store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == a[i] + b[i]);
    (va - vb).store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == a[i] - b[i]);
    (va * vb).store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == a[i] * b[i]);
    (va / vb).store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == a[i] / b[i]);
    fma(va, vb, vc).store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == std::fma(a[i], b[i], c[i]));
    max(va, vb).store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == std::max(a[i], b[i]));
    sqrt(va).store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == std::sqrt(a[i]));
    V::broadcast(TestType(2.5)).store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == TestType(2.5));
    V::zero().store(out);
    for (int i = 0; i < w; ++i) CHECK(out[i] == 0);
}
