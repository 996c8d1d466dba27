// ember/vision/image.hpp - Image (8-bit, HWC, rows top to bottom), decoding with stb_image, TensorFlow's bilinear resize.
// Decoding follows tf.io.decode_image(channels=3) as Keras' image_dataset_from_directory calls it; resizing follows
// tf.image.resize(method='bilinear', antialias=False).
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/tensor.hpp"
#include "ember/vision/jpeg_check.hpp"
#include "ember/vision/stb_image_impl.hpp"

namespace ember::vision {

/// An 8-bit image: `height` rows top to bottom, `width` columns, `channels` interleaved (HWC);
/// pixels.size() == height * width * channels.
struct Image {
    int height = 0, width = 0, channels = 0;
    std::vector<std::uint8_t> pixels;

    /// Pixel (y, x), channel c. No bounds check.
    [[nodiscard]] std::uint8_t at(int y, int x, int c) const { return pixels[offset(y, x, c)]; }
    [[nodiscard]] std::uint8_t& at(int y, int x, int c) { return pixels[offset(y, x, c)]; }
    /// True when the sizes are positive and the pixel count matches them.
    [[nodiscard]] bool valid() const {
        return height > 0 && width > 0 && channels > 0 &&
               pixels.size() == static_cast<std::size_t>(height) * static_cast<std::size_t>(width) *
                                    static_cast<std::size_t>(channels);
    }

private:
    [[nodiscard]] std::size_t offset(int y, int x, int c) const {
        return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) *
                   static_cast<std::size_t>(channels) +
               static_cast<std::size_t>(c);
    }
};

/// Size and channel count stored in an image file (channels as the file has them: 1 gray, 2 gray + alpha, 3 RGB,
/// 4 RGBA).
struct ImageInfo {
    int height = 0, width = 0, channels = 0;
    std::string format;  ///< "JPEG", "PNG", "BMP" or "GIF", by the file's first bytes (not its name)
};

/// What decode_image accepts before it lets stb_image allocate: files come from users, crawls and datasets, and a
/// few hundred bytes can declare an 18000 x 18000 canvas (1.3 GB of RGBA for stb_image to allocate and clear).
/// Both limits are checked before decoding (the size from the file's header); set them per call, e.g.
/// `decode_image(path, {.max_pixels = 200'000'000})`. See docs/architecture.md, "Untrusted images".
struct DecodeLimits {
    /// Most pixels (width x height, as the header declares them) an image may have: 50 megapixels by default,
    /// enough for photographs (a 45-megapixel camera frame is 8192 x 5464). stb_image needs about 4 bytes a pixel
    /// while decoding a PNG or JPEG and about 9 for a GIF, besides the 3-byte RGB result.
    std::uint64_t max_pixels = 50'000'000;
    /// Most bytes a file (or an in-memory image) may have: 256 MiB by default. Files are read whole into memory.
    std::uint64_t max_bytes = std::uint64_t{256} << 20;
};

