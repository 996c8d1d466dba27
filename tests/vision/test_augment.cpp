// Tests of ember/vision/augment.hpp: flips, Keras' rotation and zoom (matrices, reflect fill), Augmentor's
// rotate-and-crop, class rebalancing, the random stretch and the random per-channel gain.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include <ember/vision/augment.hpp>

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
    for (auto [h, w] : {std::pair{3, 4}, std::pair{4, 5}, std::pair{1, 1}}) {
        const int c = 2;
        CAPTURE(h, w);
        auto v = ramp(h, w, c);
        const auto orig = v;
        vision::flip(v.data(), h, w, c, true, false);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int ch = 0; ch < c; ++ch) REQUIRE(px(v, w, c, y, x, ch) == px(orig, w, c, y, w - 1 - x, ch));
        vision::flip(v.data(), h, w, c, true, true);  // undoes the horizontal flip, adds a vertical one
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int ch = 0; ch < c; ++ch) REQUIRE(px(v, w, c, y, x, ch) == px(orig, w, c, h - 1 - y, x, ch));
        vision::flip(v.data(), h, w, c, false, true);
        CHECK(v == orig);
    }
    // RandomFlip('horizontal_and_vertical') picks each flip with probability 1/2
    Generator gen(3);
    int changed = 0;
    const vision::RandomFlip both;
    for (int i = 0; i < 400; ++i) {
        auto v = ramp(2, 2, 1);
        both(v.data(), 2, 2, 1, gen);
        if (v != ramp(2, 2, 1)) ++changed;
    }
    CHECK(changed > 260);  // expected 300 (3 of the 4 outcomes change a 2x2 ramp)
    CHECK(changed < 340);
}

TEST_CASE("rotation by 0 and zoom 0 are the identity; 90 degrees of a square is a transpose and a flip", "[data][augment]") {
    const int n = 5, c = 1;
    const auto orig = ramp(n, n, c);
    auto v = orig;
    vision::rotate(v.data(), n, n, c, 0.0);
    CHECK(v == orig);
    vision::zoom(v.data(), n, n, c, 1.0, 1.0);
    CHECK(v == orig);
    Generator gen(1);
    vision::RandomRotation(0.0)(v.data(), n, n, c, gen);
    vision::RandomZoom(0.0, 0.0)(v.data(), n, n, c, gen);
    CHECK(v == orig);
    // +90 degrees (counter-clockwise as displayed, Keras' sign): out(y, x) = in(x, n - 1 - y), i.e. the transpose
    // flipped top-bottom; the top-right corner comes to the top left
    vision::rotate(v.data(), n, n, c, std::numbers::pi / 2);
    for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) CHECK(px(v, n, c, y, x, 0) == Approx(px(orig, n, c, x, n - 1 - y, 0)).margin(1e-3));
    // 180 degrees = both flips, on a non-square image too
    auto r = ramp(4, 6, 3), f = r;
    vision::rotate(r.data(), 4, 6, 3, std::numbers::pi);
    vision::flip(f.data(), 4, 6, 3, true, true);
    for (std::size_t i = 0; i < r.size(); ++i) CHECK(r[i] == Approx(f[i]).margin(1e-3));
}

