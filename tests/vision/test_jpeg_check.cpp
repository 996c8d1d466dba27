// Tests of ember/vision/jpeg_check.hpp: JPEG Huffman tables and scans that would make stb_image index past its
// tables are refused with a message naming the table; valid JPEGs decode exactly as stb_image alone decodes them.
#include <catch2/catch.hpp>

#include <ember/vision/image.hpp>

#include <fstream>
#include <iterator>

#include "helpers.hpp"
#include "image_files.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
using Bytes = std::vector<std::uint8_t>;

Bytes read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::string decode_error(const Bytes& bytes, const std::string& name = "x.jpg") {
    return test::error_message<IoError>([&] { vision::decode_image(bytes, name); });
}

/// The offset of the first marker segment `m` (its 0xFF byte) in a JPEG's headers.
std::size_t find_marker(const Bytes& jpeg, std::uint8_t m) {
    for (std::size_t i = 2; i + 1 < jpeg.size(); ++i)
        if (jpeg[i] == 0xFF && jpeg[i + 1] == m) return i;
    FAIL("no marker " << int(m));
    return 0;
}

/// SOI, one DHT segment holding `table` (class/id byte, 16 counts, symbols), EOI.
Bytes jpeg_with_dht(const Bytes& table) {
    const std::size_t len = table.size() + 2;
    Bytes b(6 + table.size() + 2);
    const std::uint8_t head[6] = {0xFF, 0xD8, 0xFF, 0xC4, static_cast<std::uint8_t>(len >> 8),
                                  static_cast<std::uint8_t>(len & 0xFF)};
    std::copy(std::begin(head), std::end(head), b.begin());
    std::copy(table.begin(), table.end(), b.begin() + 6);
    b[b.size() - 2] = 0xFF;
    b[b.size() - 1] = 0xD9;
    return b;
}

/// A JPEG written by stb_image_write (baseline, 4:2:0, standard Huffman tables).
Bytes valid_jpeg(int w, int h, int channels) {
    const auto dir = test::fresh_dir("jpeg-check");
    test::write_image(dir / "v.jpg", w, h, channels);
    return read_file(dir / "v.jpg");
}
}  // namespace

TEST_CASE("the fuzzed 9-byte DHT overflow is refused before stb_image reads it", "[data][image][jpeg][errors]") {
    // ../shared/crashes/stb_jpeg_dht_huffman_overflow.min.jpg: SOI, then a DHT declaring 55748 bytes of which 5
    // exist; stb_image pads with zeros and reads counts 255 + 217 = 472 > 256, writing past its 257-entry table.
    const Bytes overflow{0xFF, 0xD8, 0xFF, 0xC4, 0xD9, 0xC4, 0x01, 0xFF, 0xD9};
    CHECK(decode_error(overflow, "dht.jpg") ==
          "cannot decode 'dht.jpg': truncated JPEG file (the segment at byte 2 declares 55748 bytes, 5 remain)");
    const auto dir = test::fresh_dir("jpeg-check-probe");
    test::write_text(dir / "dht.jpg", std::string(overflow.begin(), overflow.end()));
    CHECK(test::error_message<IoError>([&] { vision::probe_image(dir / "dht.jpg"); }) ==
          "cannot read image '" + (dir / "dht.jpg").string() +
              "': truncated JPEG file (the segment at byte 2 declares 55748 bytes, 5 remain)");
}

