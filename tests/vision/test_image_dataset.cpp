// Tests of ember/vision/image_dataset.hpp: an ImageSet as a Dataset - the cached bytes as floats 0..255, the class
// index as target, the augmentation hook - and batched by data::DataLoader.
#include <catch2/catch.hpp>

#include <atomic>
#include <type_traits>

#include <ember/data/loader.hpp>
#include <ember/nn/loss.hpp>
#include <ember/vision/image_dataset.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// 10 images of 2x3x3 whose bytes all equal their index; label = index % 2.
vision::ImageSet numbered_set() {
    vision::ImageSet set;
    set.height = 2;
    set.width = 3;
    set.class_names = {"a", "b"};
    for (int i = 0; i < 10; ++i)
        set.push_back(vision::Image{2, 3, 3, std::vector<std::uint8_t>(18, static_cast<std::uint8_t>(i))}, i % 2,
                      "img" + std::to_string(i));
    return set;
}
}  // namespace

static_assert(!std::is_constructible_v<vision::ImageDataset, vision::ImageSet&&>,
              "a dataset over a temporary image set would dangle");

TEST_CASE("ImageDataset: images [H, W, 3] as floats 0..255, the class index as target", "[vision][dataset]") {
    vision::ImageSet set;
    set.height = 1;
    set.width = 2;
    set.class_names = {"x", "y"};
    set.push_back(vision::Image{1, 2, 3, {0, 1, 2, 127, 254, 255}}, 1, "p");
    const vision::ImageDataset ds(set);
    CHECK(ds.size() == 1);
    CHECK(ds.input_shape() == Shape{1, 2, 3});
    CHECK(ds.target_shape() == Shape{});
    CHECK(&ds.images() == &set);
    float image[6], target = -1;
    Generator gen(1);
    ds.get(0, image, &target, gen);
    CHECK(std::vector<float>(image, image + 6) == std::vector<float>{0, 1, 2, 127, 254, 255});
    CHECK(target == 1.0f);
}

TEST_CASE("DataLoader over an ImageDataset: batches [B, H, W, 3], labels as class indices", "[vision][dataset]") {
    const auto set = numbered_set();
    const vision::ImageDataset ds(set);
    data::DataLoader loader(ds, {9, 2, 5, 4, 7}, {.batch_size = 2});
    loader.start_epoch(0);
    data::Batch<float> b;
    std::vector<std::int32_t> labels;
    std::vector<float> firsts;
    while (loader.next(b)) {
        CHECK(b.inputs.shape() == Shape{b.size(), 2, 3, 3});
        CHECK(b.targets.shape() == Shape{b.size()});
        for (auto l : nn::class_indices(b.targets)) labels.push_back(l);
        for (index_t k = 0; k < b.size(); ++k) {
            firsts.push_back(b.inputs(k, 0, 0, 0));
            CHECK(b.inputs(k, 1, 2, 2) == b.inputs(k, 0, 0, 0));
        }
    }
    CHECK(firsts == std::vector<float>{9, 2, 5, 4, 7});
    CHECK(labels == std::vector<std::int32_t>{1, 0, 1, 0, 1});
}

TEST_CASE("the augmentation hook sees every image with its dimensions and the loader's per-image generator",
          "[vision][dataset]") {
    const auto set = numbered_set();
    std::atomic<int> calls{0}, wrong_size{0};  // counted, not CHECKed: the hook runs on loader threads
    const vision::ImageDataset ds(set, [&calls, &wrong_size](float* img, int h, int w, int c, Generator& gen) {
        ++calls;
        if (h != 2 || w != 3 || c != 3) ++wrong_size;
        const float add = static_cast<float>(gen.below(1000));
        for (int i = 0; i < h * w * c; ++i) img[i] += add * 1000;
    });
    std::vector<std::size_t> all(10);
    for (std::size_t i = 0; i < 10; ++i) all[i] = i;
    data::DataLoader loader(ds, all, {.batch_size = 4, .shuffle = true, .seed = 3, .workers = 2});
    int seen = 0;
    for (auto& [images, targets] : loader.epoch(2))
        for (index_t k = 0; k < images.size(0); ++k) {
            ++seen;
            const float v = images(k, 1, 1, 2);
            const auto i = static_cast<std::size_t>(static_cast<int>(v) % 1000);
            CHECK(targets.data()[k] == static_cast<float>(i % 2));  // the label, never augmented
            Generator gen(data::detail::mix_seed(3, 2, i));
            CHECK(v == static_cast<float>(i) + static_cast<float>(gen.below(1000)) * 1000);
        }
    CHECK(seen == 10);
    CHECK(calls == 10);
    CHECK(wrong_size == 0);
    // what the hook throws reaches the caller of next()
    const vision::ImageDataset failing(set, [](float*, int, int, int, Generator&) { throw ValueError("augment failed"); });
    data::DataLoader bad(failing, {0, 1}, {.batch_size = 2});
    bad.start_epoch(0);
    data::Batch<float> b;
    CHECK(test::error_message<ValueError>([&] { bad.next(b); }) == "augment failed");
}
