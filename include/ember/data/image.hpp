// ember/data/image.hpp - Image (8-bit, HWC, RGB), decoding with stb_image and TensorFlow's bilinear resize.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/tensor.hpp"
#include "ember/data/stb_image_impl.hpp"

namespace ember::data {

/// An 8-bit image, rows top to bottom, channels interleaved (HWC).
struct Image {
    int height = 0, width = 0, channels = 0;
    std::vector<std::uint8_t> pixels;  // height * width * channels
    [[nodiscard]] std::uint8_t at(int y, int x, int c) const {
        return pixels[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) *
                          static_cast<std::size_t>(channels) + static_cast<std::size_t>(c)];
    }
};

/// Size and channel count of an image file without decoding it (JPEG, PNG, BMP, GIF). Throws IoError.
struct ImageInfo {
    int height = 0, width = 0, channels = 0;
};
inline ImageInfo probe_image(const std::filesystem::path& path) {
    ImageInfo info;
    if (!stbi_info(path.string().c_str(), &info.width, &info.height, &info.channels))
        throw IoError(ember::detail::cat("cannot read image '", path.string(), "': ", stbi_failure_reason()));
    return info;
}

/// Decodes a JPEG, PNG, BMP or GIF file to 3-channel RGB (grayscale is repeated, alpha dropped, as Keras'
/// decode_image(channels=3) does). Throws IoError naming the file: missing, unreadable, not an image, truncated
/// or corrupt, or of zero size.
inline Image decode_image(const std::filesystem::path& path) {
    std::error_code ec;
    EMBER_CHECK(std::filesystem::is_regular_file(path, ec), IoError, "cannot decode '", path.string(),
                "': no such file");
    EMBER_CHECK(std::filesystem::file_size(path, ec) > 0, IoError, "cannot decode '", path.string(),
                "': the file is empty");
    int w = 0, h = 0, c = 0;
    stbi_uc* data = stbi_load(path.string().c_str(), &w, &h, &c, 3);
    if (!data)
        throw IoError(ember::detail::cat("cannot decode '", path.string(), "': ", stbi_failure_reason(),
                                  " (not a valid JPEG/PNG/BMP/GIF file, or truncated)"));
    Image img;
    img.height = h;
    img.width = w;
    img.channels = 3;
    img.pixels.assign(data, data + static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    stbi_image_free(data);
    EMBER_CHECK(w > 0 && h > 0, IoError, "cannot decode '", path.string(), "': the image has zero width or height");
    return img;
}

namespace detail {
/// TensorFlow's half-pixel sampling positions for one axis (tf.image.resize, bilinear, antialias=False).
struct Taps {
    std::vector<int> lo, hi;
    std::vector<float> frac;
};
inline Taps half_pixel_taps(int in, int out) {
    Taps t;
    const double scale = static_cast<double>(in) / out;
    for (int i = 0; i < out; ++i) {
        const double src = (i + 0.5) * scale - 0.5;
        const double fl = std::floor(src);
        t.lo.push_back(std::max(static_cast<int>(fl), 0));
        t.hi.push_back(std::min(static_cast<int>(std::ceil(src)), in - 1));
        t.frac.push_back(static_cast<float>(src - fl));
    }
    return t;
}
}  // namespace detail

/// Resizes bilinearly to out_h x out_w exactly as tf.image.resize(method='bilinear', antialias=False) does
/// (half-pixel centres, edges clamped, aspect ratio not kept), writing float values in [0, 255] to `out`
/// (out_h * out_w * channels, HWC).
inline void resize_bilinear(const Image& img, int out_h, int out_w, float* out) {
    EMBER_CHECK(out_h > 0 && out_w > 0, ValueError, "resize_bilinear: target size must be positive, got ", out_h, "x",
                out_w);
    const auto ty = detail::half_pixel_taps(img.height, out_h);
    const auto tx = detail::half_pixel_taps(img.width, out_w);
    const int c = img.channels;
    for (int y = 0; y < out_h; ++y) {
        const float fy = ty.frac[static_cast<std::size_t>(y)];
        const int y0 = ty.lo[static_cast<std::size_t>(y)], y1 = ty.hi[static_cast<std::size_t>(y)];
        for (int x = 0; x < out_w; ++x) {
            const float fx = tx.frac[static_cast<std::size_t>(x)];
            const int x0 = tx.lo[static_cast<std::size_t>(x)], x1 = tx.hi[static_cast<std::size_t>(x)];
            for (int ch = 0; ch < c; ++ch) {
                const float top = img.at(y0, x0, ch) + (img.at(y0, x1, ch) - static_cast<float>(img.at(y0, x0, ch))) * fx;
                const float bottom = img.at(y1, x0, ch) + (img.at(y1, x1, ch) - static_cast<float>(img.at(y1, x0, ch))) * fx;
                out[(static_cast<std::size_t>(y) * static_cast<std::size_t>(out_w) + static_cast<std::size_t>(x)) *
                        static_cast<std::size_t>(c) + static_cast<std::size_t>(ch)] = top + (bottom - top) * fy;
            }
        }
    }
}

/// The resized image as bytes (rounded to nearest), for compact caching. Identity when the size already matches.
inline Image resize_bilinear_u8(const Image& img, int out_h, int out_w) {
    if (img.height == out_h && img.width == out_w) return img;
    std::vector<float> f(static_cast<std::size_t>(out_h) * static_cast<std::size_t>(out_w) * static_cast<std::size_t>(img.channels));
    resize_bilinear(img, out_h, out_w, f.data());
    Image out{out_h, out_w, img.channels, std::vector<std::uint8_t>(f.size())};
    for (std::size_t i = 0; i < f.size(); ++i)
        out.pixels[i] = static_cast<std::uint8_t>(std::lround(std::clamp(f[i], 0.0f, 255.0f)));
    return out;
}

/// Decodes `path` and resizes it to out_h x out_w: a [1, out_h, out_w, 3] float tensor with values 0..255.
inline Tensor<float> load_image_tensor(const std::filesystem::path& path, int out_h, int out_w) {
    const Image img = decode_image(path);
    auto t = Tensor<float>::empty({1, out_h, out_w, 3});
    resize_bilinear(img, out_h, out_w, t.data());
    return t;
}

}  // namespace ember::data
