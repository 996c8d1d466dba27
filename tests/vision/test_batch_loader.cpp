// Tests of ember/vision/batch_loader.hpp: batch cutting, per-epoch shuffles, the augmentation hook, errors.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <map>
#include <set>

#include <ember/vision/batch_loader.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// 10 images of 2x2x3 whose pixels all equal their index; label = index % 2.
vision::ImageSet numbered_set() {
    vision::ImageSet set;
    set.height = 2;
    set.width = 2;
    set.class_names = {"a", "b"};
    for (int i = 0; i < 10; ++i)
        set.push_back(vision::Image{2, 2, 3, std::vector<std::uint8_t>(12, static_cast<std::uint8_t>(i))}, i % 2, "img" + std::to_string(i));
    return set;
}
std::vector<int> epoch_order(vision::BatchLoader& loader, int epoch) {
    std::vector<int> order;
    loader.start_epoch(epoch);
    vision::Batch<float> b;
    while (loader.next(b))
        for (index_t k = 0; k < b.images.size(0); ++k) order.push_back(static_cast<int>(b.images(k, 0, 0, 0)));
    return order;
}
std::vector<std::size_t> iota(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = i;
    return v;
}
}  // namespace

TEST_CASE("BatchLoader cuts batches in order, keeps the last partial one, converts to float", "[data][loader]") {
    const auto set = numbered_set();
    vision::BatchLoader loader(set, {0, 1, 2, 3, 4, 5, 6}, {.batch_size = 3});
    CHECK(loader.batches_per_epoch() == 3);
    CHECK(loader.size() == 7);
    loader.start_epoch(1);
    vision::Batch<float> b;
    REQUIRE(loader.next(b));
    CHECK(b.images.shape() == Shape{3, 2, 2, 3});
    CHECK(b.labels == std::vector<std::int32_t>{0, 1, 0});
    REQUIRE(loader.next(b));
    REQUIRE(loader.next(b));
    CHECK(b.images.shape() == Shape{1, 2, 2, 3});
    CHECK(b.images(0, 1, 1, 2) == 6.0f);
    CHECK_FALSE(loader.next(b));
    CHECK(b.images.shape() == Shape{1, 2, 2, 3});  // untouched at the end
    CHECK(epoch_order(loader, 2) == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
    // a subset in a given order, exact multiple of the batch size
    vision::BatchLoader sub(set, {9, 2, 5, 4}, {.batch_size = 2, .prefetch = false});
    CHECK(sub.batches_per_epoch() == 2);
    CHECK(epoch_order(sub, 0) == std::vector<int>{9, 2, 5, 4});
    // no indices: no batches
    vision::BatchLoader none(set, {}, {.batch_size = 4});
    CHECK(none.batches_per_epoch() == 0);
    CHECK(epoch_order(none, 0).empty());
}

TEST_CASE("BatchLoader values are the cached bytes as floats 0..255", "[data][loader]") {
    vision::ImageSet set;
    set.height = 1;
    set.width = 2;
    set.class_names = {"x"};
    set.push_back(vision::Image{1, 2, 3, {0, 1, 2, 127, 254, 255}}, 0, "p");
    vision::BatchLoader loader(set, {0}, {.batch_size = 8});
    loader.start_epoch(0);
    vision::Batch<float> b;
    REQUIRE(loader.next(b));
    CHECK(std::vector<float>(b.images.data(), b.images.data() + 6) == std::vector<float>{0, 1, 2, 127, 254, 255});
}

TEST_CASE("shuffling gives a new permutation each epoch, the same for the same seed", "[data][loader]") {
    const auto set = numbered_set();
    vision::BatchLoader a(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 5});
    vision::BatchLoader b(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 5, .prefetch = false});
    vision::BatchLoader c(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 6});
    const auto e1 = epoch_order(a, 1), e2 = epoch_order(a, 2);
    CHECK(std::set<int>(e1.begin(), e1.end()).size() == 10);
    CHECK(e1 != e2);
    CHECK(epoch_order(b, 1) == e1);
    CHECK(epoch_order(b, 2) == e2);
    CHECK(epoch_order(c, 1) != e1);
    CHECK(epoch_order(a, 1) == e1);  // an epoch's order depends on (seed, epoch) only
    // the order accessor and the batches agree
    a.start_epoch(3);
    std::vector<int> from_order;
    for (auto i : a.order()) from_order.push_back(static_cast<int>(i));
    CHECK(epoch_order(a, 3) == from_order);
}

