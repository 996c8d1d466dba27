// ember/data/augment.hpp - image augmentation on HWC float images: Keras' RandomFlip / RandomRotation /
// RandomZoom (reflect fill, bilinear), and the Augmentor recipe used to rebalance classes (rotate by up to
// +-10 degrees, crop to the largest same-aspect rectangle without fill, resize back).
#pragma once

#include <cmath>
#include <numbers>
#include <span>
#include <vector>

#include "ember/core/random.hpp"
#include "ember/data/image_folder.hpp"

namespace ember::data {

namespace detail {
/// Keras' 'reflect' fill: (d c b a | a b c d | d c b a), i.e. reflection about the outer edge of the border pixel.
inline float reflect_coord(float v, int n) {
    if (n == 1) return 0.0f;
    const float period = 2.0f * static_cast<float>(n);
    v = std::fmod(v + 0.5f, period);
    if (v < 0) v += period;
    if (v >= static_cast<float>(n)) v = period - v;
    return std::clamp(v - 0.5f, 0.0f, static_cast<float>(n - 1));
}

/// out(x, y) = in(M * ((x, y) - centre) + centre) for pixel centres, bilinear, reflect fill.
/// m = {m00, m01, m10, m11} maps output offsets to input offsets (x right, y down).
inline void affine_resample(const float* in, int h, int w, int c, const float m[4], float* out) {
    const float cx = 0.5f * static_cast<float>(w), cy = 0.5f * static_cast<float>(h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const float dx = static_cast<float>(x) + 0.5f - cx, dy = static_cast<float>(y) + 0.5f - cy;
            const float sx = reflect_coord(m[0] * dx + m[1] * dy + cx - 0.5f, w);
            const float sy = reflect_coord(m[2] * dx + m[3] * dy + cy - 0.5f, h);
            const int x0 = static_cast<int>(sx), y0 = static_cast<int>(sy);
            const int x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
            const float fx = sx - static_cast<float>(x0), fy = sy - static_cast<float>(y0);
            float* o = out + (static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) * static_cast<std::size_t>(c);
            auto px = [&](int yy, int xx) { return in + (static_cast<std::size_t>(yy) * static_cast<std::size_t>(w) + static_cast<std::size_t>(xx)) * static_cast<std::size_t>(c); };
            const float *p00 = px(y0, x0), *p01 = px(y0, x1), *p10 = px(y1, x0), *p11 = px(y1, x1);
            for (int ch = 0; ch < c; ++ch) {
                const float top = p00[ch] + (p01[ch] - p00[ch]) * fx;
                const float bottom = p10[ch] + (p11[ch] - p10[ch]) * fx;
                o[ch] = top + (bottom - top) * fy;
            }
        }
}
}  // namespace detail

/// Flips an HWC image left-right (`horizontal`) and/or top-bottom in place.
inline void flip(float* img, int h, int w, int c, bool horizontal, bool vertical) {
    const auto at = [&](int y, int x) { return img + (static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) * static_cast<std::size_t>(c); };
    if (horizontal)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w / 2; ++x) std::swap_ranges(at(y, x), at(y, x) + c, at(y, w - 1 - x));
    if (vertical)
        for (int y = 0; y < h / 2; ++y) std::swap_ranges(at(y, 0), at(y, 0) + static_cast<std::ptrdiff_t>(w) * c, at(h - 1 - y, 0));
}

/// Rotates an HWC image about its centre by `radians` (counter-clockwise as displayed), zooming by `zoom` (> 1
/// zooms out: the content shrinks), with bilinear sampling and reflect fill, in place.
inline void rotate_zoom(float* img, int h, int w, int c, double radians, double zoom = 1.0) {
    const float cs = static_cast<float>(std::cos(radians) * zoom), sn = static_cast<float>(std::sin(radians) * zoom);
    const float m[4] = {cs, -sn, sn, cs};
    std::vector<float> out(static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * static_cast<std::size_t>(c));
    detail::affine_resample(img, h, w, c, m, out.data());
    std::copy(out.begin(), out.end(), img);
}

