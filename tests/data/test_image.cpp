#include <catch2/catch.hpp>

#include <ember/data/image.hpp>

#include "helpers.hpp"
#include "image_files.hpp"

using namespace ember;

TEST_CASE("decode_image converts PNG/BMP/JPEG of 1-4 channels to RGB", "[data][image]") {
    const auto dir = test::fresh_dir("decode");
    for (int ch : {1, 2, 3, 4}) {
        CAPTURE(ch);
        test::write_image(dir / "a.png", 5, 4, ch);
        const auto img = data::decode_image(dir / "a.png");
        CHECK(img.width == 5);
        CHECK(img.height == 4);
        CHECK(img.channels == 3);
        const int src_c = ch >= 3 ? 2 : 0;  // gray is repeated into R, G and B
        CHECK(img.at(3, 4, 2) == test::pattern(3, 4, src_c));
        CHECK(img.at(1, 2, 0) == test::pattern(1, 2, 0));
    }
    test::write_image(dir / "b.bmp", 6, 3, 3);
    CHECK(data::decode_image(dir / "b.bmp").at(2, 5, 1) == test::pattern(2, 5, 1));
    test::write_image(dir / "c.jpg", 16, 16, 3);
    CHECK(data::decode_image(dir / "c.jpg").width == 16);
    const auto info = data::probe_image(dir / "b.bmp");
    CHECK(info.width == 6);
    CHECK(info.height == 3);
}

TEST_CASE("decode_image names the file and the problem", "[data][image][errors]") {
    const auto dir = test::fresh_dir("decode-bad");
    CHECK(test::error_message<IoError>([&] { data::decode_image(dir / "missing.jpg"); }) ==
          "cannot decode '" + (dir / "missing.jpg").string() + "': no such file");
    test::write_text(dir / "empty.jpg", "");
    CHECK(test::error_message<IoError>([&] { data::decode_image(dir / "empty.jpg"); }) ==
          "cannot decode '" + (dir / "empty.jpg").string() + "': the file is empty");
    test::write_text(dir / "text.jpg", "this is not an image at all");
    CHECK_THAT(test::error_message<IoError>([&] { data::decode_image(dir / "text.jpg"); }),
               Catch::StartsWith("cannot decode '" + (dir / "text.jpg").string() + "': ") &&
                   Catch::EndsWith("(not a valid JPEG/PNG/BMP/GIF file, or truncated)"));
    // a truncated PNG: the first 60 bytes of a valid one
    test::write_image(dir / "full.png", 32, 32, 3);
    std::string bytes;
    {
        std::ifstream in(dir / "full.png", std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    test::write_text(dir / "cut.png", bytes.substr(0, 60));
    CHECK_THROWS_AS(data::decode_image(dir / "cut.png"), IoError);
}

TEST_CASE("resize_bilinear matches TensorFlow's half-pixel bilinear resize", "[data][image]") {
    // 1x2 -> 1x4 along x: TF samples at src = (x + 0.5) * 0.5 - 0.5 = -0.25, 0.25, 0.75, 1.25
    data::Image img{1, 2, 1, {0, 100}};
    float out[4];
    data::resize_bilinear(img, 1, 4, out);
    CHECK(out[0] == Approx(0.0f));    // clamped to pixel 0
    CHECK(out[1] == Approx(25.0f));
    CHECK(out[2] == Approx(75.0f));
    CHECK(out[3] == Approx(100.0f));  // clamped to pixel 1
    // 4 -> 2: src = (x + 0.5) * 2 - 0.5 = 0.5, 2.5: averages of neighbours
    data::Image row{1, 4, 1, {0, 10, 20, 40}};
    float half[2];
    data::resize_bilinear(row, 1, 2, half);
    CHECK(half[0] == Approx(5.0f));
    CHECK(half[1] == Approx(30.0f));
    // 3 -> 5 on both axes of a 3x3 image equals the separable 1-D result
    data::Image sq{3, 3, 1, {0, 30, 60, 90, 120, 150, 180, 210, 240}};
    float big[25];
    data::resize_bilinear(sq, 5, 5, big);
    // src = (i + 0.5) * 0.6 - 0.5 = -0.2, 0.4, 1.0, 1.6, 2.2 -> x values 0, 12, 30, 48, 60 on row 0
    CHECK(big[1] == Approx(12.0f));
    CHECK(big[2] == Approx(30.0f));
    CHECK(big[2 * 5 + 2] == Approx(120.0f));
    CHECK(big[4 * 5 + 4] == Approx(240.0f));
    // same size is the identity
    CHECK(data::resize_bilinear_u8(sq, 3, 3).pixels == sq.pixels);
}
