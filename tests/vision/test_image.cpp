// Tests of ember/vision/image.hpp: decoding to RGB, error messages that name the file, TensorFlow's bilinear resize.
#include <catch2/catch.hpp>

#include <ember/vision/image.hpp>

#include <fstream>
#include <iterator>

#include "helpers.hpp"
#include "image_files.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// A 3x2 GIF87a with a 4-colour palette (red, green, blue, (10, 20, 30)); pixels 0 1 2 / 3 2 1. Written by Pillow.
constexpr std::uint8_t kGif[] = {0x47, 0x49, 0x46, 0x38, 0x37, 0x61, 0x03, 0x00, 0x02, 0x00, 0x81, 0x00,
                                 0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0x0a, 0x14,
                                 0x1e, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x08,
                                 0x09, 0x00, 0x01, 0x04, 0x10, 0x30, 0x40, 0x40, 0x80, 0x80, 0x00, 0x3b};

std::string decode_error(const fs::path& p) {
    return test::error_message<IoError>([&] { vision::decode_image(p); });
}
}  // namespace

TEST_CASE("decode_image converts PNG/BMP/JPEG of 1-4 channels to RGB", "[data][image]") {
    const auto dir = test::fresh_dir("decode");
    for (int ch : {1, 2, 3, 4}) {
        CAPTURE(ch);
        test::write_image(dir / "a.png", 5, 4, ch);
        const auto img = vision::decode_image(dir / "a.png");
        CHECK(img.width == 5);
        CHECK(img.height == 4);
        CHECK(img.channels == 3);
        CHECK(img.valid());
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 5; ++x)
                for (int c = 0; c < 3; ++c) {
                    const int src_c = ch >= 3 ? c : 0;  // gray (and gray + alpha) is repeated into R, G and B
                    REQUIRE(img.at(y, x, c) == test::pattern(y, x, src_c));
                }
        const auto info = vision::probe_image(dir / "a.png");
        CHECK(info.width == 5);
        CHECK(info.height == 4);
        CHECK(info.channels == ch);
        CHECK(info.format == "PNG");
    }
    test::write_image(dir / "b.bmp", 6, 3, 3);
    CHECK(vision::decode_image(dir / "b.bmp").at(2, 5, 1) == test::pattern(2, 5, 1));
    test::write_image(dir / "b4.bmp", 6, 3, 4);
    CHECK(vision::decode_image(dir / "b4.bmp").at(1, 4, 2) == test::pattern(1, 4, 2));
    // JPEG is lossy: the smooth test pattern comes back within a few levels
    test::write_image(dir / "c.jpg", 16, 16, 3);
    const auto jpg = vision::decode_image(dir / "c.jpg");
    CHECK(jpg.width == 16);
    CHECK(jpg.height == 16);
    test::write_image(dir / "g.jpg", 16, 8, 1);
    const auto gray_jpg = vision::decode_image(dir / "g.jpg");
    CHECK(gray_jpg.channels == 3);
    CHECK(gray_jpg.at(3, 7, 0) == gray_jpg.at(3, 7, 2));
    const auto info = vision::probe_image(dir / "b.bmp");
    CHECK(info.width == 6);
    CHECK(info.height == 3);
    CHECK(info.format == "BMP");
    CHECK(vision::probe_image(dir / "c.jpg").format == "JPEG");
    // the format comes from the content, not the extension (as in TensorFlow)
    fs::copy_file(dir / "b.bmp", dir / "really-a-bmp.png");
    CHECK(vision::probe_image(dir / "really-a-bmp.png").format == "BMP");
    CHECK(vision::decode_image(dir / "really-a-bmp.png").pixels == vision::decode_image(dir / "b.bmp").pixels);
}

