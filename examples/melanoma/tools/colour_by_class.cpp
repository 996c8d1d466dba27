// examples/melanoma/tools/colour_by_class.cpp - how much the Train folder's colours alone say about melanoma: per class, the mean of
// each image's mean R, G, B, and for melanoma against the rest the ROC AUC of each of those per-image means used
// as a score (0.5: no information; reported as max(AUC, 1 - AUC), colour can point either way), before and after
// Shades of Gray colour constancy (examples/melanoma/RESULTS.md, runs 11 and 12). Reads the Train folder's labels only: it
// looks at the data the models learn from, never at Test's labels.
//   g++ -std=c++20 -O2 -fopenmp -Iinclude -I/usr/include/stb examples/melanoma/tools/colour_by_class.cpp -o /tmp/colour_by_class
//   /tmp/colour_by_class "data/isic/Skin cancer ISIC The International Skin Imaging Collaboration/Train"
#include <ember/vision/image_folder.hpp>
#include <ember/train/metrics.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

using namespace ember;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: colour_by_class TRAIN_FOLDER (class folders inside)\n");
        return 2;
    }
    const auto index = vision::index_image_folder(argv[1]);
    const auto& names = index.class_names;
    const auto mel = std::find(names.begin(), names.end(), "melanoma") - names.begin();
    for (const double p : {0.0, 6.0}) {
        vision::LoadOptions o;
        o.shades_of_gray = p;
        o.on_warning = [](const std::string&) {};
        const auto set = vision::load_images(index, o);
        const std::size_t px = set.image_bytes() / 3;
        std::vector<std::vector<double>> mean(3, std::vector<double>(set.size()));  // per channel, per image
        for (std::size_t i = 0; i < set.size(); ++i)
            for (int c = 0; c < 3; ++c) {
                double s = 0;
                for (std::size_t k = 0; k < px; ++k) s += set.image(i)[3 * k + static_cast<std::size_t>(c)];
                mean[static_cast<std::size_t>(c)][i] = s / static_cast<double>(px);
            }
        std::printf("%s\n", p > 0 ? "after Shades of Gray (p = 6)" : "as stored");
        for (std::size_t k = 0; k < names.size(); ++k) {
            double m[3] = {0, 0, 0};
            int n = 0;
            for (std::size_t i = 0; i < set.size(); ++i)
                if (set.labels[i] == static_cast<std::int32_t>(k)) {
                    for (int c = 0; c < 3; ++c) m[c] += mean[static_cast<std::size_t>(c)][i];
                    ++n;
                }
            std::printf("  %-28s n=%4d  mean R G B %6.1f %6.1f %6.1f\n", names[k].c_str(), n, m[0] / n, m[1] / n, m[2] / n);
        }
        if (mel < static_cast<std::ptrdiff_t>(names.size())) {
            std::vector<bool> positive(set.size());
            for (std::size_t i = 0; i < set.size(); ++i) positive[i] = set.labels[i] == mel;
            std::printf("  melanoma against the rest, ROC AUC of the image mean:");
            for (int c = 0; c < 3; ++c) {
                const double auc = train::roc_auc(mean[static_cast<std::size_t>(c)], positive);
                std::printf("  %c %.3f", "RGB"[c], std::max(auc, 1 - auc));
            }
            std::printf("\n");
        }
    }
}
