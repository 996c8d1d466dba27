// ember/vision/augment.hpp - augmentation of HWC float images (values 0..255): Keras' RandomFlip / RandomRotation /
// RandomZoom (bilinear, 'reflect' fill by default), a random horizontal stretch (RandomAspect), the Augmentor
// recipe used to rebalance classes (rotate by up to +-10 degrees, crop to the largest same-aspect rectangle without
// fill, resize back), torchvision's ColorJitter (brightness, contrast, saturation, hue) and a random per-channel
// gain (RandomChannelGain, a white-balance jitter) for colour differences between cameras and clinics.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>
#include <sstream>
#include <vector>

#include <unistd.h>

#include "ember/core/error.hpp"
#include "ember/core/random.hpp"
#include "ember/vision/image_folder.hpp"
#include "ember/core/parallel.hpp"

namespace ember::vision {

/// What a transform samples outside the image (Keras' fill_mode):
/// reflect  (d c b a | a b c d | d c b a), mirrored about the outer edge of the border pixel (Keras' default);
/// nearest  (a a a a | a b c d | d d d d);
/// constant (k k k k | a b c d | k k k k) with k = fill_value.
enum class FillMode { reflect, nearest, constant };

namespace detail {
/// Maps a source coordinate (in pixel indices, pixel centres at integers) into [0, n - 1] for reflect / nearest,
/// as TensorFlow's ImageProjectiveTransform does before it interpolates.
inline float map_coord(float v, int n, FillMode mode) {
    if (n <= 1) return 0.0f;
    const auto len = static_cast<float>(n);
    if (mode == FillMode::reflect && (v < 0 || v > len - 1)) {
        // reflect about -0.5 and n - 0.5: fold into one period of 2n, then mirror the upper half
        const float period = 2.0f * len;
        float u = std::fmod(v + 0.5f, period);
        if (u < 0) u += period;
        if (u >= len) u = period - u;
        v = u - 0.5f;
    }
    return std::clamp(v, 0.0f, len - 1);
}

/// Keras' 'reflect' fill for one coordinate (kept for callers of the earlier name).
inline float reflect_coord(float v, int n) { return map_coord(v, n, FillMode::reflect); }

/// The source point sampled for output pixel (y, x) by affine_transform with matrix m (see there):
/// {source x, source y} in pixel indices, before any fill mapping.
inline std::array<float, 2> affine_source(const std::array<float, 4>& m, int h, int w, int y, int x) {
    const float cx = 0.5f * static_cast<float>(w), cy = 0.5f * static_cast<float>(h);
    const float dx = static_cast<float>(x) + 0.5f - cx, dy = static_cast<float>(y) + 0.5f - cy;
    return {m[0] * dx + m[1] * dy + cx - 0.5f, m[2] * dx + m[3] * dy + cy - 0.5f};
}
}  // namespace detail

/// out(y, x) = in at source point M * (p - c) + c, where p is the centre of output pixel (x, y), c the image
/// centre and M = [[m0, m1], [m2, m3]] maps output offsets (x right, y down) to input offsets; bilinear
/// interpolation; outside the image `fill` decides (TensorFlow's ImageProjectiveTransformV3, as Keras' layers use
/// it with their matrices). `in` and `out` are h x w x c, HWC, and must not overlap.
inline void affine_transform(const float* in, int h, int w, int c, const std::array<float, 4>& m, float* out,
                             FillMode fill = FillMode::reflect, float fill_value = 0.0f) {
    const auto uc = static_cast<std::size_t>(c);
    const auto px = [&](int yy, int xx) {
        return in + (static_cast<std::size_t>(yy) * static_cast<std::size_t>(w) + static_cast<std::size_t>(xx)) * uc;
    };
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float* o = out + (static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) * uc;
            auto [sx, sy] = detail::affine_source(m, h, w, y, x);
            if (fill == FillMode::constant) {
                // taps outside the image read fill_value; a point more than a pixel outside is all fill
                const float fx0 = std::floor(sx), fy0 = std::floor(sy);
                const float fx = sx - fx0, fy = sy - fy0;
                const int x0 = static_cast<int>(fx0), y0 = static_cast<int>(fy0);
                const auto tap = [&](int yy, int xx, std::size_t ch) {
                    return (yy < 0 || yy >= h || xx < 0 || xx >= w) ? fill_value : px(yy, xx)[ch];
                };
                if (sx <= -1.0f || sy <= -1.0f || sx >= static_cast<float>(w) || sy >= static_cast<float>(h)) {
                    std::fill(o, o + c, fill_value);
                    continue;
                }
                for (std::size_t ch = 0; ch < uc; ++ch) {
                    const float top = tap(y0, x0, ch) + (tap(y0, x0 + 1, ch) - tap(y0, x0, ch)) * fx;
                    const float bottom = tap(y0 + 1, x0, ch) + (tap(y0 + 1, x0 + 1, ch) - tap(y0 + 1, x0, ch)) * fx;
                    o[ch] = top + (bottom - top) * fy;
                }
                continue;
            }
            sx = detail::map_coord(sx, w, fill);
            sy = detail::map_coord(sy, h, fill);
            const int x0 = static_cast<int>(sx), y0 = static_cast<int>(sy);
            const int x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
            const float fx = sx - static_cast<float>(x0), fy = sy - static_cast<float>(y0);
            const float *p00 = px(y0, x0), *p01 = px(y0, x1), *p10 = px(y1, x0), *p11 = px(y1, x1);
            for (std::size_t ch = 0; ch < uc; ++ch) {
                const float top = p00[ch] + (p01[ch] - p00[ch]) * fx;
                const float bottom = p10[ch] + (p11[ch] - p10[ch]) * fx;
                o[ch] = top + (bottom - top) * fy;
            }
        }
}

