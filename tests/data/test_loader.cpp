// Tests of ember/data/dataset.hpp and ember/data/loader.hpp: TensorDataset (shapes, samples, transform, errors), and
// DataLoader over any Dataset - batch cutting, per-epoch shuffles from the seed, the per-sample generator keyed by
// (seed, epoch, index) whatever the batch size, workers or prefetching, and errors.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <type_traits>

#include <ember/data/dataset.hpp>
#include <ember/data/loader.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
using Numbered = data::TensorDataset<float>;

/// 10 samples [2, 3] whose values all equal their index, target = index % 2; `transform` on their inputs.
Numbered numbered_set(data::SampleTransform<float> transform = {}) {
    auto x = Tensor<float>::empty({10, 2, 3});
    auto y = Tensor<float>::empty({10});
    for (index_t i = 0; i < 10; ++i) {
        for (index_t k = 0; k < 6; ++k) x.data()[i * 6 + k] = static_cast<float>(i);
        y.data()[i] = static_cast<float>(i % 2);
    }
    return Numbered(x, y, std::move(transform));
}
std::vector<int> epoch_order(data::DataLoader<Numbered>& loader, int epoch) {
    std::vector<int> order;
    loader.start_epoch(epoch);
    data::Batch<float> b;
    while (loader.next(b))
        for (index_t k = 0; k < b.size(); ++k) order.push_back(static_cast<int>(b.inputs(k, 0, 0)));
    return order;
}
std::vector<std::size_t> iota(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = i;
    return v;
}

/// A Dataset of one's own, in double: sample i is input [i, -i], target [i * i, 1] plus a draw from its generator.
struct Squares {
    using value_type = double;
    [[nodiscard]] std::size_t size() const { return 5; }
    [[nodiscard]] Shape input_shape() const { return {2}; }
    [[nodiscard]] Shape target_shape() const { return {2}; }
    void get(std::size_t i, double* input, double* target, Generator& gen) const {
        const auto v = static_cast<double>(i);
        input[0] = v;
        input[1] = -v;
        target[0] = v * v;
        target[1] = 1 + static_cast<double>(gen.below(100)) / 1000;
    }
};
}  // namespace

static_assert(data::Dataset<data::TensorDataset<float>> && data::Dataset<data::TensorDataset<double>> &&
              data::Dataset<Squares>);
static_assert(!std::is_constructible_v<data::DataLoader<Numbered>, Numbered&&, data::LoaderOptions> &&
                  !std::is_constructible_v<data::DataLoader<Numbered>, Numbered&&, std::vector<std::size_t>,
                                           data::LoaderOptions>,
              "a loader over a temporary dataset would dangle");
static_assert(std::is_constructible_v<data::DataLoader<Numbered>, const Numbered&, std::vector<std::size_t>,
                                      data::LoaderOptions>);

TEST_CASE("TensorDataset: the rows of two tensors, shared, optionally transformed", "[data][dataset]") {
    auto x = Tensor<float>::from_data({3, 2}, {1, 2, 3, 4, 5, 6});
    auto y = Tensor<float>::from_data({3, 1}, {7, 8, 9});
    const data::TensorDataset<float> set(x, y);
    CHECK(set.size() == 3);
    CHECK(set.input_shape() == Shape{2});
    CHECK(set.target_shape() == Shape{1});
    CHECK(data::TensorDataset<float>(x, Tensor<float>::from_data({3}, {0, 1, 0})).target_shape() == Shape{});
    float in[2], out[1];
    Generator gen(1);
    set.get(1, in, out, gen);
    CHECK(in[0] == 3);
    CHECK(in[1] == 4);
    CHECK(out[0] == 8);
    x.data()[4] = 50;  // the tensors are shared, not copied
    set.get(2, in, out, gen);
    CHECK(in[0] == 50);
    // the transform changes the copy (never the tensor), with the sample's shape and generator
    const data::TensorDataset<float> shifted(x, y, [](float* v, const Shape& shape, Generator& g) {
        CHECK(shape == Shape{2});
        v[0] += static_cast<float>(g.below(10)) + 100;
    });
    Generator g1(5), g2(5);
    shifted.get(0, in, out, g1);
    CHECK(in[0] == 101 + static_cast<float>(g2.below(10)));
    CHECK(x.data()[0] == 1);
    CHECK(out[0] == 7);
    // a batch's size is its first extent; a default batch has none
    CHECK(data::Batch<float>{}.size() == 0);
}

