// tests/image_files.hpp - writes test images with stb_image_write (private copy) and makes temp folders.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif
#pragma GCC diagnostic pop

#include "helpers.hpp"

namespace ember::test {

/// A fresh, empty folder in this test process's scratch folder.
inline std::filesystem::path fresh_dir(const std::string& name) {
    const auto dir = scratch_root() / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

/// Pixel (y, x, c) of a deterministic test pattern.
inline std::uint8_t pattern(int y, int x, int c, int salt = 0) {
    return static_cast<std::uint8_t>((y * 37 + x * 11 + c * 71 + salt * 13) % 256);
}

/// Writes the w x h image `px` (row-major, `channels` interleaved) as PNG (lossless), BMP or JPEG, by extension.
inline void write_pixels(const std::filesystem::path& p, int w, int h, int channels, const std::vector<std::uint8_t>& px) {
    std::filesystem::create_directories(p.parent_path());
    if (p.extension() == ".bmp") stbi_write_bmp(p.string().c_str(), w, h, channels, px.data());
    else if (p.extension() == ".jpg") stbi_write_jpg(p.string().c_str(), w, h, channels, px.data(), 95);
    else stbi_write_png(p.string().c_str(), w, h, channels, px.data(), w * channels);
}

/// Writes a w x h image with `channels` channels, filled with pattern(salt) (write_pixels says which format).
inline void write_image(const std::filesystem::path& p, int w, int h, int channels, int salt = 0) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * channels));
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < channels; ++c) px[static_cast<std::size_t>((y * w + x) * channels + c)] = pattern(y, x, c, salt);
    write_pixels(p, w, h, channels, px);
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
}

}  // namespace ember::test