namespace detail {
inline void affine_in_place(float* img, int h, int w, int c, const std::array<float, 4>& m, FillMode fill,
                            float fill_value) {
    std::vector<float> out(static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * static_cast<std::size_t>(c));
    affine_transform(img, h, w, c, m, out.data(), fill, fill_value);
    std::memcpy(img, out.data(), out.size() * sizeof(float));
}
/// Rotation by `radians` composed with a zoom (source offsets scaled by zoom_x, zoom_y).
inline std::array<float, 4> rotation_zoom_matrix(double radians, double zoom_y, double zoom_x) {
    const double cs = std::cos(radians), sn = std::sin(radians);
    return {static_cast<float>(cs * zoom_x), static_cast<float>(-sn * zoom_y), static_cast<float>(sn * zoom_x),
            static_cast<float>(cs * zoom_y)};
}
}  // namespace detail

/// Flips an HWC image left-right (`horizontal`) and/or top-bottom (`vertical`) in place: exact permutations.
template <class T>
void flip(T* img, int h, int w, int c, bool horizontal, bool vertical) {
    const auto at = [&](int y, int x) {
        return img + (static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) *
                         static_cast<std::size_t>(c);
    };
    if (horizontal)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w / 2; ++x) std::swap_ranges(at(y, x), at(y, x) + c, at(y, w - 1 - x));
    if (vertical)
        for (int y = 0; y < h / 2; ++y)
            std::swap_ranges(at(y, 0), at(y, 0) + static_cast<std::ptrdiff_t>(w) * c, at(h - 1 - y, 0));
}

/// Rotates an HWC image in place about its centre by `radians` (positive: counter-clockwise as displayed, as in
/// Keras), bilinear, `fill` outside. The matrix is Keras' RandomRotation one.
inline void rotate(float* img, int h, int w, int c, double radians, FillMode fill = FillMode::reflect,
                   float fill_value = 0.0f) {
    detail::affine_in_place(img, h, w, c, detail::rotation_zoom_matrix(radians, 1.0, 1.0), fill, fill_value);
}

