// bench_conv: each reference-model convolution (batch 32 unless given), forward and backward, in GFLOP/s.
// Run: ./build/bench/bench_conv --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ember/ember.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace {
using namespace ember;

struct Layer { const char* name; index_t hw, c, k; };
constexpr Layer kLayers[] = {{"conv1", 180, 3, 32}, {"conv2", 180, 32, 32}, {"conv3", 90, 32, 64}, {"conv4", 45, 64, 64}};

enum class Pass { forward, forward_mask, backward };

void conv(benchmark::State& state, Pass pass) {
    const bool backward = pass == Pass::backward;
    const Layer& l = kLayers[state.range(0)];
    const index_t n = state.range(1);
    Generator gen(1);
    auto x = Tensor<float>::uniform({n, l.hw, l.hw, l.c}, -1, 1, gen);
    auto w = Tensor<float>::uniform({5, 5, l.c, l.k}, -0.1f, 0.1f, gen);
    auto b = Tensor<float>::zeros({l.k});
    const auto g = kernels::Conv2DGeometry::make(n, l.hw, l.hw, l.c, 5, 5, l.k, 1, 1, Padding::same);
    const auto algo = static_cast<kernels::ConvAlgo>(state.range(2));
    auto y = Tensor<float>::empty({n, g.oh, g.ow, l.k});
    auto dy = Tensor<float>::uniform(y.shape(), -1, 1, gen);
    auto dx = Tensor<float>::zeros(x.shape()), dw = Tensor<float>::zeros(w.shape()), db = Tensor<float>::zeros({l.k});
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), true, y.data(), algo);  // the ReLU mask for backward
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(y.numel()));
    kernels::relu_mask(y.data(), y.numel(), mask.data());
    for (auto _ : state) {
        if (backward)  // as in training: conv1's input needs no gradient
            kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), mask.data(), l.c == 3 ? nullptr : dx.data(),
                                     dw.data(), db.data(), algo);
        else  // forward_mask: as in training, the ReLU mask written in the same pass
            kernels::conv2d_forward(g, x.data(), w.data(), b.data(), true, y.data(), algo,
                                    pass == Pass::forward_mask ? mask.data() : nullptr);
        benchmark::DoNotOptimize(y.data());
    }
    const double flop = 2.0 * static_cast<double>(n * g.oh * g.ow) * static_cast<double>(g.patch() * l.k) *
                        (backward ? (l.c == 3 ? 1.0 : 2.0) : 1.0);
    state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["images/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
    const char* algos[] = {"auto", "im2col", "implicit", "winograd"};
    state.SetLabel(std::string(l.name) + " " + algos[state.range(2)]);
}

void BM_conv_forward(benchmark::State& s) { conv(s, Pass::forward); }
void BM_conv_forward_mask(benchmark::State& s) { conv(s, Pass::forward_mask); }
void BM_conv_backward(benchmark::State& s) { conv(s, Pass::backward); }
}  // namespace

// Arguments: layer (0-3 = conv1-conv4), batch, algorithm (0 automatic, 1 im2col, 2 implicit, 3 winograd).
BENCHMARK(BM_conv_forward)->ArgsProduct({{0, 1, 2, 3}, {32}, {1, 2, 3}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_conv_forward_mask)->ArgsProduct({{0, 1, 2, 3}, {32}, {2}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_conv_backward)->ArgsProduct({{0, 1, 2, 3}, {32}, {1, 2, 3}})->Unit(benchmark::kMillisecond)->UseRealTime();
// Batch 1 (inference latency): each image's rows split over the threads.
BENCHMARK(BM_conv_forward)->ArgsProduct({{0, 1, 2, 3}, {1}, {2, 3}})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_MAIN();