TEST_CASE("decode_image reads GIF (first frame) and bytes in memory", "[data][image]") {
    const auto img = vision::decode_image(std::span<const std::uint8_t>(kGif), "t.gif");
    REQUIRE(img.width == 3);
    REQUIRE(img.height == 2);
    CHECK(img.pixels == std::vector<std::uint8_t>{255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 0, 0, 255, 0, 255, 0});
    const auto dir = test::fresh_dir("decode-gif");
    test::write_text(dir / "t.GIF", std::string(reinterpret_cast<const char*>(kGif), sizeof kGif));
    CHECK(vision::decode_image(dir / "t.GIF").pixels == img.pixels);
    CHECK(vision::probe_image(dir / "t.GIF").width == 3);
    // in-memory PNG equals the file
    test::write_image(dir / "p.png", 7, 5, 3);
    const std::string png = read_bytes(dir / "p.png");
    const auto from_memory =
        vision::decode_image(std::span(reinterpret_cast<const std::uint8_t*>(png.data()), png.size()), "p.png");
    CHECK(from_memory.pixels == vision::decode_image(dir / "p.png").pixels);
}

TEST_CASE("decode_image names the file and the problem", "[data][image][errors]") {
    const auto dir = test::fresh_dir("decode-bad");
    const auto where = [&](const char* name) { return "cannot decode '" + (dir / name).string() + "': "; };
    CHECK(decode_error(dir / "missing.jpg") == where("missing.jpg") + "no such file");
    fs::create_directories(dir / "folder.jpg");
    CHECK(decode_error(dir / "folder.jpg") == where("folder.jpg") + "it is a directory, not a file");
    test::write_text(dir / "empty.jpg", "");
    CHECK(decode_error(dir / "empty.jpg") == where("empty.jpg") + "the file is empty (0 bytes)");
    test::write_text(dir / "text.jpg", "this is not an image at all");
    CHECK(decode_error(dir / "text.jpg") == where("text.jpg") + "not a JPEG, PNG, BMP or GIF file");
    CHECK(test::error_message<IoError>([&] { vision::probe_image(dir / "text.jpg"); }) ==
          "cannot read image '" + (dir / "text.jpg").string() + "': not a JPEG, PNG, BMP or GIF file");
    CHECK(test::error_message<IoError>([&] { vision::probe_image(dir / "missing.jpg"); }) ==
          "cannot read image '" + (dir / "missing.jpg").string() + "': no such file");

    test::write_text(dir / "sig-only.png", std::string("\x89PNG\r\n\x1a\n", 8) + "garbage!");
    CHECK_THAT(test::error_message<IoError>([&] { vision::probe_image(dir / "sig-only.png"); }),
               Catch::StartsWith("cannot read image '" + (dir / "sig-only.png").string() +
                                 "': corrupt or unsupported PNG header (stb_image: "));

    // truncated files of each format: every cut is an error that says which format and that it is cut or corrupt
    test::write_image(dir / "full.png", 32, 32, 3);
    test::write_image(dir / "full.jpg", 32, 32, 3);
    test::write_image(dir / "full.bmp", 32, 32, 3);
    const std::string gif(reinterpret_cast<const char*>(kGif), sizeof kGif);
    for (const auto& [name, format, bytes] : {std::tuple{"cut.png", "PNG", read_bytes(dir / "full.png")},
                                              std::tuple{"cut.jpg", "JPEG", read_bytes(dir / "full.jpg")},
                                              std::tuple{"cut.bmp", "BMP", read_bytes(dir / "full.bmp")},
                                              std::tuple{"cut.gif", "GIF", gif}}) {
        // (a GIF without its last byte, the trailer, still holds a whole first frame: not cut there)
        for (std::size_t keep : {bytes.size() / 4, bytes.size() / 2, bytes.size() - 20, bytes.size() - 1}) {
            CAPTURE(name, keep, bytes.size());
            if (std::string_view(format) == "GIF" && keep == bytes.size() - 1) continue;
            test::write_text(dir / name, bytes.substr(0, keep));
            const std::string msg = decode_error(dir / name);
            CHECK_THAT(msg, Catch::StartsWith(where(name) + "corrupt, truncated or unsupported " + format + " data (stb_image: ") ||
                                Catch::Equals(where(name) + "truncated " + format +
                                              " file (the data ends before the image does)"));
        }
    }
    // stb_image alone accepts a cut BMP (it pads with zeros); the read past the end gives it away
    test::write_text(dir / "half.bmp", read_bytes(dir / "full.bmp").substr(0, 2000));
    CHECK(decode_error(dir / "half.bmp") == where("half.bmp") + "truncated BMP file (the data ends before the image does)");
    // a PNG whose pixel data is garbled
    std::string png = read_bytes(dir / "full.png");
    for (std::size_t i = 60; i < 120 && i < png.size(); ++i) png[i] = static_cast<char>(png[i] ^ 0x5A);
    test::write_text(dir / "garbled.png", png);
    CHECK_THAT(decode_error(dir / "garbled.png"), Catch::StartsWith(where("garbled.png") + "corrupt, truncated or unsupported PNG data (stb_image: "));
    // an unreadable file (when the tests run as root, permissions do not stop reading: nothing to check)
    test::write_image(dir / "locked.png", 4, 4, 3);
    fs::permissions(dir / "locked.png", fs::perms::none);
    if (!std::ifstream(dir / "locked.png")) {
        CHECK(decode_error(dir / "locked.png") == where("locked.png") + "cannot open it (Permission denied)");
    }
    fs::permissions(dir / "locked.png", fs::perms::owner_all);
    CHECK(test::error_message<IoError>([&] { vision::decode_image(std::span<const std::uint8_t>{}, "buf"); }) ==
          "cannot decode 'buf': the data is empty (0 bytes)");
}