/// Zooms an HWC image in place about its centre: the source is sampled zoom_y / zoom_x times further from the
/// centre, so zoom > 1 zooms out (the content shrinks, `fill` around it) and zoom < 1 zooms in; Keras' RandomZoom
/// matrix with zoom = 1 + factor.
inline void zoom(float* img, int h, int w, int c, double zoom_y, double zoom_x, FillMode fill = FillMode::reflect,
                 float fill_value = 0.0f) {
    detail::affine_in_place(img, h, w, c, detail::rotation_zoom_matrix(0.0, zoom_y, zoom_x), fill, fill_value);
}

/// Rotation and zoom in one resampling (`zoom` > 1 zooms out), reflect fill, in place.
inline void rotate_zoom(float* img, int h, int w, int c, double radians, double zoom = 1.0) {
    detail::affine_in_place(img, h, w, c, detail::rotation_zoom_matrix(radians, zoom, zoom), FillMode::reflect, 0.0f);
}

/// Keras' RandomFlip: left-right and/or top-bottom, each with probability 1/2 ('horizontal_and_vertical' = both).
struct RandomFlip {
    bool horizontal = true, vertical = true;
    void operator()(float* img, int h, int w, int c, Generator& gen) const {
        const bool hf = horizontal && gen.uniform() < 0.5;
        const bool vf = vertical && gen.uniform() < 0.5;
        flip(img, h, w, c, hf, vf);
    }
};

/// Keras' RandomRotation(factor): an angle uniform in [lower, upper] * 2 pi (RandomRotation(0.2): up to +-72
/// degrees), bilinear, reflect fill by default.
struct RandomRotation {
    double lower = -0.2, upper = 0.2;
    FillMode fill = FillMode::reflect;
    float fill_value = 0.0f;

    RandomRotation() = default;
    /// RandomRotation(f): [-|f|, |f|]; RandomRotation(lo, hi): [lo, hi]. Throws ValueError when lo > hi.
    explicit RandomRotation(double factor) : lower(-std::abs(factor)), upper(std::abs(factor)) {}
    RandomRotation(double lo, double hi, FillMode f = FillMode::reflect, float value = 0.0f)
        : lower(lo), upper(hi), fill(f), fill_value(value) {
        EMBER_CHECK(lo <= hi, ValueError, "RandomRotation: lower factor ", lo, " is above upper factor ", hi);
    }
    void operator()(float* img, int h, int w, int c, Generator& gen) const {
        const double angle = gen.uniform(lower, upper) * 2.0 * std::numbers::pi;
        if (angle != 0.0) rotate(img, h, w, c, angle, fill, fill_value);
    }
};

/// Keras' RandomZoom(height_factor=(lower, upper)): zoom = 1 + uniform(lower, upper), positive factors zoom out
/// (RandomZoom((0.2, 0.3)): the content shrinks to 1/1.2 .. 1/1.3), the same zoom on the width (Keras'
/// width_factor=None keeps the aspect ratio); bilinear, reflect fill by default. A single factor f means [-f, f].
struct RandomZoom {
    double lower = 0.2, upper = 0.3;
    FillMode fill = FillMode::reflect;
    float fill_value = 0.0f;

    RandomZoom() = default;
    /// Throws ValueError when a factor is outside [-1, 1] or lo > hi (as Keras).
    explicit RandomZoom(double factor) : RandomZoom(-std::abs(factor), std::abs(factor)) {}
    RandomZoom(double lo, double hi, FillMode f = FillMode::reflect, float value = 0.0f)
        : lower(lo), upper(hi), fill(f), fill_value(value) {
        EMBER_CHECK(lo <= hi && std::abs(lo) <= 1 && std::abs(hi) <= 1, ValueError,
                    "RandomZoom: factors must lie in [-1, 1] with lower <= upper, got (", lo, ", ", hi, ")");
    }
    /// The zoom, 1 + U(lower, upper).
    double draw(Generator& gen) const { return 1.0 + gen.uniform(lower, upper); }
    void operator()(float* img, int h, int w, int c, Generator& gen) const {
        const double z = draw(gen);
        if (z != 1.0) zoom(img, h, w, c, z, z, fill, fill_value);
    }
};

