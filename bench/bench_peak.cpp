// bench_peak: this machine's single-precision FMA peak, the yardstick for every GFLOP/s figure in
// docs/performance.md: each thread runs 12 independent chains of vector FMAs (enough to cover the FMA latency on
// two ports) in registers, with no memory traffic. Written with kernels/simd.hpp, so it measures the ISA ember
// was built for. On one thread also the bfloat16 peaks where the CPU has them: 12 chains of vdpbf16ps (AVX512_BF16,
// 4 flop per float lane) and tdpbf16ps into four AMX tiles (16 x 16 x 32 multiply-adds each).
// Run: ./build/bench/bench_peak (threads from OMP_NUM_THREADS).
#include <benchmark/benchmark.h>

#include <atomic>

#include <ember/core/parallel.hpp>
#include <ember/kernels/gemm_bf16.hpp>
#include <ember/kernels/simd.hpp>

namespace {
using V = ember::kernels::simd::Vec<float>;

float fma_chains(long iterations) {
    constexpr int kChains = 12;
    V acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = V::broadcast(static_cast<float>(i));
    const V a = V::broadcast(0.999999f), b = V::broadcast(1e-7f);
    for (long it = 0; it < iterations; ++it)
#pragma GCC unroll 12
        for (int i = 0; i < kChains; ++i) acc[i] = fma(acc[i], a, b);
    V sum = V::zero();
    for (int i = 0; i < kChains; ++i) sum = sum + acc[i];
    float out[V::width];
    sum.store(out);
    return out[0];
}

void BM_fma_peak(benchmark::State& state) {
    constexpr long kIterations = 20'000'000;
    int threads = 1;
    for (auto _ : state) {
        std::atomic<int> used{1};
        ember::parallel_region([&](int tid, int n) {
            if (tid == 0) used = n;
            benchmark::DoNotOptimize(fma_chains(kIterations));
        });
        threads = used;
    }
    const double flop = 2.0 * 12 * V::width * static_cast<double>(kIterations) * threads;
    state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["threads"] = threads;
    state.SetLabel(ember::kernels::simd::isa_name);
}
#ifdef EMBER_HAVE_BF16_KERNEL
__attribute__((target("avx512f,avx512bf16"))) float dpbf16_chains(long iterations) {
    __m512 acc[12];
    for (auto& x : acc) x = _mm512_setzero_ps();
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x33803380);
    for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
        for (auto& x : acc) x = _mm512_dpbf16_ps(x, a, b);
        asm volatile("" : "+v"(a));  // keeps the loop from being folded
    }
    float sum = 0;
    for (auto& x : acc) sum += _mm512_reduce_add_ps(x);
    return sum;
}

__attribute__((target("amx-tile,amx-bf16"))) void tdpbf16_chains(long iterations) {
    alignas(64) std::uint16_t ones[16 * 32];
    std::fill_n(ones, 16 * 32, std::uint16_t{0x3f80});
    ember::kernels::bf16_detail::amx_begin();
    asm volatile("" ::: "memory");  // the tile loads' intrinsics declare no memory input
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ones, 64);
    _tile_loadd(5, ones, 64);
    _tile_loadd(6, ones, 64);
    _tile_loadd(7, ones, 64);
    for (long it = 0; it < iterations; ++it) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    alignas(64) float out[16 * 16];
    _tile_stored(0, out, 64);
    ember::kernels::bf16_detail::amx_end();
    benchmark::DoNotOptimize(out[0]);
}
#endif

void BM_bf16_peak(benchmark::State& state) {  // one thread; skipped where the CPU lacks the unit
    const bool amx = state.range(0) == 1;
    if (amx ? !ember::kernels::cpu_has_amx_bf16() : !ember::kernels::cpu_has_bf16()) {
        state.SkipWithError(amx ? "no AMX-BF16" : "no AVX512_BF16");
        return;
    }
    const long iterations = amx ? 2'000'000 : 20'000'000;
    for (auto _ : state) {
#ifdef EMBER_HAVE_BF16_KERNEL
        if (amx) tdpbf16_chains(iterations);
        else benchmark::DoNotOptimize(dpbf16_chains(iterations));
#endif
    }
    // AMX: 4 tiles of 16 x 16 outputs, 32 multiply-adds each; vdpbf16ps: 12 chains of 16 lanes, 2 multiply-adds each
    const double per_iteration = amx ? 4.0 * 16 * 16 * 32 * 2 : 12.0 * 16 * 2 * 2;
    const double flop = per_iteration * static_cast<double>(iterations);
    state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(amx ? "AMX tdpbf16ps" : "AVX512_BF16 vdpbf16ps");
}
}  // namespace

BENCHMARK(BM_bf16_peak)->DenseRange(1, 2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fma_peak)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(false);
BENCHMARK_MAIN();
