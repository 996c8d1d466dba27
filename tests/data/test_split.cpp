// Tests of ember/data/split.hpp: NumPy's legacy RandomState reproduced exactly, Keras' split, the stratified split.
#include <catch2/catch.hpp>

#include <ember/vision/image_folder.hpp>
#include <ember/data/split.hpp>

#include "helpers.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
std::vector<std::size_t> shuffled(std::uint32_t seed, std::size_t n) {
    std::vector<std::size_t> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = i;
    data::NumpyRandomState(seed).shuffle(x);
    return x;
}
using V = std::vector<std::size_t>;
}  // namespace

// Every expected value below was printed by NumPy 1.24.2 (Debian's python3-numpy, /usr/bin/python3):
//   x = list(range(n)); np.random.RandomState(seed).shuffle(x); print(x)
//   np.random.RandomState(seed).randint(0, high, size=k).tolist()
TEST_CASE("NumpyRandomState.shuffle reproduces NumPy's legacy RandomState exactly", "[data][split]") {
    CHECK(shuffled(0, 0).empty());
    CHECK(shuffled(0, 1) == V{0});
    CHECK(shuffled(0, 2) == V{1, 0});
    CHECK(shuffled(0, 3) == V{2, 1, 0});
    CHECK(shuffled(1, 7) == V{6, 2, 1, 0, 4, 3, 5});
    CHECK(shuffled(123, 10) == V{4, 0, 7, 5, 8, 3, 1, 6, 9, 2});
    CHECK(shuffled(4294967295U, 12) == V{11, 8, 5, 9, 1, 10, 6, 0, 4, 7, 2, 3});
    CHECK(shuffled(2024, 20) == V{11, 15, 19, 6, 13, 12, 16, 5, 17, 2, 10, 3, 1, 9, 7, 14, 4, 18, 0, 8});
    CHECK(shuffled(7, 33) == V{2,  28, 1,  9,  13, 5,  20, 16, 29, 17, 21, 11, 15, 12, 18, 0, 32,
                               6,  26, 30, 10, 24, 8,  27, 14, 31, 7,  23, 19, 3,  22, 25, 4});
    const auto big = shuffled(123, 2239);  // the size of the full ISIC Train folder
    CHECK(V(big.begin(), big.begin() + 8) == V{775, 18, 1005, 1289, 33, 655, 1074, 1665});
    CHECK(V(big.end() - 5, big.end()) == V{1147, 2154, 1766, 1122, 1346});
    const auto k = shuffled(42, 1000);
    CHECK(V(k.begin(), k.begin() + 4) == V{521, 737, 740, 660});
    // 100,000 elements: the twist runs many times; sum(x[i] * i) % 1000000007 fingerprints the whole permutation
    const auto huge = shuffled(31337, 100000);
    CHECK(V(huge.begin(), huge.begin() + 5) == V{1817, 9193, 39834, 69216, 28628});
    CHECK(V(huge.end() - 5, huge.end()) == V{75111, 73405, 43542, 72223, 85175});
    std::uint64_t fingerprint = 0;
    for (std::size_t i = 0; i < huge.size(); ++i) fingerprint = (fingerprint + huge[i] * i) % 1000000007ULL;
    CHECK(fingerprint == 569227270ULL);
}

TEST_CASE("NumpyRandomState.interval draws as RandomState.randint, 32- and 64-bit", "[data][split]") {
    auto draws = [](std::uint32_t seed, std::uint64_t high, int k) {
        data::NumpyRandomState r(seed);
        std::vector<std::uint64_t> v;
        for (int i = 0; i < k; ++i) v.push_back(r.interval(high - 1));
        return v;
    };
    using U = std::vector<std::uint64_t>;
    CHECK(draws(5, 1000, 4) == U{867, 206, 701, 998});
    CHECK(draws(5, 1ULL << 33, 4) == U{4531964110ULL, 7865493181ULL, 1562238070ULL, 4206684233ULL});
    CHECK(draws(5, (1ULL << 40) + 1, 4) == U{34745516772ULL, 993841416126ULL, 680694927056ULL, 34320314572ULL});
    CHECK(draws(99, (1ULL << 63) - 1, 3) == U{3177978388542938147ULL, 9003457315302182056ULL, 6004326113586415336ULL});
    data::NumpyRandomState r(3);
    CHECK(r.interval(0) == 0);
}