/// Stretches the content horizontally about the centre by a ratio r drawn log-uniformly from
/// [1 / max_ratio, max_ratio] (torchvision's RandomResizedCrop draws its aspect `ratio` so, (3/4, 4/3) by
/// default): r > 1 widens the content (a central part of the width fills the image), r < 1 narrows it (`fill` at
/// the sides). For images whose sources differ in how they were made square: the centre square of a 4:3 original
/// is its squashed whole stretched by 4/3. max_ratio = 1 is the identity and draws nothing.
struct RandomAspect {
    double max_ratio = 4.0 / 3.0;
    FillMode fill = FillMode::reflect;
    float fill_value = 0.0f;

    RandomAspect() = default;
    /// Throws ValueError unless max_ratio is a finite number >= 1.
    explicit RandomAspect(double max, FillMode f = FillMode::reflect, float value = 0.0f)
        : max_ratio(max), fill(f), fill_value(value) {
        EMBER_CHECK(std::isfinite(max) && max >= 1.0, ValueError,
                    "RandomAspect: the largest stretch ratio must be a finite number >= 1, got ", max);
    }
    /// The ratio (1 without a draw when max_ratio is 1).
    double draw(Generator& gen) const {
        if (max_ratio == 1.0) return 1.0;
        const double l = std::log(max_ratio);
        return std::exp(gen.uniform(-l, l));
    }
    void operator()(float* img, int h, int w, int c, Generator& gen) const {
        const double r = draw(gen);
        if (r != 1.0) zoom(img, h, w, c, 1.0, 1.0 / r, fill, fill_value);
    }
};

/// The Keras augmentation of the reference model's second variant: RandomFlip('horizontal_and_vertical'),
/// RandomRotation(rotation), RandomZoom((zoom_min, zoom_max)), reflect fill, bilinear; optionally a RandomAspect
/// stretch (max_aspect > 1) folded into the zoom's resampling.
struct AugmentOptions {
    bool flip = true;
    double rotation = 0.2;
    double zoom_min = 0.2, zoom_max = 0.3;
    double max_aspect = 1.0;  // RandomAspect(max_aspect) after the zoom; 1: off
};

/// Applies AugmentOptions' layers to one HWC float image in Keras' order (flip, then rotation, then zoom, each
/// resampling the previous result, as a Sequential of the three layers does), drawing from `gen` (two flip
/// draws, the angle, the zoom, then the stretch ratio when max_aspect > 1). The stretch r shares the zoom's
/// resampling: the source is sampled z times further from the centre vertically and z / r horizontally, so
/// nothing is interpolated twice. Throws ValueError for zoom factors outside [-1, 1] or max_aspect < 1.
inline void random_augment(float* img, int h, int w, int c, const AugmentOptions& o, Generator& gen) {
    const RandomAspect aspect(o.max_aspect);
    if (o.flip) RandomFlip{}(img, h, w, c, gen);
    if (o.rotation != 0.0) RandomRotation(o.rotation)(img, h, w, c, gen);
    const RandomZoom z(std::min(o.zoom_min, o.zoom_max), std::max(o.zoom_min, o.zoom_max));
    const double zy = z.draw(gen);
    const double zx = zy / aspect.draw(gen);
    if (zy != 1.0 || zx != 1.0) zoom(img, h, w, c, zy, zx, z.fill, z.fill_value);
}

// ---- colour ----------------------------------------------------------------------------------------------------
// torchvision.transforms.functional's adjust_* on RGB HWC float images with values 0..255: each result is clamped
// to [0, 255], as torchvision clamps to [0, 1].