TEST_CASE("invalid Huffman tables are refused, naming the table", "[data][image][jpeg][errors]") {
    // counts of 255 codes of length 15 and 255 of length 16: a prefix code, but 510 symbols for 256 entries
    Bytes counts(16, 0);
    counts[14] = 255;
    counts[15] = 255;
    Bytes table{0x10};
    table.insert(table.end(), counts.begin(), counts.end());
    CHECK(decode_error(jpeg_with_dht(table)) ==
          "cannot decode 'x.jpg': corrupt JPEG: Huffman table 1/0 is invalid (its code counts add up to 510 symbols, "
          "at most 256)");
    // three codes of length 1: not a prefix code (only '0' and '1' exist)
    table = {0x01, 3};
    table.resize(17, 0);
    table.insert(table.end(), {0, 1, 2});
    CHECK(decode_error(jpeg_with_dht(table)) ==
          "cannot decode 'x.jpg': corrupt JPEG: Huffman table 0/1 is invalid (the code lengths are not a prefix code: "
          "length 1 needs 3 codes, 2 exist)");
    // a full code is fine until a longer one is added: 2 + 1 codes of lengths 1 and 2 need 5 of 4 two-bit codes
    table = {0x00, 2, 1};
    table.resize(17, 0);
    table.insert(table.end(), {0, 1, 2});
    CHECK_THAT(decode_error(jpeg_with_dht(table)),
               Catch::EndsWith("Huffman table 0/0 is invalid (the code lengths are not a prefix code: length 2 needs 5 "
                               "codes, 4 exist)"));
    // class 2, id 5
    table = {0x25};
    table.resize(17, 0);
    CHECK_THAT(decode_error(jpeg_with_dht(table)),
               Catch::EndsWith("Huffman table 2/5 is invalid (the class must be 0 (DC) or 1 (AC) and the id 0..3)"));
    // symbols (or counts) past the end of the segment
    table = {0x11, 0, 2};
    table.resize(17, 0);
    table.push_back(7);
    CHECK_THAT(decode_error(jpeg_with_dht(table)),
               Catch::EndsWith("Huffman table 1/1 is invalid (its 2 symbols run past the end of the DHT segment)"));
    CHECK_THAT(decode_error(jpeg_with_dht({0x00, 1, 2, 3})),
               Catch::EndsWith("Huffman table 0/0 is invalid (its 16 code counts run past the end of the DHT segment)"));

    // the same faults inside a real file: its first DHT (the luminance DC table) made over-full
    Bytes jpeg = valid_jpeg(16, 16, 3);
    const std::size_t dht = find_marker(jpeg, 0xC4);
    REQUIRE(jpeg[dht + 4] == 0x00);  // class 0, id 0
    jpeg[dht + 5] = 3;               // three codes of length 1
    CHECK(decode_error(jpeg, "real.jpg") ==
          "cannot decode 'real.jpg': corrupt JPEG: Huffman table 0/0 is invalid (the code lengths are not a prefix "
          "code: length 1 needs 3 codes, 2 exist)");
}

TEST_CASE("a scan that uses an undefined Huffman table is refused", "[data][image][jpeg][errors]") {
    // stb_image's tables are uninitialised memory until a DHT fills them; decoding with one reads past its arrays
    Bytes jpeg = valid_jpeg(16, 16, 3);
    const std::size_t sos = find_marker(jpeg, 0xDA);
    REQUIRE(jpeg[sos + 4] == 3);  // three components; selectors at sos + 6, + 8, + 10
    jpeg[sos + 6] = 0x23;         // DC table 2 (undefined), AC table 3 (undefined)
    CHECK(decode_error(jpeg) == "cannot decode 'x.jpg': corrupt JPEG: the scan at byte " + std::to_string(sos) +
                                    " uses Huffman table 0/2, which no DHT segment defines");
    jpeg[sos + 6] = 0x03;
    CHECK_THAT(decode_error(jpeg), Catch::EndsWith("uses Huffman table 1/3, which no DHT segment defines"));
}

TEST_CASE("bad frame and scan headers and segment lengths are refused", "[data][image][jpeg][errors]") {
    const Bytes good = valid_jpeg(16, 16, 3);
    const std::size_t sof = find_marker(good, 0xC0);
    Bytes jpeg = good;
    jpeg[sof + 11] = 0x51;  // component 0 sampled 5x1
    CHECK_THAT(decode_error(jpeg), Catch::EndsWith("corrupt JPEG: component 0 has sampling factors 5x1 (each must be 1..4)"));
    jpeg = good;
    jpeg[sof + 9] = 5;  // five components
    CHECK_THAT(decode_error(jpeg), Catch::EndsWith("declares 5 components in 17 bytes (expected 1 to 4 components and "
                                                   "8 + 3 x components bytes)"));
    jpeg = good;
    const std::size_t sos = find_marker(good, 0xDA);
    jpeg[sos + 3] = 10;  // length 10 for 3 components (12)
    CHECK_THAT(decode_error(jpeg), Catch::EndsWith("declares 3 components in 10 bytes (expected 1 to 4 components and "
                                                   "6 + 2 x components bytes)"));
    jpeg = good;
    jpeg[sof + 2] = 0;
    jpeg[sof + 3] = 1;  // length 1
    CHECK(decode_error(jpeg) == "cannot decode 'x.jpg': corrupt JPEG: the segment at byte " + std::to_string(sof) +
                                    " declares a length of 1 (at least 2)");
    // every cut inside the headers is named as a truncation
    for (std::size_t keep = 4; keep < sos + 12; keep += 7) {
        CAPTURE(keep);
        CHECK_THAT(decode_error(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(keep))),
                   Catch::StartsWith("cannot decode 'x.jpg': truncated JPEG file ("));
    }
}

