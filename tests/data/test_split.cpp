#include <catch2/catch.hpp>

#include <ember/data/split.hpp>

#include "helpers.hpp"

using namespace ember;

TEST_CASE("NumpyRandomState.shuffle reproduces NumPy's legacy RandomState exactly", "[data][split]") {
    // Expected values printed by NumPy 1.24 (Debian python3-numpy):
    //   x = list(range(n)); np.random.RandomState(seed).shuffle(x)
    auto shuffled = [](std::uint32_t seed, std::size_t n) {
        std::vector<std::size_t> x(n);
        for (std::size_t i = 0; i < n; ++i) x[i] = i;
        data::NumpyRandomState(seed).shuffle(x);
        return x;
    };
    CHECK(shuffled(123, 10) == std::vector<std::size_t>{4, 0, 7, 5, 8, 3, 1, 6, 9, 2});
    const auto big = shuffled(123, 2239);
    CHECK(std::vector<std::size_t>(big.begin(), big.begin() + 8) == std::vector<std::size_t>{775, 18, 1005, 1289, 33, 655, 1074, 1665});
    CHECK(std::vector<std::size_t>(big.end() - 5, big.end()) == std::vector<std::size_t>{1147, 2154, 1766, 1122, 1346});
    CHECK(shuffled(1, 7) == std::vector<std::size_t>{6, 2, 1, 0, 4, 3, 5});
    const auto k = shuffled(42, 1000);
    CHECK(std::vector<std::size_t>(k.begin(), k.begin() + 4) == std::vector<std::size_t>{521, 737, 740, 660});
}

TEST_CASE("keras_split: 2,239 files give 1,792 training and 447 validation", "[data][split]") {
    const auto s = data::keras_split(2239, 0.2, 123);
    CHECK(s.train.size() == 1792);
    CHECK(s.validation.size() == 447);
    CHECK(s.validation.back() == 1346);  // the last of NumPy's shuffled order
    std::vector<bool> seen(2239, false);
    for (auto i : s.train) seen[i] = true;
    for (auto i : s.validation) {
        CHECK_FALSE(seen[i]);
        seen[i] = true;
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](bool b) { return b; }));
}

TEST_CASE("stratified_split keeps the class proportions and is reproducible", "[data][split]") {
    std::vector<std::int32_t> labels;
    for (int c = 0; c < 3; ++c)
        for (int i = 0; i < (c + 1) * 20; ++i) labels.push_back(c);
    const auto s = data::stratified_split(labels, 0.2, 7);
    std::vector<int> val_counts(3, 0);
    for (auto i : s.validation) ++val_counts[static_cast<std::size_t>(labels[i])];
    CHECK(val_counts == std::vector<int>{4, 8, 12});
    CHECK(s.train.size() + s.validation.size() == labels.size());
    CHECK(data::stratified_split(labels, 0.2, 7).validation == s.validation);
    CHECK(data::stratified_split(labels, 0.2, 8).validation != s.validation);
    CHECK(test::error_message<ValueError>([&] { data::stratified_split(labels, 1.0, 7); }) ==
          "split: validation fraction must be in [0, 1), got 1");
}
