// bench_kernels: the pieces under the convolutions, in GFLOP/s or GB/s: the packed GEMM against Eigen on the
// im2col shapes of the reference model, an im2col tile, max-pool forward/backward at pool1's shape, and a 3x3
// depthwise convolution forward/backward at a MobileNet block's shape.
// Single-threaded (GEMM and im2col run on the calling thread inside ember's parallel loops); max-pool and the
// depthwise convolution use OMP_NUM_THREADS. Run: ./build/bench/bench_kernels --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <ember/ember.hpp>
#include <ember/kernels/gemm_bf16.hpp>

namespace {
using namespace ember;

// [M, K] x [K, N] of conv2, conv3 and conv4 for one image (M = output pixels, K = 5*5*C, N = filters), then the
// dense layer at batch 1 and 32 (K = 22*22*64, N = 9 classes: gemm() sends it to Eigen, see gemm.hpp).
struct GemmShape { index_t m, k, n; };
constexpr GemmShape kShapes[] = {{32400, 800, 32}, {8100, 800, 64}, {2025, 1600, 64}, {1, 30976, 9}, {32, 30976, 9}};

void gemm(benchmark::State& state, bool eigen) {
    const auto s = kShapes[state.range(0)];
    Generator gen(1);
    auto a = Tensor<float>::uniform({s.m, s.k}, -1, 1, gen), b = Tensor<float>::uniform({s.k, s.n}, -1, 1, gen);
    auto c = Tensor<float>::empty({s.m, s.n});
    for (auto _ : state) {
        if (eigen)
            kernels::gemm_eigen(false, false, s.m, s.n, s.k, 1.0f, a.data(), s.k, b.data(), s.n, 0.0f, c.data(), s.n);
        else  // the packed path itself, packing included, as gemm() runs it for N > NR / 2
            kernels::gemm_packed(false, s.m, a.data(), s.k, kernels::PackedB<float>(false, b.data(), s.n, s.k, s.n),
                                 false, c.data(), s.n);
        benchmark::DoNotOptimize(c.data());
    }
    const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
    state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(eigen ? "eigen" : "packed");
}
void BM_gemm_packed(benchmark::State& s) { gemm(s, false); }

// The bfloat16 GEMM on AMX tiles (second argument 1) or vdpbf16ps (2), packing and rounding of both operands
// included, on the same shapes: the ratio to BM_gemm_packed is what bf16 buys a GEMM. Skipped where the CPU lacks
// the unit.
void BM_gemm_bf16(benchmark::State& state) {
    const auto s = kShapes[state.range(0)];
    const auto unit = state.range(1) == 1 ? kernels::Bf16Unit::amx : kernels::Bf16Unit::avx512;
    if (unit == kernels::Bf16Unit::amx ? !kernels::cpu_has_amx_bf16() : !kernels::cpu_has_bf16()) {
        state.SkipWithError(unit == kernels::Bf16Unit::amx ? "no AMX-BF16" : "no AVX512_BF16");
        return;
    }
    Generator gen(1);
    auto a = Tensor<float>::uniform({s.m, s.k}, -1, 1, gen), b = Tensor<float>::uniform({s.k, s.n}, -1, 1, gen);
    auto c = Tensor<float>::empty({s.m, s.n});
    for (auto _ : state) {
        kernels::gemm_bf16(false, false, s.m, s.n, s.k, a.data(), s.k, b.data(), s.n, false, c.data(), s.n, unit);
        benchmark::DoNotOptimize(c.data());
    }
    const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
    state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(unit == kernels::Bf16Unit::amx ? "AMX" : "vdpbf16ps");
}
void BM_gemm_eigen(benchmark::State& s) { gemm(s, true); }

void BM_im2col_tile(benchmark::State& state) {  // conv2's geometry, one 1 MiB tile as the im2col path uses
    const auto g = kernels::Conv2DGeometry::make(1, 180, 180, 32, 5, 5, 32, 1, 1, kernels::Padding::same);
    const index_t tile = g.tile_pixels(sizeof(float), 1024);
    Generator gen(2);
    auto x = Tensor<float>::uniform({1, 180, 180, 32}, -1, 1, gen);
    std::vector<float> col(static_cast<std::size_t>(tile * g.patch()));
    index_t p0 = 0;
    for (auto _ : state) {
        kernels::im2col_tile(g, x.data(), p0, p0 + tile, col.data());
        benchmark::DoNotOptimize(col.data());
        p0 = (p0 + tile) % (g.out_pixels() - tile);
    }
    const double bytes = static_cast<double>(col.size() * sizeof(float));
    state.counters["GB/s written"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_max_pool(benchmark::State& state) {  // pool1: [32, 180, 180, 32] -> [32, 90, 90, 32]
    const bool backward = state.range(0) != 0;
    const auto g = kernels::Pool2DGeometry::make(32, 180, 180, 32, 2, 2, 2, 2);
    Generator gen(3);
    auto x = Tensor<float>::uniform({32, 180, 180, 32}, -1, 1, gen);
    auto y = Tensor<float>::empty({32, 90, 90, 32});
    auto dx = Tensor<float>::zeros(x.shape());
    std::vector<std::int32_t> argmax(static_cast<std::size_t>(y.numel()));
    kernels::max_pool2d_forward(g, x.data(), y.data(), argmax.data());
    for (auto _ : state) {
        if (backward)
            kernels::max_pool2d_backward(g, y.data(), argmax.data(), dx.data());
        else
            kernels::max_pool2d_forward(g, x.data(), y.data(), argmax.data());
        benchmark::DoNotOptimize(y.data());
    }
    const double bytes = static_cast<double>((x.numel() + 2 * y.numel()) * 4);  // the big side, the small side, argmax
    state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(backward ? "backward" : "forward");
}
void BM_depthwise_conv(benchmark::State& state) {  // a MobileNet block's 3x3 depthwise step: [8, 56, 56, 64]
    const bool backward = state.range(0) != 0;
    const auto g = kernels::DepthwiseConv2DGeometry::make(8, 56, 56, 64, 3, 3, 1, 1, 1, kernels::Padding::same);
    Generator gen(4);
    auto x = Tensor<float>::uniform({8, 56, 56, 64}, -1, 1, gen);
    auto w = Tensor<float>::uniform({3, 3, 64, 1}, -1, 1, gen);
    auto b = Tensor<float>::zeros({64}), y = Tensor<float>::empty(x.shape());
    auto dx = Tensor<float>::zeros(x.shape()), dw = Tensor<float>::zeros(w.shape()), db = Tensor<float>::zeros({64});
    for (auto _ : state) {
        if (backward)
            kernels::depthwise_conv2d_backward(g, x.data(), w.data(), y.data(), nullptr, dx.data(), dw.data(),
                                               db.data());
        else
            kernels::depthwise_conv2d_forward(g, x.data(), w.data(), b.data(), true, y.data());
        benchmark::DoNotOptimize(y.data());
    }
    const double flop = 2.0 * 9 * static_cast<double>(y.numel()) * (backward ? 2 : 1);  // dx and dw
    state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(backward ? "backward" : "forward");
}
}  // namespace

BENCHMARK(BM_gemm_packed)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_gemm_bf16)->ArgsProduct({{0, 1, 2}, {1, 2}})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_gemm_eigen)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_im2col_tile)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_max_pool)->DenseRange(0, 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_depthwise_conv)->DenseRange(0, 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