TEST_CASE("zoom samples 'zoom' times further from the centre; fill modes follow Keras", "[data][augment]") {
    const int n = 8;
    const auto orig = ramp(n, n, 1);
    auto v = orig;
    vision::zoom(v.data(), n, n, 1, 2.0, 2.0);
    // out(4, 5) samples x = 4 + 2 * (5.5 - 4) - 0.5 = 6.5, y = 4 + 2 * (4.5 - 4) - 0.5 = 4.5
    const float expected = (px(orig, n, 1, 4, 6, 0) + px(orig, n, 1, 4, 7, 0) + px(orig, n, 1, 5, 6, 0) + px(orig, n, 1, 5, 7, 0)) / 4;
    CHECK(px(v, n, 1, 4, 5, 0) == Approx(expected));
    // out(4, 7) samples x = 4 + 2 * 3.5 - 0.5 = 10.5: reflected about 7.5 to 4.5
    CHECK(px(v, n, 1, 4, 7, 0) == Approx((px(orig, n, 1, 4, 4, 0) + px(orig, n, 1, 4, 5, 0) + px(orig, n, 1, 5, 4, 0) +
                                          px(orig, n, 1, 5, 5, 0)) / 4));
    // reflect: (d c b a | a b c d | d c b a), mirrored about the outer edge of the border pixel
    using vision::FillMode;
    CHECK(vision::detail::map_coord(-0.5f, 8, FillMode::reflect) == Approx(0.0f));
    CHECK(vision::detail::map_coord(-1.0f, 8, FillMode::reflect) == Approx(0.0f));
    CHECK(vision::detail::map_coord(-1.5f, 8, FillMode::reflect) == Approx(0.5f));
    CHECK(vision::detail::map_coord(-3.0f, 8, FillMode::reflect) == Approx(2.0f));
    CHECK(vision::detail::map_coord(8.5f, 8, FillMode::reflect) == Approx(6.5f));
    CHECK(vision::detail::map_coord(7.25f, 8, FillMode::reflect) == Approx(7.0f));
    CHECK(vision::detail::map_coord(3.25f, 8, FillMode::reflect) == Approx(3.25f));
    CHECK(vision::detail::map_coord(17.0f, 8, FillMode::reflect) == Approx(1.0f));  // a whole period (16) on
    CHECK(vision::detail::map_coord(-9.0f, 8, FillMode::nearest) == Approx(0.0f));
    CHECK(vision::detail::map_coord(5.0f, 1, FillMode::reflect) == Approx(0.0f));
    // zooming out a constant image: reflect and nearest stay constant, constant fill shows a border of k
    std::vector<float> flat(16 * 16, 50.0f);
    for (auto mode : {FillMode::reflect, FillMode::nearest}) {
        auto z = flat;
        vision::zoom(z.data(), 16, 16, 1, 1.3, 1.3, mode);
        for (float p : z) REQUIRE(p == Approx(50.0f));
    }
    auto z = flat;
    vision::zoom(z.data(), 16, 16, 1, 2.0, 2.0, FillMode::constant, 7.0f);
    CHECK(z[0] == 7.0f);                    // corner: outside
    CHECK(z[8 * 16 + 8] == Approx(50.0f));  // centre: inside
    // zoom < 1 zooms in: the centre 2x magnified
    auto in = ramp(8, 8, 1);
    vision::zoom(in.data(), 8, 8, 1, 0.5, 0.5);
    CHECK(px(in, 8, 1, 3, 3, 0) == Approx(px(orig, 8, 1, 3, 3, 0) * 0.75f + px(orig, 8, 1, 4, 4, 0) * 0.25f).margin(1e-3));
}

TEST_CASE("the random layers draw as Keras: angle = U(lower, upper) * 2 pi, zoom = 1 + U(lower, upper)", "[data][augment]") {
    const int n = 9;
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        auto a = ramp(n, n, 2), b = a;
        Generator g1(seed), g2(seed);
        vision::RandomRotation(0.2)(a.data(), n, n, 2, g1);
        vision::rotate(b.data(), n, n, 2, g2.uniform(-0.2, 0.2) * 2 * std::numbers::pi);
        CHECK(a == b);
        vision::RandomZoom(0.2, 0.3)(a.data(), n, n, 2, g1);
        const double z = 1 + g2.uniform(0.2, 0.3);
        vision::zoom(b.data(), n, n, 2, z, z);
        CHECK(a == b);
    }
    CHECK(vision::RandomZoom(0.25).lower == -0.25);
    CHECK(test::error_message<ValueError>([] { vision::RandomZoom(0.5, 1.5); }) ==
          "RandomZoom: factors must lie in [-1, 1] with lower <= upper, got (0.5, 1.5)");
    CHECK(test::error_message<ValueError>([] { vision::RandomRotation(0.3, 0.1); }) ==
          "RandomRotation: lower factor 0.3 is above upper factor 0.1");
}