namespace detail {
inline void require_rgb(int h, int w, int c, const char* what) {
    EMBER_CHECK(c == 3, ValueError, what, ": needs an RGB image (3 channels), got ", c, " channel(s)");
    EMBER_CHECK(h >= 0 && w >= 0, ValueError, what, ": negative image size ", h, "x", w);
}
inline void require_factor(double f, const char* what) {
    EMBER_CHECK(std::isfinite(f) && f >= 0, ValueError, what, ": the factor must be finite and >= 0, got ", f);
}
inline std::size_t pixel_count(int h, int w) { return static_cast<std::size_t>(h) * static_cast<std::size_t>(w); }
/// ITU-R 601 luma, torchvision's rgb_to_grayscale weights.
inline float luma(const float* p) { return 0.2989f * p[0] + 0.587f * p[1] + 0.114f * p[2]; }
inline float clamp255(float v) { return std::clamp(v, 0.0f, 255.0f); }
}  // namespace detail

/// Multiplies every value by `factor` (0: black, 1: unchanged), clamped. The three blends below throw
/// ValueError for a negative or non-finite factor (as torchvision).
inline void adjust_brightness(float* img, int h, int w, int c, double factor) {
    detail::require_rgb(h, w, c, "adjust_brightness");
    detail::require_factor(factor, "adjust_brightness");
    const auto f = static_cast<float>(factor);
    for (std::size_t i = 0, n = detail::pixel_count(h, w) * 3; i < n; ++i) img[i] = detail::clamp255(img[i] * f);
}

/// Blends with the mean luma of the whole image: factor * v + (1 - factor) * mean (0: flat gray, 1: unchanged).
inline void adjust_contrast(float* img, int h, int w, int c, double factor) {
    detail::require_rgb(h, w, c, "adjust_contrast");
    detail::require_factor(factor, "adjust_contrast");
    const std::size_t n = detail::pixel_count(h, w);
    if (n == 0) return;
    double sum = 0;
    for (std::size_t p = 0; p < n; ++p) sum += detail::luma(img + 3 * p);
    const auto mean = static_cast<float>(sum / static_cast<double>(n));
    const auto f = static_cast<float>(factor);
    for (std::size_t i = 0; i < 3 * n; ++i) img[i] = detail::clamp255(f * img[i] + (1.0f - f) * mean);
}

/// Blends every pixel with its own luma: factor * v + (1 - factor) * luma (0: grayscale, 1: unchanged).
inline void adjust_saturation(float* img, int h, int w, int c, double factor) {
    detail::require_rgb(h, w, c, "adjust_saturation");
    detail::require_factor(factor, "adjust_saturation");
    const auto f = static_cast<float>(factor);
    for (std::size_t p = 0, n = detail::pixel_count(h, w); p < n; ++p) {
        float* q = img + 3 * p;
        const float g = detail::luma(q);
        for (int ch = 0; ch < 3; ++ch) q[ch] = detail::clamp255(f * q[ch] + (1.0f - f) * g);
    }
}