namespace detail {

/// The container format, recognised by its first bytes (what stb_image would try), or "" when none matches.
inline std::string_view image_format(const std::uint8_t* head, std::size_t n) {
    if (n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return "JPEG";
    if (n >= 8 && std::memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (n >= 6 && (std::memcmp(head, "GIF87a", 6) == 0 || std::memcmp(head, "GIF89a", 6) == 0)) return "GIF";
    if (n >= 2 && head[0] == 'B' && head[1] == 'M') return "BMP";
    return "";
}

/// A byte source for stb_image's callbacks over a whole file in memory. It records when the decoder asks for bytes
/// past the end: stb_image pads a short input with zeros and may then "succeed" (a truncated BMP decodes to an image
/// with black rows), so a read past the end is how a truncated file is recognised.
/// Note [truncation]: complete files never trigger it (checked on 324 real 180x180 JPEGs and on PNG, BMP, GIF,
/// progressive and grayscale JPEG files written by Pillow), and every cut inside their image data is caught,
/// here or by stb_image itself (a GIF cut after its first frame still decodes that frame, which is all we read).
class ByteSource {
public:
    explicit ByteSource(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

    [[nodiscard]] bool overran() const { return overran_; }

    /// The callbacks stb_image calls with `this` as user data.
    static stbi_io_callbacks callbacks() { return stbi_io_callbacks{&read_cb, &skip_cb, &eof_cb}; }

private:
    static int read_cb(void* user, char* out, int size) {
        auto& s = *static_cast<ByteSource*>(user);
        if (size <= 0) return 0;
        const std::size_t n = std::min(static_cast<std::size_t>(size), s.bytes_.size() - s.pos_);
        if (n == 0) {
            s.overran_ = true;
            return 0;
        }
        std::memcpy(out, s.bytes_.data() + s.pos_, n);
        s.pos_ += n;
        return static_cast<int>(n);
    }
    static void skip_cb(void* user, int n) {
        auto& s = *static_cast<ByteSource*>(user);
        if (n < 0) {
            const auto back = static_cast<std::size_t>(-static_cast<long long>(n));
            s.pos_ = back > s.pos_ ? 0 : s.pos_ - back;
        } else if (static_cast<std::size_t>(n) > s.bytes_.size() - s.pos_) {
            s.overran_ = true;
            s.pos_ = s.bytes_.size();
        } else {
            s.pos_ += static_cast<std::size_t>(n);
        }
    }
    static int eof_cb(void* user) {
        const auto& s = *static_cast<const ByteSource*>(user);
        return s.pos_ >= s.bytes_.size() ? 1 : 0;
    }

    std::span<const std::uint8_t> bytes_;
    std::size_t pos_ = 0;  // always <= bytes_.size()
    bool overran_ = false;
};

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

/// Opens `path` for reading; throws IoError naming it when it is missing, not a regular file, unreadable or empty.
/// Returns the open file and its size in bytes.
inline std::pair<FilePtr, std::size_t> open_image_file(const std::filesystem::path& path, std::string_view verb) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto status = fs::status(path, ec);
    EMBER_CHECK(fs::exists(status), IoError, verb, " '", path.string(), "': no such file");
    EMBER_CHECK(!fs::is_directory(status), IoError, verb, " '", path.string(), "': it is a directory, not a file");
    EMBER_CHECK(fs::is_regular_file(status), IoError, verb, " '", path.string(), "': not a regular file");
    const std::uintmax_t size = fs::file_size(path, ec);
    EMBER_CHECK(!ec, IoError, verb, " '", path.string(), "': cannot read its size (", ec.message(), ")");
    EMBER_CHECK(size > 0, IoError, verb, " '", path.string(), "': the file is empty (0 bytes)");
    errno = 0;
    FilePtr file(std::fopen(path.string().c_str(), "rb"));
    if (!file) {
        const int err = errno;
        throw IoError(ember::detail::cat(verb, " '", path.string(), "': cannot open it (",
                                         std::generic_category().message(err), ")"));
    }
    return {std::move(file), static_cast<std::size_t>(size)};
}

/// Throws ValueError unless both limits are positive.
inline void check(const DecodeLimits& limits) {
    EMBER_CHECK(limits.max_pixels > 0 && limits.max_bytes > 0, ValueError,
                "DecodeLimits: max_pixels and max_bytes must be > 0, got ", limits.max_pixels, " and ", limits.max_bytes);
}

/// Decodes a whole file held in `bytes` to 3 channels, or throws IoError "cannot decode '<name>': <why>" (stb_image's
/// reason included when it refused the data). Before stb_image allocates anything, the JPEG segments are checked
/// (Note [JPEG pre-check] in vision/jpeg_check.hpp) and the size in the header is held against `limits`.
inline Image decode_rgb(std::span<const std::uint8_t> bytes, const std::string& name, const DecodeLimits& limits) {
    const std::string_view format = image_format(bytes.data(), bytes.size());
    EMBER_CHECK(!format.empty(), IoError, "cannot decode '", name, "': not a JPEG, PNG, BMP or GIF file");
    EMBER_CHECK(bytes.size() <= limits.max_bytes, IoError, "cannot decode '", name, "': the data is ", bytes.size(),
                " bytes, over the limit of ", limits.max_bytes, " bytes (DecodeLimits::max_bytes)");
    if (format == "JPEG") check_jpeg_segments(bytes, name);
    const stbi_io_callbacks cb = ByteSource::callbacks();
    int w = 0, h = 0, file_channels = 0;
    {
        ByteSource header(bytes);
        if (!stbi_info_from_callbacks(&cb, &header, &w, &h, &file_channels)) {
            const char* why = stbi_failure_reason();
            throw IoError(ember::detail::cat("cannot decode '", name, "': corrupt, truncated or unsupported ", format,
                                             " data (stb_image: ", why ? why : "unknown reason", ")"));
        }
    }
    const auto pixels = static_cast<std::uint64_t>(std::max(w, 0)) * static_cast<std::uint64_t>(std::max(h, 0));
    EMBER_CHECK(pixels <= limits.max_pixels, IoError, "cannot decode '", name, "': the ", format, " header declares ",
                w, " x ", h, " = ", pixels, " pixels, over the limit of ", limits.max_pixels,
                " (DecodeLimits::max_pixels)");
    ByteSource src(bytes);
    // req_comp = 3: gray is repeated into R, G and B, alpha dropped (tf.io.decode_image(channels=3) does the same;
    // 16-bit PNG samples keep their high byte, as tf.image.convert_image_dtype(uint16 -> uint8) does).
    std::unique_ptr<stbi_uc, decltype(&stbi_image_free)> data(
        stbi_load_from_callbacks(&cb, &src, &w, &h, &file_channels, 3), &stbi_image_free);
    if (!data) {
        const char* why = stbi_failure_reason();
        throw IoError(ember::detail::cat("cannot decode '", name, "': corrupt, truncated or unsupported ", format,
                                         " data (stb_image: ", why ? why : "unknown reason", ")"));
    }
    EMBER_CHECK(!src.overran(), IoError, "cannot decode '", name, "': truncated ", format,
                " file (the data ends before the image does)");
    EMBER_CHECK(w > 0 && h > 0, IoError, "cannot decode '", name, "': the image has zero width or height");
    Image img;
    img.height = h;
    img.width = w;
    img.channels = 3;
    img.pixels.assign(data.get(), data.get() + static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    return img;
}

/// Reads all of `path` (at most limits.max_bytes, else IoError "<verb> '<path>': ...") into memory.
inline std::vector<std::uint8_t> read_image_file(const std::filesystem::path& path, const DecodeLimits& limits,
                                                 std::string_view verb) {
    auto [file, size] = open_image_file(path, verb);
    EMBER_CHECK(size <= limits.max_bytes, IoError, verb, " '", path.string(), "': the file is ", size,
                " bytes, over the limit of ", limits.max_bytes, " bytes (DecodeLimits::max_bytes)");
    std::vector<std::uint8_t> bytes(size);
    errno = 0;
    const std::size_t got = std::fread(bytes.data(), 1, size, file.get());
    if (got != size) {
        const int err = errno;
        throw IoError(ember::detail::cat(verb, " '", path.string(), "': read error (",
                                         err ? std::generic_category().message(err) : "the file got shorter", ")"));
    }
    return bytes;
}

}  // namespace detail

/// Reads the size and channel count of an image file without decoding its pixels (JPEG, PNG, BMP, GIF). The file
/// is read whole (at most limits.max_bytes) and a JPEG's segments checked first (Note [JPEG pre-check]: stb_image
/// parses the Huffman tables before the frame header even to probe); the pixel limit is not applied.
/// Throws IoError naming the file: missing, unreadable, empty, too large, not an image, or a header stb_image
/// rejects.
inline ImageInfo probe_image(const std::filesystem::path& path, const DecodeLimits& limits = {}) {
    detail::check(limits);
    const std::vector<std::uint8_t> bytes = detail::read_image_file(path, limits, "cannot read image");
    const std::string_view format = detail::image_format(bytes.data(), bytes.size());
    EMBER_CHECK(!format.empty(), IoError, "cannot read image '", path.string(), "': not a JPEG, PNG, BMP or GIF file");
    if (format == "JPEG") detail::check_jpeg_segments(bytes, path.string(), "cannot read image");
    detail::ByteSource src(bytes);
    const stbi_io_callbacks cb = detail::ByteSource::callbacks();
    ImageInfo info;
    if (!stbi_info_from_callbacks(&cb, &src, &info.width, &info.height, &info.channels)) {
        const char* why = stbi_failure_reason();
        throw IoError(ember::detail::cat("cannot read image '", path.string(), "': corrupt or unsupported ", format,
                                         " header (stb_image: ", why ? why : "unknown reason", ")"));
    }
    info.format = format;
    return info;
}

/// Decodes a JPEG, PNG, BMP or GIF file (a GIF's first frame) to 3-channel RGB, as Keras'
/// image_dataset_from_directory does with tf.io.decode_image(channels=3, expand_animations=False): gray is repeated
/// into R, G and B, alpha is dropped. JPEG pixels may differ from libjpeg-turbo's (TensorFlow's decoder) by a few
/// levels (at most 3 on a set of 324 real photographs, 0.07 on average); the other formats decode identically.
/// The file is read whole and checked against `limits` (size in bytes, then the pixel count its header declares)
/// before any pixel memory is allocated; a JPEG's Huffman tables are validated first (Note [JPEG pre-check]).
/// Throws IoError naming the file: missing, a directory, unreadable, empty, over a limit, not a JPEG/PNG/BMP/GIF
/// file, corrupt, or truncated; ValueError for a zero limit.
inline Image decode_image(const std::filesystem::path& path, const DecodeLimits& limits = {}) {
    detail::check(limits);
    const std::vector<std::uint8_t> bytes = detail::read_image_file(path, limits, "cannot decode");
    return detail::decode_rgb(bytes, path.string(), limits);
}

/// Decodes an image held in memory (the bytes of a JPEG, PNG, BMP or GIF file) like decode_image; `name` is
/// what error messages call it. Throws IoError, ValueError for a zero limit.
inline Image decode_image(std::span<const std::uint8_t> bytes, const std::string& name = "<memory>",
                          const DecodeLimits& limits = {}) {
    detail::check(limits);
    EMBER_CHECK(!bytes.empty(), IoError, "cannot decode '", name, "': the data is empty (0 bytes)");
    return detail::decode_rgb(bytes, name, limits);
}

namespace detail {
/// Where one output row or column samples its input: the two neighbours and the weight of the upper one.
struct Tap {
    int lo = 0, hi = 0;
    float frac = 0;
};

/// TensorFlow's half-pixel sampling for one axis of resize_bilinear (half_pixel_centers=True, align_corners=False):
/// src = (i + 0.5) * in / out - 0.5 in float; lo = max(floor(src), 0), hi = min(ceil(src), in - 1),
/// frac = src - floor(src). Near the edges src < 0 or src > in - 1 collapses both taps onto the border pixel.
inline std::vector<Tap> half_pixel_taps(int in, int out) {
    std::vector<Tap> taps(static_cast<std::size_t>(out));
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int i = 0; i < out; ++i) {
        const float src = (static_cast<float>(i) + 0.5f) * scale - 0.5f;
        const float fl = std::floor(src);
        auto& t = taps[static_cast<std::size_t>(i)];
        t.lo = std::max(static_cast<int>(fl), 0);
        t.hi = std::min(static_cast<int>(std::ceil(src)), in - 1);
        t.frac = src - fl;
    }
    return taps;
}
}  // namespace detail

/// Resizes `img` to out_h x out_w exactly as tf.image.resize(method='bilinear', antialias=False) does: half-pixel
/// centres, edge pixels repeated, the aspect ratio not kept (squashed), arithmetic in float in TensorFlow's order.
/// Writes out_h * out_w * img.channels floats (HWC, values in [0, 255]) to `out`: the values Keras'
/// image_dataset_from_directory yields. Shrinking does not low-pass filter (antialias=False), as in Keras.
/// Throws ValueError for a non-positive target size or an empty/inconsistent image.
inline void resize_bilinear(const Image& img, int out_h, int out_w, float* out) {
    EMBER_CHECK(out_h > 0 && out_w > 0, ValueError, "resize_bilinear: target size must be positive, got ", out_h, "x",
                out_w);
    EMBER_CHECK(img.valid(), ValueError, "resize_bilinear: the image is empty or its pixel count (",
                img.pixels.size(), ") does not match ", img.height, "x", img.width, "x", img.channels);
    const auto ty = detail::half_pixel_taps(img.height, out_h);
    const auto tx = detail::half_pixel_taps(img.width, out_w);
    const auto c = static_cast<std::size_t>(img.channels);
    const std::size_t row = static_cast<std::size_t>(img.width) * c;
    const std::uint8_t* px = img.pixels.data();
    for (int y = 0; y < out_h; ++y) {
        const auto& t = ty[static_cast<std::size_t>(y)];
        const std::uint8_t* top_row = px + static_cast<std::size_t>(t.lo) * row;
        const std::uint8_t* bottom_row = px + static_cast<std::size_t>(t.hi) * row;
        float* o = out + static_cast<std::size_t>(y) * static_cast<std::size_t>(out_w) * c;
        for (int x = 0; x < out_w; ++x) {
            const auto& s = tx[static_cast<std::size_t>(x)];
            const std::size_t l = static_cast<std::size_t>(s.lo) * c, r = static_cast<std::size_t>(s.hi) * c;
            for (std::size_t ch = 0; ch < c; ++ch) {
                const float tl = top_row[l + ch], tr = top_row[r + ch];
                const float bl = bottom_row[l + ch], br = bottom_row[r + ch];
                const float top = tl + (tr - tl) * s.frac;
                const float bottom = bl + (br - bl) * s.frac;
                *o++ = top + (bottom - top) * t.frac;
            }
        }
    }
}

/// resize_bilinear into a new vector of out_h * out_w * channels floats.
inline std::vector<float> resize_bilinear(const Image& img, int out_h, int out_w) {
    EMBER_CHECK(out_h > 0 && out_w > 0, ValueError, "resize_bilinear: target size must be positive, got ", out_h, "x",
                out_w);
    std::vector<float> out(static_cast<std::size_t>(out_h) * static_cast<std::size_t>(out_w) *
                           static_cast<std::size_t>(std::max(img.channels, 0)));
    resize_bilinear(img, out_h, out_w, out.data());
    return out;
}

/// resize_bilinear rounded to bytes (nearest, ties up), for a compact cache: 4x smaller than floats, off from
/// Keras' float values by at most 0.5. The same size returns the image unchanged (then exactly Keras' values,
/// since TensorFlow's resize to the same size is the identity).
inline Image resize_bilinear_u8(const Image& img, int out_h, int out_w) {
    if (img.height == out_h && img.width == out_w && img.valid()) return img;
    const std::vector<float> f = resize_bilinear(img, out_h, out_w);
    Image out{out_h, out_w, img.channels, std::vector<std::uint8_t>(f.size())};
    for (std::size_t i = 0; i < f.size(); ++i)
        out.pixels[i] = static_cast<std::uint8_t>(std::clamp(f[i], 0.0f, 255.0f) + 0.5f);
    return out;
}

/// Decodes `path` and resizes it to out_h x out_w: a [1, out_h, out_w, 3] float tensor with values in [0, 255],
/// what Keras' image_dataset_from_directory gives for that file. Throws IoError (see decode_image).
inline Tensor<float> load_image_tensor(const std::filesystem::path& path, int out_h, int out_w,
                                       const DecodeLimits& limits = {}) {
    const Image img = decode_image(path, limits);
    auto t = Tensor<float>::empty({1, out_h, out_w, 3});
    resize_bilinear(img, out_h, out_w, t.data());
    return t;
}

}  // namespace ember::vision