TEST_CASE("TensorDataset refuses tensors without a common first extent", "[data][dataset][errors]") {
    const auto x = Tensor<float>::zeros({4, 3});
    CHECK(test::error_message<ShapeError>([&] { data::TensorDataset<float>(x, Tensor<float>::zeros({5})); }) ==
          "TensorDataset: inputs [4, 3] and targets [5] must have the same first extent");
    CHECK_THROWS_AS(data::TensorDataset<float>(x, Tensor<float>::scalar(1)), ShapeError);
    CHECK(test::error_message<ShapeError>([&] { data::TensorDataset<float>(x, Tensor<float>{}); }) ==
          "TensorDataset: targets undefined (a default-constructed Tensor)");
    CHECK(test::error_message<ShapeError>([&] { data::TensorDataset<float>(Tensor<float>{}, x); }) ==
          "TensorDataset: inputs undefined (a default-constructed Tensor)");
}

TEST_CASE("DataLoader cuts batches in order and keeps the last partial one", "[data][loader]") {
    const auto set = numbered_set();
    data::DataLoader loader(set, {0, 1, 2, 3, 4, 5, 6}, {.batch_size = 3});
    CHECK(loader.batches_per_epoch() == 3);
    CHECK(loader.size() == 7);
    CHECK(&loader.dataset() == &set);
    loader.start_epoch(1);
    data::Batch<float> b;
    REQUIRE(loader.next(b));
    CHECK(b.inputs.shape() == Shape{3, 2, 3});
    CHECK(b.targets.shape() == Shape{3});
    CHECK(b.targets.to_vector() == std::vector<float>{0, 1, 0});
    REQUIRE(loader.next(b));
    REQUIRE(loader.next(b));
    CHECK(b.inputs.shape() == Shape{1, 2, 3});
    CHECK(b.inputs(0, 1, 2) == 6.0f);
    CHECK_FALSE(loader.next(b));
    CHECK(b.inputs.shape() == Shape{1, 2, 3});  // untouched at the end
    CHECK(epoch_order(loader, 2) == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
    // a subset in a given order, exact multiple of the batch size
    data::DataLoader sub(set, {9, 2, 5, 4}, {.batch_size = 2, .prefetch = false});
    CHECK(sub.batches_per_epoch() == 2);
    CHECK(epoch_order(sub, 0) == std::vector<int>{9, 2, 5, 4});
    // every sample by default; no indices: no batches
    data::DataLoader all(set, {.batch_size = 4});
    CHECK(all.batches_per_epoch() == 3);
    CHECK(epoch_order(all, 0) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    data::DataLoader none(set, {}, {.batch_size = 4});
    CHECK(none.batches_per_epoch() == 0);
    CHECK(epoch_order(none, 0).empty());
}

TEST_CASE("shuffling gives a new permutation each epoch, a function of (seed, epoch) only", "[data][loader]") {
    const auto set = numbered_set();
    data::DataLoader a(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 5});
    data::DataLoader b(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 5, .prefetch = false});
    data::DataLoader c(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 6});
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
    // the order is a Fisher-Yates shuffle drawn from Generator(mix_seed(seed, epoch, "SHUFF")), as runs made with
    // earlier versions drew it: their seeds give the same orders
    std::vector<int> expected{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    Generator gen(data::detail::mix_seed(5, 2, 0x5348554646ULL));
    for (std::size_t i = expected.size(); i-- > 1;) std::swap(expected[i], expected[gen.below(i + 1)]);
    CHECK(e2 == expected);
}

TEST_CASE("a range-for over loader.epoch(e) yields the same batches as next()", "[data][loader]") {
    const auto set = numbered_set();
    data::DataLoader loader(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 2});
    std::vector<int> seen;
    std::vector<index_t> sizes;
    for (auto& [inputs, targets] : loader.epoch(7)) {
        sizes.push_back(inputs.size(0));
        for (index_t k = 0; k < inputs.size(0); ++k) {
            seen.push_back(static_cast<int>(inputs(k, 0, 0)));
            CHECK(static_cast<int>(targets.data()[k]) == seen.back() % 2);
        }
    }
    CHECK(sizes == std::vector<index_t>{4, 4, 2});
    CHECK(seen == epoch_order(loader, 7));
}