/// Rotates every pixel's hue by `shift` turns (in [-0.5, 0.5]; 1/3: red -> green -> blue -> red) in HSV space,
/// keeping its saturation and value. Throws ValueError for a shift outside [-0.5, 0.5].
inline void adjust_hue(float* img, int h, int w, int c, double shift) {
    detail::require_rgb(h, w, c, "adjust_hue");
    EMBER_CHECK(shift >= -0.5 && shift <= 0.5, ValueError, "adjust_hue: the shift must lie in [-0.5, 0.5], got ", shift);
    for (std::size_t p = 0, n = detail::pixel_count(h, w); p < n; ++p) {
        float* q = img + 3 * p;
        const double r = q[0] / 255.0, g = q[1] / 255.0, b = q[2] / 255.0;
        const double v = std::max({r, g, b}), range = v - std::min({r, g, b});
        if (!(range > 0) || !std::isfinite(range)) continue;  // gray (or not a number): no hue to turn
        const double s = range / v;
        double hue = v == r ? (g - b) / range : v == g ? 2.0 + (b - r) / range : 4.0 + (r - g) / range;  // sextants
        hue = hue / 6.0 + shift;
        hue -= std::floor(hue);  // into [0, 1)
        const double sector = hue * 6.0, fl = std::floor(sector), frac = sector - fl;
        const double lo = v * (1 - s), down = v * (1 - s * frac), up = v * (1 - s * (1 - frac));
        double rgb[3];
        switch (static_cast<int>(fl) % 6) {
            case 0: rgb[0] = v, rgb[1] = up, rgb[2] = lo; break;
            case 1: rgb[0] = down, rgb[1] = v, rgb[2] = lo; break;
            case 2: rgb[0] = lo, rgb[1] = v, rgb[2] = up; break;
            case 3: rgb[0] = lo, rgb[1] = down, rgb[2] = v; break;
            case 4: rgb[0] = up, rgb[1] = lo, rgb[2] = v; break;
            default: rgb[0] = v, rgb[1] = lo, rgb[2] = down; break;
        }
        for (int ch = 0; ch < 3; ++ch) q[ch] = detail::clamp255(static_cast<float>(rgb[ch] * 255.0));
    }
}

/// torchvision's ColorJitter(brightness, contrast, saturation, hue): brightness, contrast and saturation factors
/// uniform in [max(0, 1 - x), 1 + x], a hue shift uniform in [-hue, hue] turns, the four adjustments applied in
/// a random order (a permutation drawn first, then the factors, from `gen`); a zero argument leaves that
/// adjustment out. For RGB HWC float images with values 0..255.
struct ColorJitter {
    double brightness = 0, contrast = 0, saturation = 0, hue = 0;

    ColorJitter() = default;
    /// Throws ValueError for a negative or non-finite factor, or hue outside [0, 0.5].
    ColorJitter(double b, double c, double s, double h) : brightness(b), contrast(c), saturation(s), hue(h) {
        for (const double x : {b, c, s})
            EMBER_CHECK(std::isfinite(x) && x >= 0, ValueError,
                        "ColorJitter: brightness, contrast and saturation must be finite and >= 0, got (", b, ", ", c,
                        ", ", s, ")");
        EMBER_CHECK(h >= 0 && h <= 0.5, ValueError, "ColorJitter: hue must lie in [0, 0.5], got ", h);
    }
    bool enabled() const { return brightness > 0 || contrast > 0 || saturation > 0 || hue > 0; }

    void operator()(float* img, int h, int w, int c, Generator& gen) const {
        detail::require_rgb(h, w, c, "ColorJitter");
        std::array<int, 4> order{0, 1, 2, 3};
        for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[gen.below(i + 1)]);
        const auto factor = [&](double x) { return x > 0 ? gen.uniform(std::max(0.0, 1.0 - x), 1.0 + x) : 1.0; };
        const double fb = factor(brightness), fc = factor(contrast), fs = factor(saturation);
        const double fh = hue > 0 ? gen.uniform(-hue, hue) : 0.0;
        for (const int op : order) {
            if (op == 0 && brightness > 0) adjust_brightness(img, h, w, c, fb);
            if (op == 1 && contrast > 0) adjust_contrast(img, h, w, c, fc);
            if (op == 2 && saturation > 0) adjust_saturation(img, h, w, c, fs);
            if (op == 3 && hue > 0) adjust_hue(img, h, w, c, fh);
        }
    }
};

/// A random white balance: each of R, G and B multiplied by its own gain, drawn log-uniformly from
/// [1 / max_gain, max_gain] (R's, then G's, then B's), clamped to 0..255 - the von Kries model of a colour cast,
/// which Shades of Gray colour constancy undoes and ColorJitter cannot make (its hue turns every colour alike).
/// max_gain = 1 is the identity (for any image) and draws nothing. For RGB HWC float images with values 0..255.
struct RandomChannelGain {
    double max_gain = 1.0;