TEST_CASE("resize_bilinear matches TensorFlow's half-pixel bilinear resize", "[data][image]") {
    // 2x2 -> 4x4: TF samples at src = (i + 0.5) * 0.5 - 0.5 = -0.25, 0.25, 0.75, 1.25 on both axes; outside
    // [0, 1] both taps are the border pixel. Rows: [0 10 30 40], +20, +60, +80.
    const vision::Image two{2, 2, 1, {0, 40, 80, 120}};
    const auto up = vision::resize_bilinear(two, 4, 4);
    const std::vector<float> expected_up{0, 10, 30, 40, 20, 30, 50, 60, 60, 70, 90, 100, 80, 90, 110, 120};
    for (std::size_t i = 0; i < 16; ++i) CHECK(up[i] == Approx(expected_up[i]).margin(1e-4));
    // 4x4 -> 2x2: src = (i + 0.5) * 2 - 0.5 = 0.5, 2.5: the mean of each 2x2 block; v(y, x) = 40 y + 10 x
    vision::Image four{4, 4, 1, {}};
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) four.pixels.push_back(static_cast<std::uint8_t>(40 * y + 10 * x));
    const auto down = vision::resize_bilinear(four, 2, 2);
    CHECK(down == std::vector<float>{25, 45, 105, 125});
    // 3 -> 5: src = (i + 0.5) * 0.6 - 0.5 = -0.2, 0.4, 1.0, 1.6, 2.2 (pixel 0, 0.6 between 0 and 1, 1, 0.6 between 1
    // and 2, pixel 2); on a 3x3 image v(y, x) = 90 y + 30 x
    const vision::Image sq{3, 3, 1, {0, 30, 60, 90, 120, 150, 180, 210, 240}};
    float big[25];
    vision::resize_bilinear(sq, 5, 5, big);
    const float axis[5] = {0, 12, 30, 48, 60};
    for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 5; ++x) CHECK(big[y * 5 + x] == Approx(3 * axis[y] + axis[x]).margin(1e-4));
    // a non-square, 3-channel case (2x3 -> 3x2); each axis separately, channels independent:
    // y: src = (i + 0.5) * 2/3 - 0.5 = -1/6, 0.5, 7/6 -> row 0, mid, row 1; x: src = 0.25, 1.75
    vision::Image rgb{2, 3, 3, {}};
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x)
            for (int c = 0; c < 3; ++c) rgb.pixels.push_back(static_cast<std::uint8_t>(100 * y + 20 * x + c));
    const auto r = vision::resize_bilinear(rgb, 3, 2);
    const float ys[3] = {0, 50, 100}, xs[2] = {5, 35};
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 2; ++x)
            for (int c = 0; c < 3; ++c) CHECK(r[static_cast<std::size_t>((y * 2 + x) * 3 + c)] == Approx(ys[y] + xs[x] + c));
    // the same size is the identity; the byte version rounds to nearest
    CHECK(vision::resize_bilinear(sq, 3, 3) == std::vector<float>{0, 30, 60, 90, 120, 150, 180, 210, 240});
    CHECK(vision::resize_bilinear_u8(sq, 3, 3).pixels == sq.pixels);
    const vision::Image pair{1, 2, 1, {0, 1}};
    CHECK(vision::resize_bilinear_u8(pair, 1, 4).pixels == std::vector<std::uint8_t>{0, 0, 1, 1});  // 0, .25, .75, 1
    CHECK(vision::resize_bilinear_u8(two, 4, 4).pixels == std::vector<std::uint8_t>(expected_up.begin(), expected_up.end()));
}

