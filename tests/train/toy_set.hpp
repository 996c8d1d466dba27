// tests/train/toy_set.hpp - a tiny labelled image set for the fit tests: 24 noisy 6x6 RGB images of 2 classes
// (bright left or right half).
#pragma once

#include <numeric>

#include <ember/vision/augment.hpp>
#include <ember/vision/image_folder.hpp>
#include <ember/vision/batch_loader.hpp>

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
struct ToyLoaders {
    static std::vector<std::size_t> range(std::size_t from, std::size_t to) {
        std::vector<std::size_t> v(to - from);
        std::iota(v.begin(), v.end(), from);
        return v;
    }
    static vision::LoaderOptions augmented() {
        vision::LoaderOptions lo{.batch_size = 5, .shuffle = true, .seed = 9};
        lo.augment = [](float* img, int h, int w, int c, Generator& g) { vision::random_augment(img, h, w, c, {}, g); };
        return lo;
    }
    explicit ToyLoaders(const vision::ImageSet& set)
        : train(set, range(0, 16), augmented()), val(set, range(16, 24), {.batch_size = 5}) {}
    vision::BatchLoader train, val;
};
}  // namespace ember::test