TEST_CASE("a range-for over loader.epoch(e) yields the same batches as next()", "[data][loader]") {
    const auto set = numbered_set();
    vision::BatchLoader loader(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 2});
    std::vector<int> seen;
    std::vector<index_t> sizes;
    for (auto& [images, labels] : loader.epoch(7)) {
        sizes.push_back(images.size(0));
        for (index_t k = 0; k < images.size(0); ++k) {
            seen.push_back(static_cast<int>(images(k, 0, 0, 0)));
            CHECK(labels[static_cast<std::size_t>(k)] == seen.back() % 2);
        }
    }
    CHECK(sizes == std::vector<index_t>{4, 4, 2});
    CHECK(seen == epoch_order(loader, 7));
}

TEST_CASE("the augmentation hook sees every image and is reproducible", "[data][loader]") {
    const auto set = numbered_set();
    vision::LoaderOptions o{.batch_size = 4, .shuffle = true, .seed = 3};
    std::atomic<int> calls{0}, wrong_size{0};  // counted, not CHECKed: the hook runs on the worker thread
    o.augment = [&calls, &wrong_size](float* img, int h, int w, int c, Generator& gen) {
        ++calls;
        if (h * w * c != 12) ++wrong_size;
        const float add = static_cast<float>(gen.below(1000));
        for (int i = 0; i < h * w * c; ++i) img[i] += add * 1000;
    };
    // per image, a function of (seed, epoch, image): the same with another batch size, without prefetching and
    // with several workers per batch
    auto augmented = [&](index_t batch, bool prefetch, int epoch, int workers = 1) {
        vision::LoaderOptions oo = o;
        oo.batch_size = batch;
        oo.prefetch = prefetch;
        oo.workers = workers;
        vision::BatchLoader loader(set, iota(10), oo);
        std::map<int, float> by_image;
        for (auto& b : loader.epoch(epoch))
            for (index_t k = 0; k < b.images.size(0); ++k) {
                const float v = b.images(k, 1, 1, 2);
                by_image[static_cast<int>(std::fmod(v, 1000.0f))] = v;
            }
        return by_image;
    };
    const auto a = augmented(4, true, 1);
    CHECK(a.size() == 10);
    CHECK(calls == 10);
    CHECK(wrong_size == 0);
    CHECK(augmented(3, false, 1) == a);
    calls = 0;
    CHECK(augmented(4, true, 1, 3) == a);  // batches of 4 cut in shares of 1, 1 and 2
    CHECK(augmented(3, false, 1, 8) == a);  // more workers than images in a batch
    CHECK(calls == 20);
    CHECK(augmented(4, true, 2) != a);
}

TEST_CASE("several workers cut the same batches: order, pixels and labels", "[data][loader]") {
    const auto set = numbered_set();
    for (const int workers : {2, 3, 8}) {
        for (const bool prefetch : {true, false}) {
            vision::BatchLoader one(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 5});
            vision::BatchLoader many(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 5, .prefetch = prefetch, .workers = workers});
            for (int epoch : {0, 1}) {
                one.start_epoch(epoch);
                many.start_epoch(epoch);
                vision::Batch<float> a, b;
                while (one.next(a)) {
                    REQUIRE(many.next(b));
                    CHECK(a.images.to_vector() == b.images.to_vector());
                    CHECK(a.labels == b.labels);
                }
                CHECK_FALSE(many.next(b));
            }
        }
    }
}

TEST_CASE("BatchLoader errors", "[data][loader][errors]") {
    const auto set = numbered_set();
    CHECK(test::error_message<ValueError>([&] { vision::BatchLoader(set, {0}, {.batch_size = 0}); }) ==
          "BatchLoader: batch size must be > 0, got 0");
    CHECK(test::error_message<IndexError>([&] { vision::BatchLoader(set, {11}, {}); }) ==
          "BatchLoader: index 11 outside a set of 10 images");
    CHECK(test::error_message<ValueError>([&] { vision::BatchLoader(set, {0}, {.workers = 0}); }) ==
          "BatchLoader: workers must be > 0, got 0");
    for (int workers : {1, 2}) {
        vision::LoaderOptions o{.batch_size = 2, .workers = workers};
        o.augment = [](float*, int, int, int, Generator&) { throw ValueError("augment failed"); };
        vision::BatchLoader loader(set, iota(4), o);
        loader.start_epoch(0);
        vision::Batch<float> b;
        CHECK(test::error_message<ValueError>([&] { loader.next(b); }) == "augment failed");
    }
    // a throw in the second worker's share only (image 1 of the first batch) is rethrown too
    vision::LoaderOptions o{.batch_size = 2, .prefetch = false, .workers = 2};
    o.augment = [](float* img, int, int, int, Generator&) {
        if (img[0] == 1.0f) throw ValueError("image 1 is bad");
    };
    vision::BatchLoader loader(set, iota(4), o);
    loader.start_epoch(0);
    vision::Batch<float> b;
    CHECK(test::error_message<ValueError>([&] { loader.next(b); }) == "image 1 is bad");
}
