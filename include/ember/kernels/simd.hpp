// ember/kernels/simd.hpp - the only file with intrinsics: a small vector vocabulary Vec<T> (float, double) with
// AVX-512, AVX2+FMA and scalar implementations, chosen at compile time from the target flags.
// Each ISA lives in an inline namespace named after it, so translation units built with different flags cannot
// link mismatched copies (a Vec<float> of avx2 and one of avx512 are different types).
#pragma once

#include <cmath>

#if !defined(EMBER_FORCE_SCALAR) && (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
#include <immintrin.h>
#endif

namespace ember::kernels::simd {

#if !defined(EMBER_FORCE_SCALAR) && defined(__AVX512F__)
inline namespace avx512 {
inline constexpr const char* isa_name = "avx512";
template <class T>
struct Vec;
template <>
struct Vec<float> {
    static constexpr int width = 16;
    __m512 v;
    static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
    static Vec broadcast(float x) { return {_mm512_set1_ps(x)}; }
    static Vec zero() { return {_mm512_setzero_ps()}; }
    void store(float* p) const { _mm512_storeu_ps(p, v); }
    friend Vec operator+(Vec a, Vec b) { return {_mm512_add_ps(a.v, b.v)}; }
    friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_ps(a.v, b.v)}; }
    friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
    friend Vec operator/(Vec a, Vec b) { return {_mm512_div_ps(a.v, b.v)}; }
    /// a * b + c in one rounding.
    friend Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
    friend Vec max(Vec a, Vec b) { return {_mm512_max_ps(a.v, b.v)}; }
    friend Vec sqrt(Vec a) { return {_mm512_sqrt_ps(a.v)}; }
};
template <>
struct Vec<double> {
    static constexpr int width = 8;
    __m512d v;
    static Vec load(const double* p) { return {_mm512_loadu_pd(p)}; }
    static Vec broadcast(double x) { return {_mm512_set1_pd(x)}; }
    static Vec zero() { return {_mm512_setzero_pd()}; }
    void store(double* p) const { _mm512_storeu_pd(p, v); }
    friend Vec operator+(Vec a, Vec b) { return {_mm512_add_pd(a.v, b.v)}; }
    friend Vec operator-(Vec a, Vec b) { return {_mm512_sub_pd(a.v, b.v)}; }
    friend Vec operator*(Vec a, Vec b) { return {_mm512_mul_pd(a.v, b.v)}; }
    friend Vec operator/(Vec a, Vec b) { return {_mm512_div_pd(a.v, b.v)}; }
    friend Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
    friend Vec max(Vec a, Vec b) { return {_mm512_max_pd(a.v, b.v)}; }
    friend Vec sqrt(Vec a) { return {_mm512_sqrt_pd(a.v)}; }
};
}  // namespace avx512
#elif !defined(EMBER_FORCE_SCALAR) && defined(__AVX2__) && defined(__FMA__)
inline namespace avx2 {
inline constexpr const char* isa_name = "avx2";
template <class T>
struct Vec;
template <>
struct Vec<float> {
    static constexpr int width = 8;
    __m256 v;
    static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
    static Vec broadcast(float x) { return {_mm256_set1_ps(x)}; }
    static Vec zero() { return {_mm256_setzero_ps()}; }
    void store(float* p) const { _mm256_storeu_ps(p, v); }
    friend Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
    friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
    friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
    friend Vec operator/(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
    friend Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
    friend Vec max(Vec a, Vec b) { return {_mm256_max_ps(a.v, b.v)}; }
    friend Vec sqrt(Vec a) { return {_mm256_sqrt_ps(a.v)}; }
};
template <>
struct Vec<double> {
    static constexpr int width = 4;
    __m256d v;
    static Vec load(const double* p) { return {_mm256_loadu_pd(p)}; }
    static Vec broadcast(double x) { return {_mm256_set1_pd(x)}; }
    static Vec zero() { return {_mm256_setzero_pd()}; }
    void store(double* p) const { _mm256_storeu_pd(p, v); }
    friend Vec operator+(Vec a, Vec b) { return {_mm256_add_pd(a.v, b.v)}; }
    friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_pd(a.v, b.v)}; }
    friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_pd(a.v, b.v)}; }
    friend Vec operator/(Vec a, Vec b) { return {_mm256_div_pd(a.v, b.v)}; }
    friend Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
    friend Vec max(Vec a, Vec b) { return {_mm256_max_pd(a.v, b.v)}; }
    friend Vec sqrt(Vec a) { return {_mm256_sqrt_pd(a.v)}; }
};
}  // namespace avx2
#else
inline namespace scalar {
inline constexpr const char* isa_name = "scalar";
/// The portable fallback: one lane. Every kernel written with Vec<T> also runs (and is tested) in this mode.
template <class T>
struct Vec {
    static constexpr int width = 1;
    T v;
    static Vec load(const T* p) { return {*p}; }
    static Vec broadcast(T x) { return {x}; }
    static Vec zero() { return {T(0)}; }
    void store(T* p) const { *p = v; }
    friend Vec operator+(Vec a, Vec b) { return {a.v + b.v}; }
    friend Vec operator-(Vec a, Vec b) { return {a.v - b.v}; }
    friend Vec operator*(Vec a, Vec b) { return {a.v * b.v}; }
    friend Vec operator/(Vec a, Vec b) { return {a.v / b.v}; }
    friend Vec fma(Vec a, Vec b, Vec c) { return {std::fma(a.v, b.v, c.v)}; }
    friend Vec max(Vec a, Vec b) { return {a.v < b.v ? b.v : a.v}; }
    friend Vec sqrt(Vec a) { return {std::sqrt(a.v)}; }
};
}  // namespace scalar
#endif

}  // namespace ember::kernels::simd
