// tests/train/toy_set.hpp - tiny labelled data for the train tests: an ImageSet of 24 noisy 6x6 RGB images of 2
// classes (bright left or right half) behind ImageDataset + DataLoader, and ToySource, a program's own BatchSource
// over 6x6x1 images of the same two classes; the small classifier and the fit options they are trained with.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include <ember/data/loader.hpp>
#include <ember/nn/nn.hpp>
#include <ember/train/fit.hpp>
#include <ember/vision/augment.hpp>
#include <ember/vision/image_dataset.hpp>
#include <ember/vision/image_folder.hpp>

namespace ember::test {
inline vision::ImageSet toy_image_set() {
    vision::ImageSet set;
    set.height = set.width = 6;
    set.class_names = {"a", "b"};
    Generator gen(3);
    for (int i = 0; i < 24; ++i) {
        vision::Image img{6, 6, 3, std::vector<std::uint8_t>(108)};
        for (int p = 0; p < 108; ++p)
            img.pixels[static_cast<std::size_t>(p)] =
                static_cast<std::uint8_t>(((p / 3) % 6 < 3) == (i % 2 == 0) ? 200 - gen.below(50) : gen.below(60));
        set.push_back(img, i % 2, "x");
    }
    return set;
}

/// The toy set's first 16 images, shuffled and augmented in batches of 5 (seed 9), and its last 8 for validation.
/// The datasets are members declared before the loaders, so they outlive them.
struct ToyLoaders {
    static std::vector<std::size_t> range(std::size_t from, std::size_t to) {
        std::vector<std::size_t> v(to - from);
        std::iota(v.begin(), v.end(), from);
        return v;
    }
    explicit ToyLoaders(const vision::ImageSet& set)
        : augmented(set, [](float* img, int h, int w, int c, Generator& g) { vision::random_augment(img, h, w, c, {}, g); }),
          plain(set),
          train(augmented, range(0, 16), {.batch_size = 5, .shuffle = true, .seed = 9}),
          val(plain, range(16, 24), {.batch_size = 5}) {}
    vision::ImageDataset augmented, plain;
    data::DataLoader<vision::ImageDataset> train, val;
};

/// A program's own in-memory BatchSource: n generated 6x6x1 images of 2 classes (bright left or right half, class
/// i % 2), in order, batches of 8; targets the class indices as floats [B].
struct ToySource : data::BatchSource<float> {
    Tensor<float> x, targets;
    std::vector<std::int32_t> y;
    index_t batch = 8, at = 0;
    ToySource(index_t n, std::uint64_t seed)
        : x(Tensor<float>::empty({n, 6, 6, 1})), targets(Tensor<float>::empty({n})), y(static_cast<std::size_t>(n)) {
        Generator gen(seed);
        for (index_t i = 0; i < n; ++i) {
            const int label = static_cast<int>(i % 2);
            y[static_cast<std::size_t>(i)] = label;
            targets.data()[i] = static_cast<float>(label);
            for (index_t r = 0; r < 6; ++r)
                for (index_t c = 0; c < 6; ++c)
                    x(i, r, c, 0) = ((c < 3) == (label == 0) ? 200.f : 30.f) + static_cast<float>(gen.uniform(-25, 25));
        }
    }
    [[nodiscard]] long batches_per_epoch() const override { return static_cast<long>((x.size(0) + batch - 1) / batch); }
    void start_epoch(int) override { at = 0; }
    bool next(data::Batch<float>& b) override {
        if (at >= x.size(0)) return false;
        const index_t end = std::min(at + batch, x.size(0));
        b.inputs = x.slice_rows(at, end);
        b.targets = targets.slice_rows(at, end);
        at = end;
        return true;
    }
};

/// A small classifier of 6x6x1 images into 2 classes.
inline nn::Sequential<float> toy_model(std::uint64_t seed = 3) {
    nn::Sequential<float> m{nn::Rescaling(1.0f / 255), nn::Conv2D(2, 3, nn::same, nn::relu), nn::Flatten(), nn::Dense(2)};
    m.build({6, 6, 1}, seed);
    return m;
}

/// Fit options for the toy's 2 classes: sparse categorical cross-entropy, accuracy and balanced accuracy, no log.
inline train::FitOptions<float> quiet_options(int epochs) {
    train::FitOptions<float> o{.epochs = epochs, .loss = nn::SparseCategoricalCrossentropy<float>{}};
    o.metrics = {train::accuracy<float>(), train::balanced_accuracy<float>()};
    o.log = nullptr;
    return o;
}

/// Whether two models hold the same weights, bit for bit.
inline bool same_weights(const nn::Module<float>& a, const nn::Module<float>& b) {
    const auto pa = a.parameters(), pb = b.parameters();
    if (pa.size() != pb.size()) return false;
    for (std::size_t p = 0; p < pa.size(); ++p)
        if (pa[p].to_vector() != pb[p].to_vector()) return false;
    return true;
}
}  // namespace ember::test