TEST_CASE("resize_bilinear rejects bad sizes and inconsistent images", "[data][image][errors]") {
    const vision::Image sq{2, 2, 1, {1, 2, 3, 4}};
    CHECK(test::error_message<ValueError>([&] { vision::resize_bilinear(sq, 0, 3); }) ==
          "resize_bilinear: target size must be positive, got 0x3");
    const vision::Image bad{2, 2, 3, {1, 2, 3}};
    CHECK(test::error_message<ValueError>([&] { vision::resize_bilinear(bad, 2, 2); }) ==
          "resize_bilinear: the image is empty or its pixel count (3) does not match 2x2x3");
}

TEST_CASE("load_image_tensor gives Keras' [1, H, W, 3] floats in 0..255", "[data][image]") {
    const auto dir = test::fresh_dir("load-tensor");
    test::write_image(dir / "a.png", 9, 6, 3);
    const auto t = vision::load_image_tensor(dir / "a.png", 3, 4);
    CHECK(t.shape() == Shape{1, 3, 4, 3});
    const auto expected = vision::resize_bilinear(vision::decode_image(dir / "a.png"), 3, 4);
    for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(t.data()[i] == expected[i]);
}

TEST_CASE("the isic-mini JPEGs decode to 180x180 RGB", "[data][image][isic]") {
    const fs::path dir = fs::path(EMBER_SHARED_DATA_DIR) / "isic-mini" / "Train" / "melanoma";
    if (test::shared_data_missing(dir)) return;
    int seen = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".jpg" || seen >= 5) continue;
        ++seen;
        const auto img = vision::decode_image(e.path());
        CHECK(img.height == 180);
        CHECK(img.width == 180);
        CHECK(img.channels == 3);
        const auto info = vision::probe_image(e.path());
        CHECK(info.channels == 3);
    }
    CHECK(seen == 5);
}