TEST_CASE("keras_split: 2,239 files give 1,792 training and 447 validation", "[data][split]") {
    const auto s = data::keras_split(2239, 0.2, 123);
    CHECK(s.train.size() == 1792);
    CHECK(s.validation.size() == 447);
    const auto order = shuffled(123, 2239);
    CHECK(s.train == V(order.begin(), order.begin() + 1792));
    CHECK(s.validation == V(order.begin() + 1792, order.end()));
    CHECK(s.validation.back() == 1346);  // the last of NumPy's shuffled order
    std::vector<bool> seen(2239, false);
    for (auto i : s.train) seen[i] = true;
    for (auto i : s.validation) {
        CHECK_FALSE(seen[i]);
        seen[i] = true;
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](bool b) { return b; }));
    // int(0.2 * n) truncates: 9 -> 1; 0 validation leaves everything to training
    CHECK(data::keras_split(9, 0.2, 1).validation.size() == 1);
    CHECK(data::keras_split(4, 0.2, 1).train.size() == 4);
    CHECK(data::keras_split(0, 0.5, 1).train.empty());
    CHECK(test::error_message<ValueError>([] { data::keras_split(10, -0.1, 1); }) ==
          "split: validation fraction must be in [0, 1), got -0.1");
}

TEST_CASE("keras_split of the isic-mini Train folder selects the files Keras selects", "[data][split][isic]") {
    const fs::path train = fs::path(EMBER_SHARED_DATA_DIR) / "isic-mini" / "Train";
    if (test::shared_data_missing(train)) return;
    // Expected: Keras' index_directory order (sorted class folders, os.walk sorted, files sorted) shuffled by
    // np.random.RandomState(seed), computed with NumPy 1.24.2 in Python; names relative to Train/.
    const auto index = vision::index_image_folder(train);
    REQUIRE(index.files.size() == 270);
    auto name = [&](std::size_t i) { return index.files[i].path.lexically_relative(train).generic_string(); };
    const auto s = data::keras_split(index.files.size(), 0.2, 123);
    REQUIRE(s.validation.size() == 54);
    CHECK(name(s.train[0]) == "basal cell carcinoma/ISIC_0024632.jpg");
    CHECK(name(s.train[1]) == "squamous cell carcinoma/ISIC_0031570.jpg");
    CHECK(name(s.train[2]) == "nevus/ISIC_0000032.jpg");
    CHECK(name(s.validation[0]) == "dermatofibroma/ISIC_0026789.jpg");
    CHECK(name(s.validation[1]) == "vascular lesion/ISIC_0030770.jpg");
    CHECK(name(s.validation[2]) == "nevus/ISIC_0000323.jpg");
    CHECK(name(s.validation[53]) == "melanoma/ISIC_0000516.jpg");
    // Keras' validation side is not stratified: per class 2 7 8 12 5 6 4 5 5 images (of 30)
    std::vector<int> per_class(9, 0);
    for (auto i : s.validation) ++per_class[static_cast<std::size_t>(index.files[i].label)];
    CHECK(per_class == std::vector<int>{2, 7, 8, 12, 5, 6, 4, 5, 5});
    const auto s42 = data::keras_split(index.files.size(), 0.2, 42);
    CHECK(name(s42.validation[0]) == "nevus/ISIC_0000263.jpg");
    CHECK(name(s42.validation[53]) == "melanoma/ISIC_0001154.jpg");
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
    CHECK(std::is_sorted(s.train.begin(), s.train.end()));
    CHECK(std::is_sorted(s.validation.begin(), s.validation.end()));
    std::vector<std::size_t> all(s.train);
    all.insert(all.end(), s.validation.begin(), s.validation.end());
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    CHECK(data::stratified_split(labels, 0.2, 7).validation == s.validation);
    CHECK(data::stratified_split(labels, 0.2, 8).validation != s.validation);
    CHECK(data::stratified_split(labels, 0.0, 7).validation.empty());
    CHECK(test::error_message<ValueError>([&] { data::stratified_split(labels, 1.0, 7); }) ==
          "split: validation fraction must be in [0, 1), got 1");
}

