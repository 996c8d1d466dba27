// examples/melanoma/audit.cpp - `melanoma audit`: images per class and split, sizes and formats, duplicates by
// content within a class, across classes (contradictory labels) and between Train and Test (leakage).
#include <algorithm>
#include <cctype>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include <ember/vision/dedup.hpp>
#include <ember/vision/image.hpp>

#include "commands.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

namespace {

// ---- audit ----------------------------------------------------------------------------------------------------

std::uint64_t fnv1a_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::uint64_t h = vision::fnv1a(nullptr, 0);
    char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0)
        h = vision::fnv1a(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(in.gcount()), h);
    return h;
}

/// The folders audited: Train, and Test where the dataset has one, indexed with Train's classes.
struct Splits {
    std::vector<vision::FolderIndex> index;
    std::vector<std::string> names;  // "Train", "Test"
    [[nodiscard]] const std::vector<std::string>& classes() const { return index.front().class_names; }
};

Splits index_splits(const fs::path& data_dir) {
    Splits s;
    s.index.push_back(vision::index_image_folder(split_dir(data_dir, "Train"), {}, true));
    warn_not_indexed(s.index.back(), "");
    s.names.push_back("Train");
    if (const std::optional<fs::path> test = find_split_dir(data_dir, "Test")) {  // a Train folder alone is audited alone
        s.index.push_back(vision::index_image_folder(*test, s.classes(), true));
        warn_not_indexed(s.index.back(), "the Train folder's");
        s.names.push_back("Test");
    }
    return s;
}

/// The table of images per class and split; returns the counts, split by split.
std::vector<std::vector<long>> report_counts(const Splits& s, json& j) {
    const auto& names = s.classes();
    std::vector<std::vector<long>> counts;
    std::cout << "Images per class\n" << std::left << std::setw(28) << "class";
    for (const auto& n : s.names) std::cout << std::right << std::setw(8) << n;
    std::cout << "\n";
    for (const auto& index : s.index) counts.push_back(index.counts());
    for (std::size_t c = 0; c < names.size(); ++c) {
        std::cout << std::left << std::setw(28) << names[c];
        for (std::size_t i = 0; i < s.index.size(); ++i) {
            std::cout << std::right << std::setw(8) << counts[i][c];
            j["counts"][s.names[i]][names[c]] = counts[i][c];
        }
        std::cout << "\n";
    }
    return counts;
}

/// Sizes and formats, by content (a PNG named .jpg is a PNG; stb_image decodes it all the same), the names that
/// say otherwise, which other tools would misread, and unreadable files. Returns each file's content hash, split by
/// split.
std::vector<std::vector<std::uint64_t>> report_files(const Splits& s, json& j) {
    std::map<std::string, long> sizes, formats;
    std::vector<std::vector<std::uint64_t>> hashes(s.index.size());
    long unreadable = 0, misnamed = 0;
    const std::map<std::string, std::string> format_of_extension{
        {".jpg", "JPEG"}, {".jpeg", "JPEG"}, {".png", "PNG"}, {".bmp", "BMP"}, {".gif", "GIF"}};
    for (std::size_t i = 0; i < s.index.size(); ++i)
        for (const auto& f : s.index[i].files) {
            hashes[i].push_back(fnv1a_file(f.path));
            try {
                const auto info = vision::probe_image(f.path);
                ++sizes[std::to_string(info.width) + "x" + std::to_string(info.height) + "x" + std::to_string(info.channels)];
                ++formats[info.format];
                std::string ext = f.path.extension().string();
                std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
                const auto named = format_of_extension.find(ext);
                if (named != format_of_extension.end() && named->second != info.format && misnamed++ < 5)
                    std::cerr << "warning: '" << f.path.string() << "' is a " << info.format << " file named " << ext << "\n";
            } catch (const IoError& e) {
                ++unreadable;
                std::cerr << "warning: " << e.what() << "\n";
            }
        }
    std::cout << "\nImage sizes (WxHxC):";
    for (const auto& [k, v] : sizes) std::cout << " " << k << " (" << v << ")";
    std::cout << "\nFormats (by content):";
    for (const auto& [k, v] : formats) std::cout << " " << k << " (" << v << ")";
    std::cout << "\nFiles whose extension names another format: " << misnamed;
    std::cout << "\nUnreadable files: " << unreadable << "\n";
    j["sizes"] = sizes;
    j["formats"] = formats;
    j["misnamed"] = misnamed;
    j["unreadable"] = unreadable;
    return hashes;
}