    RandomChannelGain() = default;
    /// Throws ValueError unless max_gain is a finite number >= 1.
    explicit RandomChannelGain(double max) : max_gain(max) {
        EMBER_CHECK(std::isfinite(max) && max >= 1.0, ValueError,
                    "RandomChannelGain: the largest gain must be a finite number >= 1, got ", max);
    }
    bool enabled() const { return max_gain != 1.0; }
    /// The three gains ({1, 1, 1} without a draw when max_gain is 1).
    std::array<double, 3> draw(Generator& gen) const {
        if (!enabled()) return {1.0, 1.0, 1.0};
        const double l = std::log(max_gain);
        std::array<double, 3> g{};
        for (double& x : g) x = std::exp(gen.uniform(-l, l));
        return g;
    }
    void operator()(float* img, int h, int w, int c, Generator& gen) const {
        if (!enabled()) return;
        detail::require_rgb(h, w, c, "RandomChannelGain");
        const auto g = draw(gen);
        const std::array<float, 3> f{static_cast<float>(g[0]), static_cast<float>(g[1]), static_cast<float>(g[2])};
        for (std::size_t i = 0, n = detail::pixel_count(h, w); i < n; ++i)
            for (std::size_t ch = 0; ch < 3; ++ch) img[3 * i + ch] = detail::clamp255(img[3 * i + ch] * f[ch]);
    }
};

/// Scale of the largest centred rectangle with the image's aspect ratio that fits inside the image rotated by
/// `radians` (so contains no fill): min(w / (w |cos| + h |sin|), h / (w |sin| + h |cos|)).
inline double inscribed_scale(int h, int w, double radians) {
    const double a = std::abs(std::sin(radians)), b = std::abs(std::cos(radians));
    const double fw = w, fh = h;
    return std::min(fw / (fw * b + fh * a), fh / (fw * a + fh * b));
}

/// The sampling matrix of augmentor_rotate for `degrees`: rotation composed with the inscribed crop.
inline std::array<float, 4> augmentor_matrix(int h, int w, int degrees) {
    const double rad = degrees * std::numbers::pi / 180.0;
    const double s = inscribed_scale(h, w, rad);
    return detail::rotation_zoom_matrix(rad, s, s);
}

/// Augmentor's rotate(probability, max_left_rotation, max_right_rotation) on one image: with probability
/// `probability` an integer angle is drawn as Augmentor's RotateRange does (left or right with equal odds, then
/// uniform in [-max, 0] or [0, max], so 0 comes up 1 time in max + 1), the image is rotated, cropped to the
/// largest same-aspect rectangle that holds no fill and resized back to its size; otherwise it is returned
/// unchanged. Rotation, crop and resize are one bilinear resampling here (Augmentor uses two bicubic ones).
inline Image augmentor_rotate(const Image& img, Generator& gen, double probability = 0.7, int max_degrees = 10) {
    if (gen.uniform() >= probability) return img;
    const bool left = gen.below(2) == 0;
    const auto magnitude = static_cast<int>(gen.below(static_cast<std::uint64_t>(std::max(max_degrees, 0)) + 1));
    const int degrees = left ? -magnitude : magnitude;
    if (degrees == 0) return img;
    std::vector<float> f(img.pixels.begin(), img.pixels.end()), out(f.size());
    affine_transform(f.data(), img.height, img.width, img.channels, augmentor_matrix(img.height, img.width, degrees),
                     out.data(), FillMode::reflect);
    Image r = img;
    for (std::size_t i = 0; i < out.size(); ++i)
        r.pixels[i] = static_cast<std::uint8_t>(std::clamp(out[i], 0.0f, 255.0f) + 0.5f);
    return r;
}

