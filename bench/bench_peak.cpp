// bench_peak: this machine's single-precision FMA peak, the yardstick for every GFLOP/s figure in
// docs/performance.md: each thread runs 12 independent chains of vector FMAs (enough to cover the FMA latency on
// two ports) in registers, with no memory traffic. Written with kernels/simd.hpp, so it measures the ISA ember
// was built for. Run: ./build/bench/bench_peak (threads from OMP_NUM_THREADS).
#include <benchmark/benchmark.h>

#include <atomic>

#include <ember/core/parallel.hpp>
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
}  // namespace

BENCHMARK(BM_fma_peak)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(false);
BENCHMARK_MAIN();