TEST_CASE("random_augment is Keras' flip, rotation, zoom in sequence and deterministic for a seed", "[data][augment]") {
    auto a = ramp(6, 6, 3), b = a, c = a, d = a;
    Generator g1(9), g2(9), g3(9), g4(10);
    vision::random_augment(a.data(), 6, 6, 3, {}, g1);
    vision::random_augment(b.data(), 6, 6, 3, {}, g2);
    CHECK(a == b);
    vision::RandomFlip{}(c.data(), 6, 6, 3, g3);
    vision::RandomRotation(0.2)(c.data(), 6, 6, 3, g3);
    vision::RandomZoom(0.2, 0.3)(c.data(), 6, 6, 3, g3);
    CHECK(a == c);
    vision::random_augment(d.data(), 6, 6, 3, {}, g4);
    CHECK(a != d);
}

TEST_CASE("RandomAspect stretches the width by a log-uniform ratio in [1/R, R]; random_augment folds it into the zoom", "[data][augment]") {
    // r = 4/3 on a 8x12 ramp: out(y, x) samples x' = 6 + (x + 0.5 - 6) * 3/4 - 0.5, y unchanged
    const int h = 8, w = 12;
    const auto orig = ramp(h, w, 1);
    auto v = orig;
    vision::zoom(v.data(), h, w, 1, 1.0, 0.75);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const double sx = 6 + (x + 0.5 - 6) * 0.75 - 0.5;
            const int x0 = static_cast<int>(std::floor(sx));
            const double t = sx - x0;
            const double want = px(orig, w, 1, y, x0, 0) * (1 - t) + px(orig, w, 1, y, x0 + 1, 0) * t;
            REQUIRE(px(v, w, 1, y, x, 0) == Approx(want).margin(1e-3));
        }
    // the draw: log r uniform in [-log R, log R]; the image is zoom(1, 1/r) of the input
    for (std::uint64_t seed : {4u, 5u, 6u}) {
        Generator g1(seed), g2(seed);
        auto a = ramp(h, w, 3), b = a;
        vision::RandomAspect(4.0 / 3.0)(a.data(), h, w, 3, g1);
        const double r = std::exp(g2.uniform(-std::log(4.0 / 3.0), std::log(4.0 / 3.0)));
        CHECK(r >= 0.75 - 1e-12);
        CHECK(r <= 4.0 / 3.0 + 1e-12);
        vision::zoom(b.data(), h, w, 3, 1.0, 1.0 / r);
        CHECK(a == b);
    }
    // ratios spread over both sides of 1, symmetric in log
    Generator g(11);
    const vision::RandomAspect stretch(2.0);
    int wider = 0;
    double sum_log = 0, lo = 10, hi = 0;
    for (int i = 0; i < 2000; ++i) {
        const double r = stretch.draw(g);
        wider += r > 1;
        sum_log += std::log(r);
        lo = std::min(lo, r);
        hi = std::max(hi, r);
    }
    CHECK(wider > 900);
    CHECK(wider < 1100);
    CHECK(std::abs(sum_log / 2000) < 0.03);  // the mean of U(-0.69, 0.69) is 0; its standard error here ~0.009
    CHECK(lo >= 0.5);
    CHECK(lo < 0.52);
    CHECK(hi <= 2.0);
    CHECK(hi > 1.9);
    // max_ratio 1 is the identity and draws nothing: the generator is where it was
    Generator g3(7), g4(7);
    auto same = orig;
    vision::RandomAspect(1.0)(same.data(), h, w, 1, g3);
    CHECK(same == orig);
    CHECK(g3.next_u64() == g4.next_u64());
    CHECK(test::error_message<ValueError>([] { vision::RandomAspect(0.75); }) ==
          "RandomAspect: the largest stretch ratio must be a finite number >= 1, got 0.75");
    CHECK_THROWS_AS(vision::RandomAspect(std::numeric_limits<double>::infinity()), ValueError);
    // random_augment with max_aspect: flip, rotation, then one resampling with zoom z vertically and z / r
    // horizontally, the ratio drawn after the zoom
    for (std::uint64_t seed : {1u, 2u}) {
        auto a = ramp(9, 9, 3), b = a;
        Generator g1(seed), g2(seed);
        vision::random_augment(a.data(), 9, 9, 3, {.max_aspect = 4.0 / 3.0}, g1);
        vision::RandomFlip{}(b.data(), 9, 9, 3, g2);
        vision::RandomRotation(0.2)(b.data(), 9, 9, 3, g2);
        const double z = 1 + g2.uniform(0.2, 0.3);
        const double r = vision::RandomAspect(4.0 / 3.0).draw(g2);
        vision::zoom(b.data(), 9, 9, 3, z, z / r);
        CHECK(a == b);
        CHECK(g1.next_u64() == g2.next_u64());
    }
    auto bad = ramp(4, 4, 1);
    Generator g5(1);
    CHECK_THROWS_AS(vision::random_augment(bad.data(), 4, 4, 1, {.max_aspect = 0.5}, g5), ValueError);
}