/// The Augmentor rebalancing of the seed project (Pipeline.rotate(0.7, 10, 10) then sample(per_class), per class),
/// applied to the training side only: for every class, `per_class` images are drawn with replacement from that
/// class's images in `train`, passed through augmentor_rotate, appended to `set` (label and path of the source),
/// and their indices appended to `train`. Validation images are never sources, so validation stays clean (the
/// seed wrote the copies into Train before splitting). Rotations run in parallel; the result is a function of
/// `seed` only. Throws ValueError for per_class < 0, IndexError for an index outside the set.
inline void rebalance(ImageSet& set, std::vector<std::size_t>& train, int per_class, std::uint64_t seed) {
    EMBER_CHECK(per_class >= 0, ValueError, "rebalance: samples per class must be >= 0, got ", per_class);
    if (per_class == 0) return;
    std::vector<std::vector<std::size_t>> by_class(set.class_names.size());
    for (std::size_t i : train) {
        EMBER_CHECK(i < set.size(), IndexError, "rebalance: index ", i, " outside a set of ", set.size(), " images");
        const auto label = static_cast<std::size_t>(set.labels[i]);
        EMBER_CHECK(label < by_class.size(), IndexError, "rebalance: image ", i, " has label ", set.labels[i],
                    " but the set has ", by_class.size(), " classes");
        by_class[label].push_back(i);
    }
    // What is asked must fit in memory: a per-class count typed with a zero too many is refused with what it asks,
    // not met by std::bad_alloc or the kernel's OOM killer hours later.
    const auto classes_present = static_cast<std::size_t>(
        std::count_if(by_class.begin(), by_class.end(), [](const auto& m) { return !m.empty(); }));
    const double asked = static_cast<double>(per_class) * static_cast<double>(classes_present) *
                         static_cast<double>(set.image_bytes());
    const double memory = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
    const auto refuse = [&] {
        std::ostringstream os;
        os << "rebalance: " << per_class << " samples per class for " << classes_present << " classes add "
           << static_cast<double>(per_class) * static_cast<double>(classes_present) << " images of "
           << set.image_bytes() << " bytes (" << asked / double(1 << 30) << " GiB), more than "
           << (memory > 0 ? "this machine's " + std::to_string(static_cast<long long>(memory / double(1 << 30))) + " GiB of memory"
                          : std::string("could be allocated"));
        throw ValueError(os.str());
    };
    if (memory > 0 && asked > memory) refuse();
    // Draw every source and per-sample seed first (serially), then rotate in parallel.
    struct Job {
        std::size_t source;
        std::uint64_t seed;
    };
    std::vector<Job> jobs;
    Generator gen(seed);
    for (const auto& members : by_class) {
        if (members.empty()) continue;
        for (int k = 0; k < per_class; ++k) jobs.push_back({members[gen.below(members.size())], gen.next_u64()});
    }
    const std::size_t first = set.size(), bytes = set.image_bytes();
    try {
        set.pixels.resize((first + jobs.size()) * bytes);
    } catch (const std::bad_alloc&) {
        refuse();
    }
    ember::parallel_for(0, static_cast<index_t>(jobs.size()), 1, [&](index_t lo, index_t hi) {
        for (index_t j = lo; j < hi; ++j) {
            const Job& job = jobs[static_cast<std::size_t>(j)];
            const std::uint8_t* src = set.pixels.data() + job.source * bytes;
            Image img{set.height, set.width, 3, std::vector<std::uint8_t>(src, src + bytes)};
            Generator g(job.seed);
            const Image r = augmentor_rotate(img, g);
            std::memcpy(set.pixels.data() + (first + static_cast<std::size_t>(j)) * bytes, r.pixels.data(), bytes);
        }
    });
    set.labels.reserve(first + jobs.size());
    set.paths.reserve(first + jobs.size());
    for (std::size_t j = 0; j < jobs.size(); ++j) {
        const std::int32_t label = set.labels[jobs[j].source];
        std::filesystem::path path = set.paths.size() > jobs[j].source ? set.paths[jobs[j].source] : std::filesystem::path{};
        set.labels.push_back(label);
        set.paths.push_back(std::move(path));
        train.push_back(first + j);
    }
}

}  // namespace ember::vision