/// Keras' augmentation layers of the reference model's second variant: RandomFlip('horizontal_and_vertical'),
/// RandomRotation(rotation) (angle uniform in +-rotation * 2 pi), RandomZoom((zoom_min, zoom_max)) (positive
/// factors zoom out by 1 + factor), reflect fill, bilinear.
struct AugmentOptions {
    bool flip = true;
    double rotation = 0.2;
    double zoom_min = 0.2, zoom_max = 0.3;
};

/// Applies AugmentOptions' random transforms to one HWC float image, drawing from `gen`.
inline void random_augment(float* img, int h, int w, int c, const AugmentOptions& o, Generator& gen) {
    if (o.flip) {
        const bool hf = gen.uniform() < 0.5, vf = gen.uniform() < 0.5;
        flip(img, h, w, c, hf, vf);
    }
    const double angle = o.rotation > 0 ? gen.uniform(-o.rotation, o.rotation) * 2 * std::numbers::pi : 0.0;
    const double zoom = 1.0 + (o.zoom_max > o.zoom_min ? gen.uniform(o.zoom_min, o.zoom_max) : o.zoom_min);
    if (angle != 0.0 || zoom != 1.0) rotate_zoom(img, h, w, c, angle, zoom);
}

/// Scale of the largest rectangle with the image's aspect ratio, centred, that fits inside the image rotated by
/// `radians`: the crop that leaves no fill (Augmentor's RotateRange crop).
inline double inscribed_scale(int h, int w, double radians) {
    const double a = std::abs(std::sin(radians)), b = std::abs(std::cos(radians));
    return std::min(w / (w * b + h * a), h / (w * a + h * b));
}

/// Augmentor's rotate(probability, max_left, max_right) on one image: with probability `probability` an integer
/// angle is drawn as Augmentor does (left or right with equal odds, then uniform in [-max, 0] or [0, max], so 0
/// can come up), the image is rotated, cropped to the largest same-aspect rectangle without fill and resized back;
/// otherwise the image is returned unchanged.
inline Image augmentor_rotate(const Image& img, Generator& gen, double probability = 0.7, int max_degrees = 10) {
    if (gen.uniform() >= probability) return img;
    const bool left = gen.below(2) == 0;
    const int degrees = left ? -static_cast<int>(gen.below(static_cast<std::uint64_t>(max_degrees) + 1))
                             : static_cast<int>(gen.below(static_cast<std::uint64_t>(max_degrees) + 1));
    if (degrees == 0) return img;
    const double rad = degrees * std::numbers::pi / 180.0;
    const double s = inscribed_scale(img.height, img.width, rad);
    std::vector<float> f(img.pixels.begin(), img.pixels.end()), out(f.size());
    const float cs = static_cast<float>(std::cos(rad) * s), sn = static_cast<float>(std::sin(rad) * s);
    const float m[4] = {cs, -sn, sn, cs};
    detail::affine_resample(f.data(), img.height, img.width, img.channels, m, out.data());
    Image r = img;
    for (std::size_t i = 0; i < out.size(); ++i)
        r.pixels[i] = static_cast<std::uint8_t>(std::lround(std::clamp(out[i], 0.0f, 255.0f)));
    return r;
}

/// The Augmentor rebalancing of the seed project, applied to the training side only: for every class, `per_class`
/// images are drawn with replacement from that class's training images, passed through augmentor_rotate, appended
/// to `set`, and their indices appended to `train`. Deterministic for a seed.
inline void rebalance(ImageSet& set, std::vector<std::size_t>& train, int per_class, std::uint64_t seed) {
    EMBER_CHECK(per_class >= 0, ValueError, "rebalance: samples per class must be >= 0, got ", per_class);
    if (per_class == 0) return;
    std::vector<std::vector<std::size_t>> by_class(set.class_names.size());
    for (std::size_t i : train) by_class[static_cast<std::size_t>(set.labels[i])].push_back(i);
    Generator gen(seed);
    for (std::size_t c = 0; c < by_class.size(); ++c) {
        if (by_class[c].empty()) continue;
        for (int k = 0; k < per_class; ++k) {
            const std::size_t src = by_class[c][gen.below(by_class[c].size())];
            Image img{set.height, set.width, 3, std::vector<std::uint8_t>(set.image(src), set.image(src) + set.image_bytes())};
            set.push_back(augmentor_rotate(img, gen), set.labels[src], set.paths[src]);
            train.push_back(set.size() - 1);
        }
    }
}

}  // namespace ember::data