TEST_CASE("RandomChannelGain multiplies R, G and B by their own log-uniform gains in [1/G, G], clamped", "[data][augment]") {
    const int h = 5, w = 7;
    std::vector<float> orig(static_cast<std::size_t>(h * w * 3));
    for (std::size_t i = 0; i < orig.size(); ++i) orig[i] = static_cast<float>((i * 37) % 256);  // 0..255, 255 included
    const vision::RandomChannelGain gain(1.25);
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        Generator g1(seed), g2(seed);
        auto v = orig;
        gain(v.data(), h, w, 3, g1);
        const double l = std::log(1.25);
        double want[3];
        for (double& x : want) x = std::exp(g2.uniform(-l, l));  // R's gain, then G's, then B's
        for (std::size_t i = 0; i < v.size(); ++i)
            REQUIRE(v[i] == std::clamp(orig[i] * static_cast<float>(want[i % 3]), 0.0f, 255.0f));
        CHECK(g1.next_u64() == g2.next_u64());
    }
    // the gains: within [1/G, G], on both sides of 1, symmetric in log, each channel drawn on its own
    Generator g(5);
    int above[3] = {}, differ = 0;
    double sum_log = 0, lo = 10, hi = 0;
    for (int i = 0; i < 2000; ++i) {
        const auto d = vision::RandomChannelGain(2.0).draw(g);
        for (int ch = 0; ch < 3; ++ch) {
            above[ch] += d[static_cast<std::size_t>(ch)] > 1;
            sum_log += std::log(d[static_cast<std::size_t>(ch)]);
            lo = std::min(lo, d[static_cast<std::size_t>(ch)]);
            hi = std::max(hi, d[static_cast<std::size_t>(ch)]);
        }
        differ += d[0] != d[1] && d[1] != d[2] && d[0] != d[2];
    }
    for (int ch = 0; ch < 3; ++ch) {
        CHECK(above[ch] > 900);
        CHECK(above[ch] < 1100);
    }
    CHECK(differ == 2000);
    CHECK(std::abs(sum_log / 6000) < 0.02);  // the mean of U(-0.69, 0.69) is 0; its standard error here ~0.005
    CHECK(lo >= 0.5);
    CHECK(lo < 0.51);
    CHECK(hi <= 2.0);
    CHECK(hi > 1.95);
    // a grey pixel takes the gains' colour; a white one stays at 255 where a gain brightens and darkens elsewhere
    std::vector<float> grey{100, 100, 100, 255, 255, 255};
    Generator g6(2), g7(2);
    vision::RandomChannelGain(1.25)(grey.data(), 1, 2, 3, g6);
    const auto d = vision::RandomChannelGain(1.25).draw(g7);
    REQUIRE(std::count_if(d.begin(), d.end(), [](double x) { return x > 1; }) == 1);  // this seed: one of each kind
    for (std::size_t ch = 0; ch < 3; ++ch) {
        CHECK(grey[ch] == Approx(100 * d[ch]).epsilon(1e-6));
        if (d[ch] >= 1) CHECK(grey[3 + ch] == 255.0f);
        else CHECK(grey[3 + ch] == Approx(255 * d[ch]).epsilon(1e-6));
    }
    // G = 1 is the identity and draws nothing
    Generator g3(7), g4(7);
    auto same = orig;
    vision::RandomChannelGain{}(same.data(), h, w, 3, g3);
    vision::RandomChannelGain(1.0)(same.data(), h, w, 3, g3);
    CHECK(same == orig);
    CHECK(g3.next_u64() == g4.next_u64());
    CHECK_FALSE(vision::RandomChannelGain(1.0).enabled());
    CHECK(test::error_message<ValueError>([] { vision::RandomChannelGain(0.8); }) ==
          "RandomChannelGain: the largest gain must be a finite number >= 1, got 0.8");
    CHECK_THROWS_AS(vision::RandomChannelGain(std::numeric_limits<double>::infinity()), ValueError);
    CHECK_THROWS_AS(vision::RandomChannelGain(std::nan("")), ValueError);
    auto gray = std::vector<float>(static_cast<std::size_t>(h * w));
    CHECK(test::error_message<ValueError>([&] { vision::RandomChannelGain(1.2)(gray.data(), h, w, 1, g3); }) ==
          "RandomChannelGain: needs an RGB image (3 channels), got 1 channel(s)");
    vision::RandomChannelGain(1.0)(gray.data(), h, w, 1, g3);  // off, it leaves any image alone
}

