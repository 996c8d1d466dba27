// examples/melanoma/explain.cpp - `melanoma predict --explain DIR`: Grad-CAM heat maps (ember::nn::grad_cam) of
// the predicted class and of melanoma, laid over the image as PNG files, so that a reader sees which part of the
// lesion moved the score.
#include "explain.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include <ember/nn/grad_cam.hpp>

// stb_image_write as this file's own static functions: no other translation unit sees its symbols.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wshadow"
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif
#pragma GCC diagnostic pop

using namespace ember;

namespace melanoma {

namespace {

/// A heat value in [0, 1] as a colour: dark blue through cyan, yellow to red (the usual "jet" ramp of Grad-CAM
/// figures), so that the hottest places read at a glance.
std::array<float, 3> jet(float v) {
    const auto ramp = [](float x) { return std::clamp(1.5f - std::fabs(x), 0.0f, 1.0f); };
    return {ramp(4 * v - 3), ramp(4 * v - 2), ramp(4 * v - 1)};
}

/// `image` ([1, H, W, 3], values 0..255) with `heat` ([H, W] in [0, 1]) laid over it, as RGB bytes: the image
/// dimmed to 60% plus the colour of the heat, weighted by the heat (cold places keep the lesion visible).
std::vector<std::uint8_t> overlay(const Tensor<float>& image, const Tensor<float>& heat) {
    const index_t pixels = heat.numel();
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(pixels) * 3);
    for (index_t i = 0; i < pixels; ++i) {
        const float h = std::isfinite(heat.data()[i]) ? heat.data()[i] : 0.0f;  // a NaN would make the cast undefined
        const auto colour = jet(h);
        const float alpha = 0.25f + 0.5f * h;
        for (int c = 0; c < 3; ++c) {
            const float v = (1 - alpha) * image.data()[i * 3 + c] + alpha * 255.0f * colour[static_cast<std::size_t>(c)];
            rgb[static_cast<std::size_t>(i * 3 + c)] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 255.0f) + 0.5f);
        }
    }
    return rgb;
}

/// A class name as part of a file name: letters and digits kept, the rest '-'.
std::string file_part(const std::string& name) {
    std::string s;
    for (const char ch : name) s += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '-';
    return s;
}

}  // namespace

json explain_image(nn::Sequential<float>& model, const Tensor<float>& image, const std::string& stem,
                   const std::vector<std::string>& names, int predicted, int mel, const fs::path& dir) {
    const std::size_t layer = nn::last_spatial_layer(model);
    const index_t height = image.size(1), width = image.size(2);
    json files = json::array();
    std::vector<int> classes{predicted};
    if (mel >= 0 && mel != predicted) classes.push_back(mel);
    for (const int c : classes) {
        const nn::GradCamMap<float> map = nn::grad_cam(model, image, layer, c);
        const Tensor<float> heat = nn::upsample_heat_map(map.heat, height, width);
        const auto rgb = overlay(image, heat);
        const fs::path file = dir / (stem + "-gradcam-" + file_part(names[static_cast<std::size_t>(c)]) + ".png");
        if (stbi_write_png(file.c_str(), static_cast<int>(width), static_cast<int>(height), 3, rgb.data(),
                           static_cast<int>(width) * 3) == 0)
            throw IoError("predict --explain: could not write " + file.string());
        files.push_back({{"class", names[static_cast<std::size_t>(c)]}, {"file", file.string()}});
    }
    return files;
}

}  // namespace melanoma
