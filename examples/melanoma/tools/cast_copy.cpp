// examples/melanoma/tools/cast_copy.cpp - a copy of the images a predictions.csv lists, with a colour cast put on them: each image
// resized to 180x180 as training sees it, then every pixel's R, G and B multiplied by three gains (rounded,
// clamped to 0-255), written losslessly as OUT/<true class>/<file stem>.png. `melanoma evaluate --data OUT` then
// scores a model on the same images under that cast (examples/melanoma/RESULTS.md, "Where the Test folder's melanomas come from" and
// next-runs item 11). Reads the true classes a run wrote for its validation split; chooses nothing. `melanoma
// calibrate --cast-copy R G B` casts the validation split the same way in memory (vision::apply_channel_gains).
//   g++ -std=c++20 -O2 -Iinclude -I/usr/include/stb examples/melanoma/tools/cast_copy.cpp -o /tmp/cast_copy
//   /tmp/cast_copy runs/run39/predictions.csv /tmp/cast-val 0.9163 1.0552 1.1975
#include <ember/vision/color.hpp>
#include <ember/vision/image.hpp>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {
/// The fields of one CSV line; a field may be quoted, with "" for a quote inside it.
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char ch = line[i];
        if (quoted && ch == '"' && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', ++i;
        else if (ch == '"') quoted = !quoted;
        else if (ch == ',' && !quoted) out.emplace_back();
        else out.back() += ch;
    }
    if (quoted) throw std::runtime_error("unterminated quote in: " + line);
    return out;
}
}  // namespace

int main(int argc, char** argv) try {
    if (argc != 6) {
        std::fprintf(stderr, "usage: cast_copy PREDICTIONS.csv OUT GAIN_R GAIN_G GAIN_B\n");
        return 2;
    }
    double gain[3];
    for (int c = 0; c < 3; ++c) {
        const std::string text = argv[3 + c];
        std::size_t used = 0;
        try {
            gain[c] = std::stod(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != text.size() || !(gain[c] > 0 && gain[c] < 10))
            throw std::runtime_error(std::string("GAIN_") + "RGB"[c] + " must be a number in (0, 10), got '" + text + "'");
    }
    std::ifstream csv(argv[1]);
    if (!csv) throw std::runtime_error(std::string("cannot read ") + argv[1]);
    std::string line;
    std::getline(csv, line);
    const auto header = csv_fields(line);
    if (header.size() < 2 || header[0] != "image" || header[1] != "true_class")
        throw std::runtime_error(std::string(argv[1]) + " does not start with image,true_class: not a predictions.csv");
    const fs::path out = argv[2];
    if (fs::exists(out)) throw std::runtime_error(out.string() + " exists: give a new folder");
    int written = 0;
    while (std::getline(csv, line)) {
        if (line.empty()) continue;
        const auto f = csv_fields(line);
        ember::vision::Image img = ember::vision::resize_bilinear_u8(ember::vision::decode_image(f.at(0)), 180, 180);
        if (img.channels != 3) throw std::runtime_error(f.at(0) + " did not decode to RGB");
        ember::vision::apply_channel_gains(img.pixels.data(), img.pixels.size() / 3, {gain[0], gain[1], gain[2]});
        const fs::path dir = out / f.at(1);
        fs::create_directories(dir);
        const fs::path file = dir / (fs::path(f.at(0)).stem().string() + ".png");
        if (!stbi_write_png(file.c_str(), img.width, img.height, 3, img.pixels.data(), img.width * 3))
            throw std::runtime_error("cannot write " + file.string());
        ++written;
    }
    std::printf("wrote %d images under %s with gains R %g, G %g, B %g\n", written, out.c_str(), gain[0], gain[1], gain[2]);
} catch (const std::exception& e) {
    std::fprintf(stderr, "cast_copy: %s\n", e.what());
    return 1;
}