TEST_CASE("augmentor_rotate crops to the largest same-aspect rectangle without fill", "[data][augment]") {
    CHECK(vision::inscribed_scale(10, 10, 0.0) == Approx(1.0));
    CHECK(vision::inscribed_scale(10, 10, std::numbers::pi / 4) == Approx(1 / std::sqrt(2.0)));
    CHECK(vision::inscribed_scale(180, 180, 10 * std::numbers::pi / 180) == Approx(1 / (std::cos(0.174533) + std::sin(0.174533))));
    // every output pixel samples inside the image (pixel centres within [-0.5, n - 0.5]), and the crop is tight:
    // a 2% larger rectangle would reach outside
    for (auto [h, w] : {std::pair{180, 180}, std::pair{120, 200}, std::pair{200, 90}})
        for (int deg : {-10, -7, -1, 3, 10}) {
            CAPTURE(h, w, deg);
            const auto m = vision::augmentor_matrix(h, w, deg);
            float worst = 0;
            for (auto [y, x] : {std::pair{0, 0}, std::pair{0, w - 1}, std::pair{h - 1, 0}, std::pair{h - 1, w - 1}}) {
                const auto [sx, sy] = vision::detail::affine_source(m, h, w, y, x);
                CHECK(sx >= -0.5f - 1e-3f);
                CHECK(sx <= static_cast<float>(w) - 0.5f + 1e-3f);
                CHECK(sy >= -0.5f - 1e-3f);
                CHECK(sy <= static_cast<float>(h) - 0.5f + 1e-3f);
                worst = std::max({worst, -sx, -sy, sx - static_cast<float>(w - 1), sy - static_cast<float>(h - 1)});
            }
            const auto bigger = vision::augmentor_matrix(h, w, deg);
            std::array<float, 4> grown{};
            for (int k = 0; k < 4; ++k) grown[static_cast<std::size_t>(k)] = bigger[static_cast<std::size_t>(k)] * 1.02f;
            bool outside = false;
            for (auto [y, x] : {std::pair{0, 0}, std::pair{0, w - 1}, std::pair{h - 1, 0}, std::pair{h - 1, w - 1}}) {
                const auto [sx, sy] = vision::detail::affine_source(grown, h, w, y, x);
                outside = outside || sx < -0.5f || sy < -0.5f || sx > static_cast<float>(w) - 0.5f || sy > static_cast<float>(h) - 0.5f;
            }
            CHECK(outside);
        }
    // a constant image stays constant; deterministic for a seed
    vision::Image img{20, 30, 3, std::vector<std::uint8_t>(1800, 7)};
    Generator g5(1);
    for (int i = 0; i < 10; ++i)
        for (auto p : vision::augmentor_rotate(img, g5, 1.0).pixels) REQUIRE(p == 7);
    vision::Image ramp_img{20, 30, 3, {}};
    for (int i = 0; i < 1800; ++i) ramp_img.pixels.push_back(static_cast<std::uint8_t>(i % 251));
    Generator g3(4), g4(4);
    for (int i = 0; i < 5; ++i) CHECK(vision::augmentor_rotate(ramp_img, g3).pixels == vision::augmentor_rotate(ramp_img, g4).pixels);
    // p = 0.7 and an integer angle in [-10, 10] where 0 has odds 1/11: about 0.7 * 10 / 11 = 64% change
    Generator g6(8);
    int changed = 0;
    for (int i = 0; i < 1000; ++i) changed += vision::augmentor_rotate(ramp_img, g6).pixels != ramp_img.pixels ? 1 : 0;
    CHECK(changed > 590);
    CHECK(changed < 690);
    Generator g7(8);
    CHECK(vision::augmentor_rotate(ramp_img, g7, 0.0).pixels == ramp_img.pixels);
}

