// examples/melanoma/tools/colour_stats.cpp - label-free colour statistics of the Train and Test folders, before and after Shades of
// Gray colour constancy: the mean over images of each image's mean R, G, B, and the standard deviation of those
// per-image means (examples/melanoma/RESULTS.md, run 9). Reads no labels.
//   g++ -std=c++20 -O2 -fopenmp -Iinclude -I/usr/include/stb examples/melanoma/tools/colour_stats.cpp -o /tmp/colour_stats
//   /tmp/colour_stats "data/isic/Skin cancer ISIC The International Skin Imaging Collaboration"
#include <ember/vision/image_folder.hpp>
#include <cmath>
#include <cstdio>
using namespace ember;
int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: colour_stats DATASET (a folder with Train/ and Test/)\n");
        return 2;
    }
    for (double p : {0.0, 6.0}) {
        for (const char* split : {"Train", "Test"}) {
            auto index = vision::index_image_folder(std::string(argv[1]) + "/" + split);
            vision::LoadOptions o; o.shades_of_gray = p; o.on_warning = [](const std::string&) {};
            auto set = vision::load_images(index, o);
            double m[3] = {0, 0, 0}, s[3] = {0, 0, 0};
            const std::size_t px = set.image_bytes() / 3;
            for (std::size_t i = 0; i < set.size(); ++i) {
                double mi[3] = {0, 0, 0};
                for (std::size_t k = 0; k < px; ++k) for (int c = 0; c < 3; ++c) mi[c] += set.image(i)[3 * k + c];
                for (int c = 0; c < 3; ++c) { mi[c] /= px; m[c] += mi[c]; s[c] += mi[c] * mi[c]; }
            }
            std::printf("p=%g %-5s n=%zu mean RGB", p, split, set.size());
            for (int c = 0; c < 3; ++c) { m[c] /= set.size(); std::printf(" %.1f", m[c]); }
            std::printf("  sd of image means");
            for (int c = 0; c < 3; ++c) std::printf(" %.1f", std::sqrt(s[c] / set.size() - m[c] * m[c]));
            std::printf("\n");
        }
    }
}
