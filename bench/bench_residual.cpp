// bench_residual: a small residual network (a ResNet-style stem, two residual blocks at 32 channels, a downsampling
// block to 64 and one residual block at 64, global average pooling, 9 classes) built with the functional API
// (nn::Input, nn::call, nn::Add, nn::Model): a training step (forward, backward, Adam) at batch 32, Adam's update
// alone, and inference at batch 1 and 32. bench/compare_pytorch.py --model residual times the same network in
// PyTorch. Run: ./build/bench/bench_residual --benchmark_counters_tabular=true
//
// There is no BM_inference_folded: nn::fold_batch_norm folds the normalizations of a Sequential, and this network,
// whose shortcuts make it a graph, is an nn::Model.
#include <benchmark/benchmark.h>

#include <ember/ember.hpp>

namespace {
using namespace ember;
namespace nn = ember::nn;

// 96x96x3 rather than bench_model's 180x180x3: the network has about 10 convolutions at 48x48 and 24x24, and at
// this size a training step of batch 32 stays well under a second on 2 cores, so every benchmark times many
// iterations in a few seconds.
constexpr index_t side = 96;
constexpr index_t classes = 9;

/// Conv2D (`strides`, 'same', no activation) then BatchNormalization: the unit every block is made of.
nn::Symbol<float> conv_bn(const nn::Symbol<float>& x, index_t filters, index_t kernel, index_t strides = 1) {
    return nn::call(nn::BatchNormalization(), nn::call(nn::Conv2D(filters, kernel, nn::same, nn::linear, strides), x));
}

/// [conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN] + shortcut -> ReLU. With `strides` 2 the block halves the image and
/// its shortcut is a strided 1x1 convolution with BN (the projection shortcut), else the identity.
nn::Symbol<float> residual_block(const nn::Symbol<float>& x, index_t filters, index_t strides = 1) {
    auto y = nn::call(nn::ReLU(), conv_bn(x, filters, 3, strides));
    y = conv_bn(y, filters, 3);
    const auto shortcut = strides == 1 ? x : conv_bn(x, filters, 1, strides);
    return nn::call(nn::ReLU(), nn::call(nn::Add(), {y, shortcut}));
}

nn::Model<float> residual_model() {
    auto in = nn::Input<float>({side, side, 3}, {.seed = 123});
    auto x = nn::call(nn::Rescaling(1.0f / 255), in);
    x = nn::call(nn::ReLU(), conv_bn(x, 32, 3, 2));
    x = residual_block(x, 32);
    x = residual_block(x, 32);
    x = residual_block(x, 64, 2);
    x = residual_block(x, 64);
    auto out = nn::call(nn::Dense(classes), nn::call(nn::GlobalAveragePooling2D(), x));
    return nn::Model<float>(in, out);
}

void BM_train_step(benchmark::State& state) {
    const index_t n = state.range(0);
    auto model = residual_model();
    optim::Adam<float> adam(model.parameters());
    Generator gen(2);
    auto x = Tensor<float>::uniform({n, side, side, 3}, 0, 255, gen);
    std::vector<std::int32_t> y(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int32_t>(i % classes);
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

/// Adam's update alone on the model's 170,825 parameters (gradients from one backward pass, reused), including the
/// global gradient norm step() records: its share of BM_train_step.
void BM_adam_step(benchmark::State& state) {
    auto model = residual_model();
    optim::Adam<float> adam(model.parameters());
    Generator gen(4);
    auto x = Tensor<float>::uniform({2, side, side, 3}, 0, 255, gen);
    const std::vector<std::int32_t> y{0, 1};
    nn::sparse_categorical_crossentropy(model(x), y).backward();
    adam.step();  // warm-up: allocates the moments
    for (auto _ : state) {
        adam.step();
        benchmark::DoNotOptimize(adam.last_gradient_norm());
    }
    state.counters["parameters"] = static_cast<double>(model.parameter_count());
}

void BM_inference(benchmark::State& state) {
    const index_t n = state.range(0);
    auto model = residual_model();
    model.eval();
    Generator gen(3);
    auto x = Tensor<float>::uniform({n, side, side, 3}, 0, 255, gen);
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
