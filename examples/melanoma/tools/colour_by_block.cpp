// examples/melanoma/tools/colour_by_block.cpp - label-free colour statistics of a dataset's Train and Test folders grouped by the
// block of the ISIC archive each image's number falls in (ISIC_0000000-0000079, the archive's first images;
// ISIC_0000080-0001999; ISIC_0002000-0024305; ISIC_0024306 and above, HAM10000's range): per folder and block the
// image count, the mean over images of each image's mean R, G, B, the standard deviation of those per-image means,
// the mean of each image's mean R minus mean B, and how many images are bluish (R - B < 0), as stored and after
// Shades of Gray colour constancy (examples/melanoma/RESULTS.md, "Where the Test folder's melanomas come from"). Reads file
// names only, never a label: the class folders are walked to find the images and then forgotten.
//   g++ -std=c++20 -O2 -fopenmp -Iinclude -I/usr/include/stb examples/melanoma/tools/colour_by_block.cpp -o /tmp/colour_by_block
//   /tmp/colour_by_block "data/isic/Skin cancer ISIC The International Skin Imaging Collaboration"
#include <ember/vision/image_folder.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>
#include <string>

using namespace ember;

namespace {
constexpr int blocks = 4;

/// 0-3 for the four blocks, -1 for a name without an ISIC number.
int block_of(const std::string& path) {
    static const std::regex isic(R"(ISIC_(\d{7}))");
    std::smatch m;
    if (!std::regex_search(path, m, isic)) return -1;
    const long id = std::stol(m[1].str());
    return id < 80 ? 0 : id < 2000 ? 1 : id < 24306 ? 2 : 3;
}
}  // namespace

int main(int argc, char** argv) try {
    if (argc != 2) {
        std::fprintf(stderr, "usage: colour_by_block DATASET (a folder with Train/ and Test/)\n");
        return 2;
    }
    const char* block_name[blocks] = {"ISIC_0000000-0000079", "ISIC_0000080-0001999", "ISIC_0002000-0024305",
                                      "ISIC_0024306 and above"};
    for (const double p : {0.0, 6.0}) {
        std::printf("%s\n", p > 0 ? "after Shades of Gray (p = 6)" : "as stored");
        for (const char* split : {"Train", "Test"}) {
            const auto index = vision::index_image_folder(std::string(argv[1]) + "/" + split);
            vision::LoadOptions o;
            o.shades_of_gray = p;
            o.on_warning = [](const std::string&) {};
            const auto set = vision::load_images(index, o);
            const std::size_t px = set.image_bytes() / 3;
            double m[blocks][3] = {}, s[blocks][3] = {}, red_blue[blocks] = {};
            int n[blocks] = {}, bluish[blocks] = {};
            for (std::size_t i = 0; i < set.size(); ++i) {
                const int b = block_of(set.paths[i].filename().string());
                if (b < 0) continue;
                ++n[b];
                double mi[3] = {};
                for (int c = 0; c < 3; ++c) {
                    for (std::size_t k = 0; k < px; ++k) mi[c] += set.image(i)[3 * k + static_cast<std::size_t>(c)];
                    mi[c] /= static_cast<double>(px);
                    m[b][c] += mi[c];
                    s[b][c] += mi[c] * mi[c];
                }
                red_blue[b] += mi[0] - mi[2];
                bluish[b] += mi[0] < mi[2];
            }
            for (int b = 0; b < blocks; ++b) {
                if (n[b] == 0) continue;
                std::printf("  %-5s %-22s n=%4d  mean R G B", split, block_name[b], n[b]);
                for (int c = 0; c < 3; ++c) std::printf(" %6.1f", m[b][c] / n[b]);
                std::printf("  sd of image means");
                for (int c = 0; c < 3; ++c) {
                    const double mean = m[b][c] / n[b];
                    std::printf(" %5.1f", std::sqrt(std::max(0.0, s[b][c] / n[b] - mean * mean)));
                }
                std::printf("  R-B %5.1f, bluish %d\n", red_blue[b] / n[b], bluish[b]);
            }
        }
    }
} catch (const std::exception& e) {
    std::fprintf(stderr, "colour_by_block: %s\n", e.what());
    return 1;
}