/// Duplicates by content within split `i`: in the same class (redundant) or in different classes (contradictory).
void report_duplicates(const Splits& s, std::size_t i, const std::vector<std::uint64_t>& hashes, json& j) {
    const auto& names = s.classes();
    const auto& files = s.index[i].files;
    std::map<std::uint64_t, std::vector<std::size_t>> by_hash;
    for (std::size_t k = 0; k < hashes.size(); ++k) by_hash[hashes[k]].push_back(k);
    std::map<std::pair<int, int>, long> cross;
    std::map<int, long> within;
    for (const auto& [h, members] : by_hash) {
        if (members.size() < 2) continue;
        std::set<int> classes;
        for (auto k : members) classes.insert(files[k].label);
        for (int c : classes) {
            const long in_class = std::count_if(members.begin(), members.end(), [&](std::size_t k) { return files[k].label == c; });
            if (in_class > 1) within[c] += in_class - 1;
        }
        for (auto a = classes.begin(); a != classes.end(); ++a)
            for (auto b = std::next(a); b != classes.end(); ++b) ++cross[{*a, *b}];
    }
    std::cout << "\n" << s.names[i] << ": identical images within a class:";
    if (within.empty()) std::cout << " none";
    for (const auto& [c, n] : within) {
        std::cout << "\n  " << names[static_cast<std::size_t>(c)] << ": " << n << " extra copies";
        j["duplicates"][s.names[i]]["within_class"][names[static_cast<std::size_t>(c)]] = n;
    }
    std::cout << "\n" << s.names[i] << ": identical images under two classes (contradictory labels):";
    if (cross.empty()) std::cout << " none";
    for (const auto& [pair, n] : cross) {
        const std::string key = names[static_cast<std::size_t>(pair.first)] + " / " + names[static_cast<std::size_t>(pair.second)];
        std::cout << "\n  " << key << ": " << n;
        j["duplicates"][s.names[i]]["across_classes"][key] = n;
    }
    std::cout << "\n";
}

/// Test images identical to a Train image: leakage.
void report_leakage(const Splits& s, const std::vector<std::vector<std::uint64_t>>& hashes, json& j) {
    const std::set<std::uint64_t> train_hashes(hashes[0].begin(), hashes[0].end());
    long leaked = 0;
    for (std::size_t k = 0; k < hashes[1].size(); ++k)
        if (train_hashes.count(hashes[1][k])) {
            ++leaked;
            j["leakage"]["files"].push_back(s.index[1].files[k].path.filename().string());
        }
    j["leakage"]["test_images_in_train"] = leaked;
    std::cout << "\nTest images identical to a Train image (leakage): " << leaked << " of " << hashes[1].size() << "\n";
}

}  // namespace

int run_audit(const fs::path& data_dir, const fs::path& out_dir) {
    ensure_writable_dir(out_dir);
    const Splits splits = index_splits(data_dir);
    json j;
    const auto counts = report_counts(splits, j);
    const auto hashes = report_files(splits, j);
    for (std::size_t i = 0; i < splits.index.size(); ++i) report_duplicates(splits, i, hashes[i], j);
    if (splits.index.size() > 1) report_leakage(splits, hashes, j);
    write_json(out_dir / "audit.json", j);
    plots::class_distribution(out_dir, splits.classes(), counts, splits.names);
    std::cout << "\nWrote " << (out_dir / "audit.json") << (plots::gnuplot_available() ? " and class_distribution.png" : "") << "\n";
    return 0;
}

}  // namespace melanoma