TEST_CASE("each sample draws from a generator keyed by (seed, epoch, index), whatever the batching", "[data][loader]") {
    std::atomic<int> calls{0}, wrong_shape{0};  // counted, not CHECKed: the transform runs on loader threads
    const auto set = numbered_set([&calls, &wrong_shape](float* v, const Shape& shape, Generator& gen) {
        ++calls;
        if (shape != Shape{2, 3}) ++wrong_shape;
        const float add = static_cast<float>(gen.below(1000));
        for (int i = 0; i < 6; ++i) v[i] += add * 1000;
    });
    // per sample, a function of (seed, epoch, index): the same with another batch size, without prefetching and
    // with several workers per batch
    auto transformed = [&](index_t batch, bool prefetch, int epoch, int workers = 1) {
        data::DataLoader loader(set, iota(10),
                                {.batch_size = batch, .shuffle = true, .seed = 3, .prefetch = prefetch, .workers = workers});
        std::map<int, float> by_sample;
        for (auto& b : loader.epoch(epoch))
            for (index_t k = 0; k < b.size(); ++k) {
                const float v = b.inputs(k, 1, 2);
                by_sample[static_cast<int>(std::fmod(v, 1000.0f))] = v;
            }
        return by_sample;
    };
    const auto a = transformed(4, true, 1);
    CHECK(a.size() == 10);
    CHECK(calls == 10);
    CHECK(wrong_shape == 0);
    CHECK(transformed(3, false, 1) == a);
    calls = 0;
    CHECK(transformed(4, true, 1, 3) == a);  // batches of 4 cut in shares of 1, 1 and 2
    CHECK(transformed(3, false, 1, 8) == a);  // more workers than samples in a batch
    CHECK(calls == 20);
    CHECK(transformed(4, true, 2) != a);
    // the generator is Generator(mix_seed(seed, epoch, index)), as earlier versions seeded it
    for (int i = 0; i < 10; ++i) {
        Generator gen(data::detail::mix_seed(3, 1, static_cast<std::uint64_t>(i)));
        CHECK(a.at(i) == static_cast<float>(i) + static_cast<float>(gen.below(1000)) * 1000);
    }
}

TEST_CASE("several workers cut the same batches: order, inputs and targets", "[data][loader]") {
    const auto set = numbered_set();
    for (const int workers : {2, 3, 8}) {
        for (const bool prefetch : {true, false}) {
            data::DataLoader one(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 5});
            data::DataLoader many(set, iota(10), {.batch_size = 4, .shuffle = true, .seed = 5, .prefetch = prefetch, .workers = workers});
            for (int epoch : {0, 1}) {
                one.start_epoch(epoch);
                many.start_epoch(epoch);
                data::Batch<float> a, b;
                while (one.next(a)) {
                    REQUIRE(many.next(b));
                    CHECK(a.inputs.to_vector() == b.inputs.to_vector());
                    CHECK(a.targets.to_vector() == b.targets.to_vector());
                }
                CHECK_FALSE(many.next(b));
            }
        }
    }
}

TEST_CASE("DataLoader batches a Dataset of one's own, in double, with vector targets", "[data][loader]") {
    const Squares squares;
    data::DataLoader loader(squares, {.batch_size = 2, .shuffle = true, .seed = 1, .workers = 2});
    loader.start_epoch(4);
    data::Batch<double> b;
    std::set<int> seen;
    while (loader.next(b)) {
        CHECK(b.inputs.shape() == Shape{b.size(), 2});
        CHECK(b.targets.shape() == Shape{b.size(), 2});
        for (index_t k = 0; k < b.size(); ++k) {
            const double v = b.inputs(k, 0);
            seen.insert(static_cast<int>(v));
            CHECK(b.inputs(k, 1) == -v);
            CHECK(b.targets(k, 0) == v * v);
            Generator gen(data::detail::mix_seed(1, 4, static_cast<std::uint64_t>(v)));
            CHECK(b.targets(k, 1) == 1 + static_cast<double>(gen.below(100)) / 1000);
        }
    }
    CHECK(seen == std::set<int>{0, 1, 2, 3, 4});
}

TEST_CASE("DataLoader errors", "[data][loader][errors]") {
    const auto set = numbered_set();
    CHECK(test::error_message<ValueError>([&] { data::DataLoader(set, {0}, {.batch_size = 0}); }) ==
          "DataLoader: batch size must be > 0, got 0");
    CHECK(test::error_message<IndexError>([&] { data::DataLoader(set, {11}, {}); }) ==
          "DataLoader: index 11 outside a dataset of 10 samples");
    CHECK(test::error_message<ValueError>([&] { data::DataLoader(set, {0}, {.workers = 0}); }) ==
          "DataLoader: workers must be > 0, got 0");
    const auto failing = numbered_set([](float*, const Shape&, Generator&) { throw ValueError("transform failed"); });
    for (int workers : {1, 2}) {
        data::DataLoader loader(failing, iota(4), {.batch_size = 2, .workers = workers});
        loader.start_epoch(0);
        data::Batch<float> b;
        CHECK(test::error_message<ValueError>([&] { loader.next(b); }) == "transform failed");
    }
    // a throw in the second worker's share only (sample 1 of the first batch) is rethrown too
    const auto one_bad = numbered_set([](float* v, const Shape&, Generator&) {
        if (v[0] == 1.0f) throw ValueError("sample 1 is bad");
    });
    data::DataLoader loader(one_bad, iota(4), {.batch_size = 2, .prefetch = false, .workers = 2});
    loader.start_epoch(0);
    data::Batch<float> b;
    CHECK(test::error_message<ValueError>([&] { loader.next(b); }) == "sample 1 is bad");
}