TEST_CASE("rebalance adds per-class samples on the training side only", "[data][augment]") {
    auto make = [] {
        vision::ImageSet set;
        set.height = set.width = 6;
        set.class_names = {"a", "b", "c", "d"};
        for (int i = 0; i < 9; ++i) {
            std::vector<std::uint8_t> p(108);
            for (std::size_t k = 0; k < p.size(); ++k) p[k] = static_cast<std::uint8_t>(i * 20 + (k % 3));  // flat per channel
            set.push_back(vision::Image{6, 6, 3, p}, i % 3, std::string("x").append(std::to_string(i)));
        }
        return set;
    };
    auto set = make();
    std::vector<std::size_t> train{0, 1, 2, 3, 4, 5};  // 6..8 are validation; class "d" has no images
    vision::rebalance(set, train, 5, 11);
    CHECK(set.size() == 9 + 15);
    CHECK(train.size() == 6 + 15);
    CHECK(set.pixels.size() == set.size() * set.image_bytes());
    std::vector<int> per_class(4, 0);
    for (std::size_t i = 9; i < set.size(); ++i) {
        CHECK(train[i - 3] == i);
        ++per_class[static_cast<std::size_t>(set.labels[i])];
        const int src = set.image(i)[0] / 20;  // flat images survive rotation unchanged
        CHECK(src < 6);                        // copies come from training images only
        CHECK(src % 3 == set.labels[i]);
        CHECK(set.paths[i] == std::string("x").append(std::to_string(src)));
    }
    CHECK(per_class == std::vector<int>{5, 5, 5, 0});
    // deterministic for a seed, whatever the thread count
    auto again = make();
    std::vector<std::size_t> train2{0, 1, 2, 3, 4, 5};
    const int threads = ember::max_threads();
    ember::set_num_threads(1);
    vision::rebalance(again, train2, 5, 11);
    ember::set_num_threads(threads);
    CHECK(again.pixels == set.pixels);
    CHECK(again.labels == set.labels);
    CHECK(train2 == train);
    CHECK(test::error_message<ValueError>([&] { vision::rebalance(set, train, -1, 1); }) ==
          "rebalance: samples per class must be >= 0, got -1");
    std::vector<std::size_t> bad{99};
    CHECK(test::error_message<IndexError>([&] { vision::rebalance(set, bad, 1, 1); }) ==
          "rebalance: index 99 outside a set of 24 images");
    // more than the machine's memory: refused before anything is allocated or drawn
    const std::size_t images = set.size();
    const auto train_before = train;
    CHECK_THAT(test::error_message<ValueError>([&] { vision::rebalance(set, train, 2'000'000'000, 1); }),
               Catch::StartsWith("rebalance: 2000000000 samples per class for ") &&
                   Catch::Contains(" bytes (") && Catch::Contains(" GiB), more than this machine's ") &&
                   Catch::EndsWith(" GiB of memory"));
    CHECK(set.size() == images);
    CHECK(train == train_before);
}

namespace {
/// A random RGB image with values 0..255 (every channel order and gray pixels among them).
std::vector<float> random_rgb(int h, int w, std::uint64_t seed) {
    Generator g(seed);
    std::vector<float> v(static_cast<std::size_t>(h * w * 3));
    for (auto& x : v) x = static_cast<float>(g.uniform(0.0, 255.0));
    v[0] = v[1] = v[2] = 77.0f;  // a gray pixel
    return v;
}
double luma(const float* p) { return 0.2989 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }
double clamp255(double v) { return std::clamp(v, 0.0, 255.0); }
}  // namespace

TEST_CASE("adjust_brightness, adjust_contrast and adjust_saturation are torchvision's blends, clamped", "[data][augment][color]") {
    const int h = 7, w = 5;
    const auto orig = random_rgb(h, w, 4);
    double mean = 0;
    for (std::size_t p = 0; p < orig.size() / 3; ++p) mean += luma(&orig[3 * p]);
    mean /= static_cast<double>(orig.size() / 3);
    for (const double f : {0.0, 0.6, 1.0, 1.4}) {
        CAPTURE(f);
        auto b = orig, c = orig, s = orig;
        vision::adjust_brightness(b.data(), h, w, 3, f);
        vision::adjust_contrast(c.data(), h, w, 3, f);
        vision::adjust_saturation(s.data(), h, w, 3, f);
        for (std::size_t i = 0; i < orig.size(); ++i) {
            const double g = luma(&orig[i - i % 3]);
            REQUIRE(b[i] == Approx(clamp255(orig[i] * f)).margin(1e-3));
            REQUIRE(c[i] == Approx(clamp255(f * orig[i] + (1 - f) * mean)).margin(1e-3));
            REQUIRE(s[i] == Approx(clamp255(f * orig[i] + (1 - f) * g)).margin(1e-3));
        }
    }
    // factor 0: black, flat mean gray, each pixel's own gray
    auto c = orig, s = orig;
    vision::adjust_contrast(c.data(), h, w, 3, 0.0);
    vision::adjust_saturation(s.data(), h, w, 3, 0.0);
    CHECK(c[5] == Approx(mean).margin(1e-3));
    CHECK(s[3] == Approx(s[4]).margin(1e-3));
    CHECK(s[4] == Approx(s[5]).margin(1e-3));
}

TEST_CASE("adjust_hue turns hues in HSV: a third of a turn permutes R, G, B; grays stay", "[data][augment][color]") {
    const int h = 6, w = 6;
    const auto orig = random_rgb(h, w, 5);
    auto plus = orig, minus = orig, zero = orig, half = orig;
    vision::adjust_hue(plus.data(), h, w, 3, 1.0 / 3);
    vision::adjust_hue(minus.data(), h, w, 3, -1.0 / 3);
    vision::adjust_hue(zero.data(), h, w, 3, 0.0);
    vision::adjust_hue(half.data(), h, w, 3, 1.0 / 6);
    vision::adjust_hue(half.data(), h, w, 3, 1.0 / 6);
    for (std::size_t p = 0; p < orig.size(); p += 3) {
        const float r = orig[p], g = orig[p + 1], b = orig[p + 2];
        REQUIRE(plus[p] == Approx(b).margin(1e-3));  // red -> green: the new green is the old red
        REQUIRE(plus[p + 1] == Approx(r).margin(1e-3));
        REQUIRE(plus[p + 2] == Approx(g).margin(1e-3));
        REQUIRE(minus[p] == Approx(g).margin(1e-3));
        REQUIRE(minus[p + 1] == Approx(b).margin(1e-3));
        REQUIRE(minus[p + 2] == Approx(r).margin(1e-3));
        for (int ch = 0; ch < 3; ++ch) {
            REQUIRE(zero[p + ch] == Approx(orig[p + ch]).margin(1e-3));
            REQUIRE(half[p + ch] == Approx(plus[p + ch]).margin(1e-3));
        }
    }
    CHECK(plus[0] == 77.0f);  // the gray pixel
    std::vector<float> red{255, 0, 0}, teal{0, 128, 128};
    vision::adjust_hue(red.data(), 1, 1, 3, 1.0 / 6);   // red -> yellow
    vision::adjust_hue(teal.data(), 1, 1, 3, 0.5);      // cyan -> red, value and saturation kept
    for (int ch = 0; ch < 3; ++ch) {
        CHECK(red[static_cast<std::size_t>(ch)] == Approx(std::array{255, 255, 0}[static_cast<std::size_t>(ch)]).margin(1e-3));
        CHECK(teal[static_cast<std::size_t>(ch)] == Approx(std::array{128, 0, 0}[static_cast<std::size_t>(ch)]).margin(1e-3));
    }
    CHECK(test::error_message<ValueError>([&] { vision::adjust_hue(red.data(), 1, 1, 3, 0.7); }) ==
          "adjust_hue: the shift must lie in [-0.5, 0.5], got 0.7");
    std::vector<float> gray(4);
    CHECK(test::error_message<ValueError>([&] { vision::adjust_saturation(gray.data(), 2, 2, 1, 0.5); }) ==
          "adjust_saturation: needs an RGB image (3 channels), got 1 channel(s)");
    CHECK(test::error_message<ValueError>([&] { vision::adjust_contrast(red.data(), 1, 1, 3, -0.5); }) ==
          "adjust_contrast: the factor must be finite and >= 0, got -0.5");
    CHECK(test::error_message<ValueError>([&] { vision::adjust_brightness(red.data(), 1, 1, 3, std::nan("")); }) ==
          "adjust_brightness: the factor must be finite and >= 0, got nan");
    CHECK(test::error_message<ValueError>([&] { vision::adjust_hue(red.data(), -1, 1, 3, 0.1); }) ==
          "adjust_hue: negative image size -1x1");
    std::vector<float> odd{std::nanf(""), 10, 20, 0, 0, 0};  // a NaN pixel is left alone, not undefined behaviour
    vision::adjust_hue(odd.data(), 1, 2, 3, 0.25);
    CHECK(std::isnan(odd[0]));
    CHECK(odd[1] == 10.0f);
    CHECK(odd[5] == 0.0f);
}

TEST_CASE("ColorJitter draws an order and factors as torchvision and applies the adjustments in that order", "[data][augment][color]") {
    const int h = 4, w = 5;
    const vision::ColorJitter jitter(0.3, 0.2, 0.4, 0.05);
    for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
        CAPTURE(seed);
        auto a = random_rgb(h, w, seed), b = a;
        Generator g1(seed), g2(seed);
        jitter(a.data(), h, w, 3, g1);
        // the same draws by hand: a permutation (Fisher-Yates), then the four factors
        std::array<int, 4> order{0, 1, 2, 3};
        for (std::size_t i = 3; i > 0; --i) std::swap(order[i], order[g2.below(i + 1)]);
        const double fb = g2.uniform(0.7, 1.3), fc = g2.uniform(0.8, 1.2), fs = g2.uniform(0.6, 1.4);
        const double fh = g2.uniform(-0.05, 0.05);
        for (int op : order) {
            if (op == 0) vision::adjust_brightness(b.data(), h, w, 3, fb);
            if (op == 1) vision::adjust_contrast(b.data(), h, w, 3, fc);
            if (op == 2) vision::adjust_saturation(b.data(), h, w, 3, fs);
            if (op == 3) vision::adjust_hue(b.data(), h, w, 3, fh);
        }
        for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == Approx(b[i]).margin(1e-3));
        CHECK(g1.next_u64() == g2.next_u64());  // nothing else drawn
    }
    // brightness alone: every value scaled by one factor in [1 - b, 1 + b]
    Generator gen(8);
    for (int i = 0; i < 20; ++i) {
        std::vector<float> v{100, 50, 20};
        vision::ColorJitter(0.25, 0, 0, 0)(v.data(), 1, 1, 3, gen);
        const double f = v[0] / 100.0;
        REQUIRE(f >= 0.75 - 1e-6);
        REQUIRE(f <= 1.25 + 1e-6);
        REQUIRE(v[1] == Approx(50 * f).margin(1e-3));
    }
    CHECK_FALSE(vision::ColorJitter{}.enabled());
    CHECK(test::error_message<ValueError>([] { vision::ColorJitter(0.1, -0.2, 0, 0); }) ==
          "ColorJitter: brightness, contrast and saturation must be finite and >= 0, got (0.1, -0.2, 0)");
    CHECK(test::error_message<ValueError>([] { vision::ColorJitter(0, 0, 0, 0.6); }) ==
          "ColorJitter: hue must lie in [0, 0.5], got 0.6");
}
