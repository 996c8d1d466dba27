// ember/vision/color.hpp - colour constancy: Shades of Gray (Finlayson & Trezzi, 2004), the preprocessing that makes
// images from different cameras and lights look alike (medical-imaging challenge winners used it); and a fixed
// per-channel gain, which puts such a difference of camera or light on an image.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "ember/core/error.hpp"
#include "ember/vision/image.hpp"

namespace ember::vision {

namespace detail {
/// Every byte of an interleaved RGB image of `pixels` pixels replaced by its channel's table entry.
inline void map_channels(std::uint8_t* rgb, std::size_t pixels, const std::array<std::array<std::uint8_t, 256>, 3>& lut) {
    for (std::size_t i = 0; i < pixels; ++i)
        for (std::size_t c = 0; c < 3; ++c) rgb[3 * i + c] = lut[c][rgb[3 * i + c]];
}
}  // namespace detail

/// The per-channel gains Shades of Gray applies to an interleaved RGB image of `pixels` pixels: with the
/// illuminant estimated per channel as the Minkowski p-mean e_c = (mean over pixels of v_c^p)^(1/p), gain
/// g_c = |e| / (sqrt(3) e_c), which maps the illuminant (e_R, e_G, e_B) onto the gray (|e|, |e|, |e|) / sqrt(3) of
/// the same length. p = 1 is Gray World, p -> infinity White Patch (max-RGB); p = 6 is the usual choice
/// (Finlayson & Trezzi's best norm). A channel that is zero everywhere gets gain 1 (there is no light to
/// correct), as do all three when the image is black. Throws ValueError for p < 1 or a non-finite p.
inline std::array<double, 3> shades_of_gray_gains(const std::uint8_t* rgb, std::size_t pixels, double p = 6) {
    EMBER_CHECK(std::isfinite(p) && p >= 1, ValueError, "shades_of_gray: the Minkowski norm p must be finite and >= 1, got ", p);
    std::array<double, 256> power{};  // (v / 255)^p: the sums stay near 1 whatever p is
    for (int v = 0; v < 256; ++v) power[static_cast<std::size_t>(v)] = std::pow(v / 255.0, p);
    std::array<double, 3> sum{0, 0, 0};
    for (std::size_t i = 0; i < pixels; ++i)
        for (std::size_t c = 0; c < 3; ++c) sum[c] += power[rgb[3 * i + c]];
    std::array<double, 3> e{}, gain{1, 1, 1};
    double norm2 = 0;
    for (std::size_t c = 0; c < 3; ++c) {
        e[c] = pixels ? std::pow(sum[c] / static_cast<double>(pixels), 1 / p) : 0.0;
        norm2 += e[c] * e[c];
    }
    const double gray = std::sqrt(norm2 / 3);  // |e| / sqrt(3)
    for (std::size_t c = 0; c < 3; ++c)
        if (e[c] > 0) gain[c] = gray / e[c];
    return gain;
}

/// Shades of Gray colour constancy in place on an interleaved RGB byte image of `pixels` pixels: every channel
/// multiplied by its gain (shades_of_gray_gains), rounded to the nearest byte and clipped at 255.
inline void shades_of_gray(std::uint8_t* rgb, std::size_t pixels, double p = 6) {
    const std::array<double, 3> gain = shades_of_gray_gains(rgb, pixels, p);
    std::array<std::array<std::uint8_t, 256>, 3> lut{};  // the corrected value of each byte, per channel
    for (std::size_t c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v)
            lut[c][static_cast<std::size_t>(v)] = static_cast<std::uint8_t>(std::min(255.0, std::floor(v * gain[c] + 0.5)));
    detail::map_channels(rgb, pixels, lut);
}

/// A fixed white balance in place on an interleaved RGB byte image of `pixels` pixels: R, G and B multiplied by
/// gain[0], gain[1] and gain[2], rounded to the nearest byte (halves away from zero, as std::round) and clipped to
/// 0-255. It puts on an image the colour cast of another camera or light, e.g. to test
/// how a model's scores move under it. Throws ValueError unless every gain is finite and in (0, 10).
inline void apply_channel_gains(std::uint8_t* rgb, std::size_t pixels, const std::array<double, 3>& gain) {
    for (std::size_t c = 0; c < 3; ++c)
        EMBER_CHECK(std::isfinite(gain[c]) && gain[c] > 0 && gain[c] < 10, ValueError,
                    "apply_channel_gains: the gain of ", "RGB"[c], " must be in (0, 10), got ", gain[c]);
    std::array<std::array<std::uint8_t, 256>, 3> lut{};  // the cast value of each byte, per channel
    for (std::size_t c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v)
            lut[c][static_cast<std::size_t>(v)] =
                static_cast<std::uint8_t>(std::clamp(std::round(v * gain[c]), 0.0, 255.0));
    detail::map_channels(rgb, pixels, lut);
}

/// Shades of Gray on an Image (3 channels). Throws ShapeError for another channel count or an invalid image.
inline void shades_of_gray(Image& img, double p = 6) {
    EMBER_CHECK(img.valid() && img.channels == 3, ShapeError, "shades_of_gray: expected a valid RGB image, got ",
                img.height, "x", img.width, "x", img.channels, " with ", img.pixels.size(), " bytes");
    shades_of_gray(img.pixels.data(), static_cast<std::size_t>(img.height) * static_cast<std::size_t>(img.width), p);
}

}  // namespace ember::vision