TEST_CASE("stratified_split: small classes keep a sample on each side, labels must be class indices", "[data][split]") {
    // class 0: 1 sample, class 1: 2 samples, class 2: none, class 3: 3 samples
    const std::vector<std::int32_t> labels{3, 1, 0, 3, 1, 3};
    const auto s = data::stratified_split(labels, 0.1, 5);
    std::vector<int> val_counts(4, 0), train_counts(4, 0);
    for (auto i : s.validation) ++val_counts[static_cast<std::size_t>(labels[i])];
    for (auto i : s.train) ++train_counts[static_cast<std::size_t>(labels[i])];
    CHECK(val_counts == std::vector<int>{0, 1, 0, 1});
    CHECK(train_counts == std::vector<int>{1, 1, 0, 2});
    const auto most = data::stratified_split(labels, 0.9, 5);  // round(0.9 * n) would take every sample
    CHECK(most.validation.size() == 0 + 1 + 2);
    const std::vector<std::int32_t> bad{0, -1};
    CHECK(test::error_message<ValueError>([&] { data::stratified_split(bad, 0.2, 1); }) ==
          "stratified_split: label -1 at index 1 is negative (labels are class indices)");
}

TEST_CASE("stratified_kfold balances every class over the folds and keeps groups together", "[data][split]") {
    std::vector<std::int32_t> labels;
    for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 10 * (c + 1); ++i) labels.push_back(c);  // 10, 20, 30 samples
    const auto folds = ember::data::stratified_kfold(labels, 5, 7);
    REQUIRE(folds.size() == labels.size());
    for (int c = 0; c < 3; ++c)
        for (std::size_t f = 0; f < 5; ++f) {
            long n = 0;
            for (std::size_t i = 0; i < labels.size(); ++i) n += labels[i] == c && folds[i] == f;
            CHECK(n == 2 * (c + 1));  // exactly a fifth of each class
        }
    CHECK(folds == ember::data::stratified_kfold(labels, 5, 7));  // reproducible
    CHECK(folds != ember::data::stratified_kfold(labels, 5, 8));

    // samples 0-3 are copies of one image: they share a fold
    std::vector<std::size_t> groups(labels.size());
    for (std::size_t i = 0; i < groups.size(); ++i) groups[i] = i < 4 ? 0 : i;
    const auto grouped = ember::data::stratified_kfold(labels, 5, 7, groups);
    for (std::size_t i = 1; i < 4; ++i) CHECK(grouped[i] == grouped[0]);

    const auto split = ember::data::fold_split(folds, 2);
    CHECK(split.validation.size() == 12);
    CHECK(split.train.size() == 48);
    CHECK_THROWS_WITH(ember::data::fold_split(folds, 5), Catch::Contains("no sample is in fold 5"));
}

TEST_CASE("stratified_kfold refuses what cannot be folded", "[data][split]") {
    const std::vector<std::int32_t> labels{0, 1, 0, 1};
    CHECK_THROWS_WITH(ember::data::stratified_kfold(labels, 1, 0), Catch::Contains("at least 2 folds"));
    CHECK_THROWS_WITH(ember::data::stratified_kfold(labels, 5, 0), Catch::Contains("5 folds of 4 samples"));
    const std::vector<std::size_t> groups{0, 1};
    CHECK_THROWS_WITH(ember::data::stratified_kfold(labels, 2, 0, groups), Catch::Contains("2 group ids for 4 labels"));
    const std::vector<std::int32_t> negative{0, -1, 0, 1};
    CHECK_THROWS_WITH(ember::data::stratified_kfold(negative, 2, 0), Catch::Contains("label -1 at index 1"));
}
