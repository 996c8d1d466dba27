// Tests of ember/vision/color.hpp (Shades of Gray colour constancy, a fixed per-channel gain) against direct
// double-precision references, and of Shades of Gray's use by load_images / load_image_tensor.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include <ember/vision/color.hpp>
#include <ember/vision/image_folder.hpp>

#include "helpers.hpp"
#include "image_files.hpp"

using namespace ember;

namespace {
/// The definition, with std::pow on every pixel (no table): the gains, then every byte scaled, rounded, clipped.
std::array<double, 3> reference_gains(const std::vector<std::uint8_t>& rgb, double p) {
    const std::size_t n = rgb.size() / 3;
    std::array<double, 3> e{};
    for (std::size_t c = 0; c < 3; ++c) {
        double s = 0;
        for (std::size_t i = 0; i < n; ++i) s += std::pow(static_cast<double>(rgb[3 * i + c]), p);
        e[c] = std::pow(s / static_cast<double>(n), 1 / p);
    }
    const double norm = std::sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]);
    std::array<double, 3> g{};
    for (std::size_t c = 0; c < 3; ++c) g[c] = e[c] > 0 ? norm / (std::sqrt(3.0) * e[c]) : 1.0;
    return g;
}

std::vector<std::uint8_t> reference_corrected(std::vector<std::uint8_t> rgb, double p) {
    const auto g = reference_gains(rgb, p);
    for (std::size_t i = 0; i < rgb.size(); ++i)
        rgb[i] = static_cast<std::uint8_t>(std::min(255.0, std::floor(rgb[i] * g[i % 3] + 0.5)));
    return rgb;
}

/// A w x h image whose channels are one pattern scaled by a colour cast (a reddish light, say).
std::vector<std::uint8_t> cast_image(int w, int h, double r, double g, double b) {
    std::vector<std::uint8_t> px;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const double v = 40 + (y * 29 + x * 13) % 160;
            for (double k : {r, g, b}) px.push_back(static_cast<std::uint8_t>(std::lround(v * k)));
        }
    return px;
}
}  // namespace

TEST_CASE("shades_of_gray matches the definition computed directly", "[data][color]") {
    for (double p : {1.0, 2.0, 6.0, 12.0}) {
        CAPTURE(p);
        std::vector<std::uint8_t> px = cast_image(23, 17, 1.2, 0.9, 0.55);
        const auto g = vision::shades_of_gray_gains(px.data(), px.size() / 3, p);
        const auto ref = reference_gains(px, p);
        for (std::size_t c = 0; c < 3; ++c) CHECK(g[c] == Approx(ref[c]).epsilon(1e-12));
        const auto expected = reference_corrected(px, p);
        vision::shades_of_gray(px.data(), px.size() / 3, p);
        CHECK(px == expected);
    }
}

TEST_CASE("shades_of_gray removes a colour cast and leaves gray images alone", "[data][color]") {
    // A cast image becomes (nearly) gray: its three channels were one pattern times a per-channel factor, and the
    // gains undo exactly those factors (up to the rounding of the cast image itself).
    std::vector<std::uint8_t> px = cast_image(30, 20, 1.25, 0.95, 0.6);
    vision::shades_of_gray(px.data(), px.size() / 3);
    int worst = 0;
    for (std::size_t i = 0; i < px.size(); i += 3)
        worst = std::max({worst, std::abs(px[i] - px[i + 1]), std::abs(px[i] - px[i + 2])});
    CHECK(worst <= 2);
    // Gray in, gray out: R = G = B gives gains of 1.
    std::vector<std::uint8_t> gray = cast_image(9, 7, 1, 1, 1);
    const auto before = gray;
    for (double g : vision::shades_of_gray_gains(gray.data(), gray.size() / 3)) CHECK(g == Approx(1).epsilon(1e-12));
    vision::shades_of_gray(gray.data(), gray.size() / 3);
    CHECK(gray == before);
    // A strong gain clips at 255 instead of wrapping around (Gray World, p = 1: blue's gain is about 13).
    std::vector<std::uint8_t> dim_blue = {250, 250, 10, 240, 240, 20};
    vision::shades_of_gray(dim_blue.data(), 2, 1);
    CHECK(dim_blue[0] < 250);
    CHECK(dim_blue[2] > 20);
    CHECK(dim_blue[5] == 255);
}

