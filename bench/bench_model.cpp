// bench_model: the reference melanoma model: a training step (forward, backward, Adam) at batch 32, Adam's update
// alone, and inference at batch 1 and 32. Run: ./build/bench/bench_model --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ember/ember.hpp>

namespace {
using namespace ember;
namespace nn = ember::nn;

nn::Sequential<float> reference_model() {
    nn::Sequential<float> model{
        nn::Rescaling(1.0f / 255),
        nn::Conv2D(32, 5, nn::same, nn::relu), nn::Conv2D(32, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Dropout(0.25), nn::Flatten(), nn::Dense(9),
    };
    model.build({180, 180, 3}, 123);
    return model;
}

void BM_train_step(benchmark::State& state) {
    const index_t n = state.range(0);
    auto model = reference_model();
    optim::Adam<float> adam(model.parameters());
    Generator gen(2);
    auto x = Tensor<float>::uniform({n, 180, 180, 3}, 0, 255, gen);
    std::vector<std::int32_t> y(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int32_t>(i % 9);
    auto step = [&] {
        auto loss = nn::sparse_categorical_crossentropy(model(x), y);
        adam.zero_grad();
        loss.backward();
        adam.step();
        benchmark::DoNotOptimize(loss.data());
    };
    step();  // warm-up: the first step faults in every buffer the block cache then reuses
    for (auto _ : state) step();
    state.counters["images/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

/// Adam's update alone on the model's 460,585 parameters (gradients from one backward pass, reused), including
/// the global gradient norm step() records: its share of BM_train_step.
void BM_adam_step(benchmark::State& state) {
    auto model = reference_model();
    optim::Adam<float> adam(model.parameters());
    Generator gen(4);
    auto x = Tensor<float>::uniform({2, 180, 180, 3}, 0, 255, gen);
    const std::vector<std::int32_t> y{0, 1};
    nn::sparse_categorical_crossentropy(model(x), y).backward();
    adam.step();  // warm-up: allocates the moments
    for (auto _ : state) {
        adam.step();
        benchmark::DoNotOptimize(adam.last_gradient_norm());
    }
}

void BM_inference(benchmark::State& state) {
    const index_t n = state.range(0);
    auto model = reference_model();
    model.eval();
    Generator gen(3);
    auto x = Tensor<float>::uniform({n, 180, 180, 3}, 0, 255, gen);
    NoGradGuard no_grad;
    benchmark::DoNotOptimize(softmax(model(x)).data());  // warm-up
    for (auto _ : state) {
        auto p = softmax(model(x));
        benchmark::DoNotOptimize(p.data());
    }
    state.counters["images/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
}  // namespace

BENCHMARK(BM_train_step)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(8);
BENCHMARK(BM_adam_step)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_inference)->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
