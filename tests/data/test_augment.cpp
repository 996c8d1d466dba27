#include <catch2/catch.hpp>

#include <numbers>

#include <ember/data/augment.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
std::vector<float> ramp(int h, int w, int c) {
    std::vector<float> v(static_cast<std::size_t>(h * w * c));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
    return v;
}
float px(const std::vector<float>& v, int w, int c, int y, int x, int ch) { return v[static_cast<std::size_t>((y * w + x) * c + ch)]; }
}  // namespace

TEST_CASE("flips are exact permutations", "[data][augment]") {
    const int h = 3, w = 4, c = 2;
    auto v = ramp(h, w, c);
    const auto orig = v;
    data::flip(v.data(), h, w, c, true, false);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) CHECK(px(v, w, c, y, x, 1) == px(orig, w, c, y, w - 1 - x, 1));
    data::flip(v.data(), h, w, c, true, true);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) CHECK(px(v, w, c, y, x, 0) == px(orig, w, c, h - 1 - y, x, 0));
}

TEST_CASE("rotation by 0 and zoom 1 are the identity, and 90 degrees of a square is a transpose and flip", "[data][augment]") {
    const int n = 5, c = 1;
    auto v = ramp(n, n, c);
    const auto orig = v;
    data::rotate_zoom(v.data(), n, n, c, 0.0, 1.0);
    for (std::size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(orig[i]).margin(1e-4));
    data::rotate_zoom(v.data(), n, n, c, std::numbers::pi / 2, 1.0);
    // out(y, x) = in(M (x, y)): with m = [[0, -1], [1, 0]] the source of (x, y) is (n-1-y, x)
    for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) CHECK(px(v, n, c, y, x, 0) == Approx(px(orig, n, c, x, n - 1 - y, 0)).margin(1e-3));
}

TEST_CASE("zoom samples 'zoom' times further from the centre and reflects at the border", "[data][augment]") {
    const int n = 8;
    auto v = ramp(n, n, 1);
    const auto orig = v;
    data::rotate_zoom(v.data(), n, n, 1, 0.0, 2.0);
    // out(4, 5) samples x = 4 + 2 * (5.5 - 4) - 0.5 = 6.5, y = 4 + 2 * (4.5 - 4) - 0.5 = 4.5
    const float expected = (px(orig, n, 1, 4, 6, 0) + px(orig, n, 1, 4, 7, 0) + px(orig, n, 1, 5, 6, 0) + px(orig, n, 1, 5, 7, 0)) / 4;
    CHECK(px(v, n, 1, 4, 5, 0) == Approx(expected));
    // Keras' reflect: (d c b a | a b c d | d c b a), mirrored about the outer edge of the border pixel
    CHECK(data::detail::reflect_coord(-0.5f, 8) == Approx(0.0f));
    CHECK(data::detail::reflect_coord(-1.0f, 8) == Approx(0.0f));
    CHECK(data::detail::reflect_coord(-1.5f, 8) == Approx(0.5f));
    CHECK(data::detail::reflect_coord(8.5f, 8) == Approx(6.5f));
    CHECK(data::detail::reflect_coord(3.25f, 8) == Approx(3.25f));
}

TEST_CASE("random_augment and augmentor_rotate are deterministic for a seed", "[data][augment]") {
    auto a = ramp(6, 6, 3), b = a;
    Generator g1(9), g2(9);
    data::random_augment(a.data(), 6, 6, 3, {}, g1);
    data::random_augment(b.data(), 6, 6, 3, {}, g2);
    CHECK(a == b);
    data::Image img{20, 20, 3, std::vector<std::uint8_t>(1200, 7)};
    Generator g3(4), g4(4);
    CHECK(data::augmentor_rotate(img, g3).pixels == data::augmentor_rotate(img, g4).pixels);
    // a constant image stays constant: the crop leaves no fill to blend in
    Generator g5(1);
    for (int i = 0; i < 10; ++i)
        for (auto p : data::augmentor_rotate(img, g5, 1.0).pixels) REQUIRE(p == 7);
    CHECK(data::inscribed_scale(10, 10, 0.0) == Approx(1.0));
    CHECK(data::inscribed_scale(10, 10, std::numbers::pi / 4) == Approx(1 / std::sqrt(2.0)));
}

TEST_CASE("rebalance adds per-class samples on the training side only", "[data][augment]") {
    data::ImageSet set;
    set.height = set.width = 4;
    set.class_names = {"a", "b", "c"};
    for (int i = 0; i < 9; ++i) set.push_back(data::Image{4, 4, 3, std::vector<std::uint8_t>(48, static_cast<std::uint8_t>(i))}, i % 3, "x");
    std::vector<std::size_t> train{0, 1, 2, 3, 4, 5};  // 6..8 are validation
    data::rebalance(set, train, 5, 11);
    CHECK(set.size() == 9 + 15);
    CHECK(train.size() == 6 + 15);
    std::vector<int> per_class(3, 0);
    for (std::size_t i = 9; i < set.size(); ++i) {
        ++per_class[static_cast<std::size_t>(set.labels[i])];
        const int src_pixel = set.image(i)[0];
        CHECK(src_pixel < 6);  // copies come from training images only
        CHECK(src_pixel % 3 == set.labels[i]);
    }
    CHECK(per_class == std::vector<int>{5, 5, 5});
}
