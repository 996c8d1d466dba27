#include <catch2/catch.hpp>

#include <set>

#include <ember/data/loader.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// 10 images of 2x2x3 whose pixels all equal their index.
data::ImageSet numbered_set() {
    data::ImageSet set;
    set.height = 2;
    set.width = 2;
    set.class_names = {"a", "b"};
    for (int i = 0; i < 10; ++i)
        set.push_back(data::Image{2, 2, 3, std::vector<std::uint8_t>(12, static_cast<std::uint8_t>(i))}, i % 2, "img" + std::to_string(i));
    return set;
}
std::vector<int> epoch_order(data::BatchLoader& loader, int epoch) {
    std::vector<int> order;
    loader.start_epoch(epoch);
    data::Batch<float> b;
    while (loader.next(b))
        for (index_t k = 0; k < b.images.size(0); ++k) order.push_back(static_cast<int>(b.images(k, 0, 0, 0)));
    return order;
}
}  // namespace

TEST_CASE("BatchLoader cuts batches in order, keeps the last partial one, converts to float", "[data][loader]") {
    const auto set = numbered_set();
    data::BatchLoader loader(set, {0, 1, 2, 3, 4, 5, 6}, {.batch_size = 3});
    CHECK(loader.batches_per_epoch() == 3);
    loader.start_epoch(1);
    data::Batch<float> b;
    REQUIRE(loader.next(b));
    CHECK(b.images.shape() == Shape{3, 2, 2, 3});
    CHECK(b.labels == std::vector<std::int32_t>{0, 1, 0});
    REQUIRE(loader.next(b));
    REQUIRE(loader.next(b));
    CHECK(b.images.shape() == Shape{1, 2, 2, 3});
    CHECK(b.images(0, 1, 1, 2) == 6.0f);
    CHECK_FALSE(loader.next(b));
    CHECK(epoch_order(loader, 2) == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("shuffling gives a new permutation each epoch, the same for the same seed", "[data][loader]") {
    const auto set = numbered_set();
    std::vector<std::size_t> all(10);
    for (std::size_t i = 0; i < 10; ++i) all[i] = i;
    data::BatchLoader a(set, all, {.batch_size = 4, .shuffle = true, .seed = 5});
    data::BatchLoader b(set, all, {.batch_size = 4, .shuffle = true, .seed = 5, .prefetch = false});
    const auto e1 = epoch_order(a, 1), e2 = epoch_order(a, 2);
    CHECK(std::set<int>(e1.begin(), e1.end()).size() == 10);
    CHECK(e1 != e2);
    CHECK(epoch_order(b, 1) == e1);
    CHECK(epoch_order(b, 2) == e2);
}

TEST_CASE("the augmentation hook sees every image and is reproducible", "[data][loader]") {
    const auto set = numbered_set();
    data::LoaderOptions o{.batch_size = 4, .seed = 3};
    o.augment = [](float* img, int h, int w, int c, Generator& gen) {
        const float add = static_cast<float>(gen.below(100));
        for (int i = 0; i < h * w * c; ++i) img[i] += add * 1000;
    };
    data::BatchLoader a(set, {0, 1, 2, 3, 4}, o), b(set, {0, 1, 2, 3, 4}, o);
    CHECK(epoch_order(a, 1) == epoch_order(b, 1));
    CHECK(test::error_message<ValueError>([&] { data::BatchLoader(set, {0}, {.batch_size = 0}); }) ==
          "BatchLoader: batch size must be > 0, got 0");
    CHECK(test::error_message<IndexError>([&] { data::BatchLoader(set, {11}, {}); }) ==
          "BatchLoader: index 11 outside a set of 10 images");
}