TEST_CASE("valid JPEGs pass the check and decode exactly as stb_image alone decodes them", "[data][image][jpeg]") {
    const auto same_as_stb = [](const Bytes& jpeg) {
        int w = 0, h = 0, n = 0;
        std::unique_ptr<stbi_uc, decltype(&stbi_image_free)> ref(
            stbi_load_from_memory(jpeg.data(), static_cast<int>(jpeg.size()), &w, &h, &n, 3), &stbi_image_free);
        REQUIRE(ref);
        vision::detail::check_jpeg_segments(jpeg, "valid.jpg");
        const auto img = vision::decode_image(jpeg, "valid.jpg");
        REQUIRE(img.width == w);
        REQUIRE(img.height == h);
        CHECK(img.pixels == Bytes(ref.get(), ref.get() + static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3));
    };
    same_as_stb(valid_jpeg(16, 16, 3));
    same_as_stb(valid_jpeg(33, 17, 1));
    // a DHT holding all four standard tables in one segment, as libjpeg writes them: the isic-mini photographs
    const fs::path dir = fs::path(EMBER_SHARED_DATA_DIR) / "isic-mini" / "Train" / "nevus";
    if (test::shared_data_missing(dir)) return;
    int seen = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".jpg" || seen >= 5) continue;
        ++seen;
        CAPTURE(e.path().string());
        same_as_stb(read_file(e.path()));
    }
    CHECK(seen == 5);
}

TEST_CASE("the fuzzed reproducers in ../shared/crashes are refused or decoded safely", "[data][image][jpeg][errors]") {
    const fs::path dir = fs::path(EMBER_SHARED_DATA_DIR).parent_path() / "crashes";
    if (test::shared_data_missing(dir)) return;
    const auto error_for = [&](const char* name) { return decode_error(read_file(dir / name), name); };
    CHECK(error_for("stb_jpeg_dht_huffman_overflow.min.jpg") ==
          "cannot decode 'stb_jpeg_dht_huffman_overflow.min.jpg': truncated JPEG file (the segment at byte 2 declares "
          "55748 bytes, 5 remain)");
    CHECK(error_for("gif_large_canvas_slow.gif") ==
          "cannot decode 'gif_large_canvas_slow.gif': the GIF header declares 17994 x 17993 = 323766042 "
          "pixels, over the limit of 50000000 (DecodeLimits::max_pixels)");
    CHECK(error_for("slow_gif_1642b.gif") ==
          "cannot decode 'slow_gif_1642b.gif': the GIF header declares 2586 x 20617 = 53315562 pixels, "
          "over the limit of 50000000 (DecodeLimits::max_pixels)");
    // a corrupt but well-formed 63923 x 180 JPEG (11.5 megapixels, under the limit): stb_image decodes it safely
    const auto slow = vision::decode_image(dir / "slow_jpeg_4013b.jpg");
    CHECK(slow.width == 63923);
    CHECK(slow.height == 180);
    CHECK_THAT(test::error_message<IoError>([&] {
                   vision::decode_image(dir / "slow_jpeg_4013b.jpg", {.max_pixels = 10'000'000});
               }),
               Catch::EndsWith("the JPEG header declares 63923 x 180 = 11506140 pixels, over the limit of 10000000 "
                               "(DecodeLimits::max_pixels)"));
}
