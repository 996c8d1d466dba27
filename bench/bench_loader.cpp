// bench_loader: assembling one training batch of the melanoma recipe (32 images of 180x180x3 from the byte cache,
// Keras' flip/rotation/zoom per image) with 1, 2, 4 and 8 loader workers, prefetching off so the time is the
// batch's own. Run: ./build/bench/bench_loader --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ember/data/loader.hpp>
#include <ember/vision/augment.hpp>
#include <ember/vision/image_dataset.hpp>

namespace {
using namespace ember;

vision::ImageSet random_set(int n) {
    vision::ImageSet set;
    set.height = set.width = 180;
    set.class_names = {"a"};
    Generator gen(5);
    for (int i = 0; i < n; ++i) {
        std::vector<std::uint8_t> px(180 * 180 * 3);
        for (auto& p : px) p = static_cast<std::uint8_t>(gen.below(256));
        set.push_back(vision::Image{180, 180, 3, std::move(px)}, 0, "img" + std::to_string(i));
    }
    return set;
}

void BM_batch_flip_rotate_zoom(benchmark::State& state) {
    static const vision::ImageSet set = random_set(64);
    std::vector<std::size_t> indices(set.size());
    for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = i;
    static const vision::ImageDataset augmented(set, [](float* img, int h, int w, int c, Generator& gen) {
        vision::random_augment(img, h, w, c, vision::AugmentOptions{}, gen);
    });
    data::DataLoader loader(augmented, indices,
                            {.batch_size = 32, .shuffle = true, .seed = 1, .prefetch = false,
                             .workers = static_cast<int>(state.range(0))});
    int epoch = 0;
    loader.start_epoch(epoch);
    data::Batch<float> batch;
    for (auto _ : state) {
        if (!loader.next(batch)) {
            loader.start_epoch(++epoch);
            loader.next(batch);
        }
        benchmark::DoNotOptimize(batch.inputs.data());
    }
    state.counters["images/s"] = benchmark::Counter(32.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_batch_flip_rotate_zoom)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
}  // namespace

BENCHMARK_MAIN();