TEST_CASE("decode_image refuses images over its limits before decoding them", "[data][image][errors]") {
    using Bytes = std::vector<std::uint8_t>;
    const auto le16 = [](int v) { return Bytes{static_cast<std::uint8_t>(v & 0xFF), static_cast<std::uint8_t>(v >> 8)}; };
    const auto be32 = [](int v) {
        return Bytes{static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                     static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    };
    const auto cat = [](std::initializer_list<Bytes> parts) {
        Bytes out;
        for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
        return out;
    };
    const auto error = [](const Bytes& b, const std::string& name) {
        return test::error_message<IoError>([&] { vision::decode_image(b, name); });
    };
    // a GIF header (13 bytes) declaring an 18000 x 18000 canvas: stb_image would allocate 1.3 GB per canvas buffer
    const Bytes gif = cat({Bytes{'G', 'I', 'F', '8', '9', 'a'}, le16(18000), le16(18000), Bytes{0, 0, 0, 0x3B}});
    CHECK(error(gif, "canvas.gif") == "cannot decode 'canvas.gif': the GIF header declares 18000 x 18000 = 324000000 "
                                      "pixels, over the limit of 50000000 (DecodeLimits::max_pixels)");
    // a PNG signature and IHDR (8-bit RGB) declaring 18000 x 18000, no pixel data
    const Bytes png = cat({Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, be32(13), Bytes{'I', 'H', 'D', 'R'},
                           be32(18000), be32(18000), Bytes{8, 2, 0, 0, 0}, be32(0)});
    CHECK(error(png, "huge.png") == "cannot decode 'huge.png': the PNG header declares 18000 x 18000 = 324000000 "
                                    "pixels, over the limit of 50000000 (DecodeLimits::max_pixels)");
    // a BMP (BITMAPINFOHEADER, 24-bit) declaring 20000 x 20000
    const auto le32 = [](int v) {
        return Bytes{static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v >> 16),
                     static_cast<std::uint8_t>(v >> 24)};
    };
    const Bytes bmp = cat({Bytes{'B', 'M'}, le32(54 + 100), le32(0), le32(54), le32(40), le32(20000), le32(20000),
                           le16(1), le16(24), le32(0), le32(0), le32(0), le32(0), le32(0), le32(0), Bytes(100, 0)});
    CHECK(error(bmp, "huge.bmp") == "cannot decode 'huge.bmp': the BMP header declares 20000 x 20000 = 400000000 "
                                    "pixels, over the limit of 50000000 (DecodeLimits::max_pixels)");

    // the limits are settable per call: a 5 x 4 image passes at 20 pixels, not at 19
    const auto dir = test::fresh_dir("decode-limits");
    test::write_image(dir / "a.png", 5, 4, 3);
    CHECK(vision::decode_image(dir / "a.png", {.max_pixels = 20}).width == 5);
    CHECK(test::error_message<IoError>([&] { vision::decode_image(dir / "a.png", {.max_pixels = 19}); }) ==
          "cannot decode '" + (dir / "a.png").string() +
              "': the PNG header declares 5 x 4 = 20 pixels, over the limit of 19 (DecodeLimits::max_pixels)");
    // and the file size: read at most max_bytes
    const auto size = fs::file_size(dir / "a.png");
    CHECK(vision::decode_image(dir / "a.png", {.max_bytes = size}).height == 4);
    CHECK(test::error_message<IoError>([&] { vision::decode_image(dir / "a.png", {.max_bytes = size - 1}); }) ==
          "cannot decode '" + (dir / "a.png").string() + "': the file is " + std::to_string(size) +
              " bytes, over the limit of " + std::to_string(size - 1) + " bytes (DecodeLimits::max_bytes)");
    CHECK(test::error_message<IoError>([&] { vision::probe_image(dir / "a.png", {.max_bytes = 10}); }) ==
          "cannot read image '" + (dir / "a.png").string() + "': the file is " + std::to_string(size) +
              " bytes, over the limit of 10 bytes (DecodeLimits::max_bytes)");
    CHECK(test::error_message<IoError>([&] { vision::decode_image(gif, "g.gif", {.max_bytes = 12}); }) ==
          "cannot decode 'g.gif': the data is 14 bytes, over the limit of 12 bytes (DecodeLimits::max_bytes)");
    // probing is not limited by pixels: it reports the declared size
    test::write_text(dir / "canvas.gif", std::string(gif.begin(), gif.end()));
    CHECK(vision::probe_image(dir / "canvas.gif").width == 18000);
    CHECK(test::error_message<ValueError>([&] { vision::decode_image(dir / "a.png", {.max_pixels = 0}); }) ==
          "DecodeLimits: max_pixels and max_bytes must be > 0, got 0 and 268435456");
}