TEST_CASE("shades_of_gray: dark channels, black images and bad arguments", "[data][color][errors]") {
    std::vector<std::uint8_t> no_blue = {100, 50, 0, 200, 30, 0};
    const auto g = vision::shades_of_gray_gains(no_blue.data(), 2);
    CHECK(g[2] == 1.0);  // no light in that channel: nothing to scale
    vision::shades_of_gray(no_blue.data(), 2);
    CHECK(no_blue[2] == 0);
    CHECK(no_blue[5] == 0);
    std::vector<std::uint8_t> black(12, 0);
    vision::shades_of_gray(black.data(), 4);
    CHECK(black == std::vector<std::uint8_t>(12, 0));
    CHECK_THAT(test::error_message<ValueError>([&] { vision::shades_of_gray(black.data(), 4, 0.5); }),
               Catch::Contains("Minkowski norm p must be finite and >= 1, got 0.5"));
    CHECK_THAT(test::error_message<ValueError>([&] { vision::shades_of_gray(black.data(), 4, std::nan("")); }),
               Catch::Contains("must be finite"));
    vision::Image rgba{2, 2, 4, std::vector<std::uint8_t>(16, 9)};
    CHECK_THAT(test::error_message<ShapeError>([&] { vision::shades_of_gray(rgba); }),
               Catch::Contains("expected a valid RGB image, got 2x2x4"));
}

TEST_CASE("load_images and load_image_tensor apply Shades of Gray to every resized image", "[data][color][folder]") {
    const auto root = test::fresh_dir("color-load");
    test::write_image(root / "a" / "1.png", 8, 6, 3, 1);
    test::write_image(root / "b" / "2.png", 5, 5, 1, 2);
    const auto index = vision::index_image_folder(root);
    vision::LoadOptions o;
    o.height = o.width = 5;
    const auto plain = vision::load_images(index, o);
    o.shades_of_gray = 6;
    const auto corrected = vision::load_images(index, o);
    REQUIRE(corrected.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        std::vector<std::uint8_t> expected(plain.image(i), plain.image(i) + plain.image_bytes());
        vision::shades_of_gray(expected.data(), 25, 6);
        CHECK(std::equal(expected.begin(), expected.end(), corrected.image(i)));
        const Tensor<float> t = vision::load_image_tensor(index.files[i].path, o);
        CHECK(t.shape() == Shape{1, 5, 5, 3});
        for (std::size_t k = 0; k < expected.size(); ++k) REQUIRE(t.data()[k] == static_cast<float>(expected[k]));
    }
    CHECK(!std::equal(plain.pixels.begin(), plain.pixels.end(), corrected.pixels.begin()));  // the colour pattern changed
    o.shades_of_gray = 0.5;
    CHECK_THAT(test::error_message<ValueError>([&] { vision::load_images(index, o); }),
               Catch::Contains("shades_of_gray must be 0 (off) or a Minkowski norm >= 1, got 0.5"));
}

TEST_CASE("apply_channel_gains: each channel times its gain, rounded half away from zero and clipped", "[data][color]") {
    // every byte value in each channel, so each channel's whole table is checked against the definition
    std::vector<std::uint8_t> rgb;
    for (int v = 0; v < 256; ++v) {
        const auto b = static_cast<std::uint8_t>(v);
        rgb.insert(rgb.end(), {b, b, b});
    }
    const std::array<double, 3> gain{0.9163, 1.0, 2.5};
    std::vector<std::uint8_t> cast = rgb;
    vision::apply_channel_gains(cast.data(), 256, gain);
    for (std::size_t i = 0; i < cast.size(); ++i) {
        const double want = std::min(255.0, std::round(rgb[i] * gain[i % 3]));
        REQUIRE(cast[i] == static_cast<std::uint8_t>(want));
    }
    CHECK(cast[3 * 1 + 2] == 3);      // 1 x 2.5 = 2.5 rounds away from zero
    CHECK(cast[3 * 3 + 2] == 8);      // 3 x 2.5 = 7.5
    CHECK(cast[3 * 200 + 2] == 255);  // 500 clipped
    for (const auto& bad : {std::array<double, 3>{0, 1, 1}, std::array<double, 3>{1, -1, 1}, std::array<double, 3>{1, 1, 10},
                            std::array<double, 3>{1, 1, std::nan("")}}) {
        std::vector<std::uint8_t> px = rgb;
        CHECK_THAT(test::error_message<ValueError>([&] { vision::apply_channel_gains(px.data(), 256, bad); }),
                   Catch::Contains("apply_channel_gains: the gain of ") && Catch::Contains(" must be in (0, 10), got "));
        CHECK(px == rgb);  // refused before any byte changed
    }
}
