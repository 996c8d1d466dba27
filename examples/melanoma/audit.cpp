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

}  // namespace

int run_audit(const fs::path& data_dir, const fs::path& out_dir) {
    ensure_writable_dir(out_dir);
    const fs::path train_dir = split_dir(data_dir, "Train");
    const std::optional<fs::path> test = find_split_dir(data_dir, "Test");  // a Train folder alone is audited alone
    const bool has_test = test.has_value();
    const fs::path test_dir = test.value_or(fs::path());
    const auto train_index = vision::index_image_folder(train_dir, {}, true);
    warn_not_indexed(train_index, "");
    const auto& names = train_index.class_names;
    std::vector<vision::FolderIndex> splits{train_index};
    std::vector<std::string> split_names{"Train"};
    if (has_test) {
        splits.push_back(vision::index_image_folder(test_dir, names, true));
        warn_not_indexed(splits.back(), "the Train folder's");
        split_names.push_back("Test");
    }
    json j;
    std::vector<std::vector<long>> counts;
    std::cout << "Images per class\n" << std::left << std::setw(28) << "class";
    for (const auto& s : split_names) std::cout << std::right << std::setw(8) << s;
    std::cout << "\n";
    for (const auto& s : splits) counts.push_back(s.counts());
    for (std::size_t c = 0; c < names.size(); ++c) {
        std::cout << std::left << std::setw(28) << names[c];
        for (std::size_t s = 0; s < splits.size(); ++s) {
            std::cout << std::right << std::setw(8) << counts[s][c];
            j["counts"][split_names[s]][names[c]] = counts[s][c];
        }
        std::cout << "\n";
    }
    // sizes, formats and content hashes
    // formats by content (a PNG named .jpg is a PNG; stb_image decodes it all the same), and the names that say
    // otherwise, which other tools would misread
    std::map<std::string, long> sizes, formats;
    std::vector<std::vector<std::uint64_t>> hashes(splits.size());
    long unreadable = 0, misnamed = 0;
    const std::map<std::string, std::string> format_of_extension{
        {".jpg", "JPEG"}, {".jpeg", "JPEG"}, {".png", "PNG"}, {".bmp", "BMP"}, {".gif", "GIF"}};
    for (std::size_t s = 0; s < splits.size(); ++s)
        for (const auto& f : splits[s].files) {
            hashes[s].push_back(fnv1a_file(f.path));
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

    // duplicates by content within each split: same class (redundant) or different classes (contradictory)
    for (std::size_t s = 0; s < splits.size(); ++s) {
        std::map<std::uint64_t, std::vector<std::size_t>> by_hash;
        for (std::size_t i = 0; i < hashes[s].size(); ++i) by_hash[hashes[s][i]].push_back(i);
        std::map<std::pair<int, int>, long> cross;
        std::map<int, long> within;
        for (const auto& [h, members] : by_hash) {
            if (members.size() < 2) continue;
            std::set<int> classes;
            for (auto i : members) classes.insert(splits[s].files[i].label);
            for (int c : classes) {
                const long in_class = std::count_if(members.begin(), members.end(), [&](std::size_t i) { return splits[s].files[i].label == c; });
                if (in_class > 1) within[c] += in_class - 1;
            }
            for (auto a = classes.begin(); a != classes.end(); ++a)
                for (auto b = std::next(a); b != classes.end(); ++b) ++cross[{*a, *b}];
        }
        std::cout << "\n" << split_names[s] << ": identical images within a class:";
        if (within.empty()) std::cout << " none";
        for (const auto& [c, n] : within) {
            std::cout << "\n  " << names[static_cast<std::size_t>(c)] << ": " << n << " extra copies";
            j["duplicates"][split_names[s]]["within_class"][names[static_cast<std::size_t>(c)]] = n;
        }
        std::cout << "\n" << split_names[s] << ": identical images under two classes (contradictory labels):";
        if (cross.empty()) std::cout << " none";
        for (const auto& [pair, n] : cross) {
            const std::string key = names[static_cast<std::size_t>(pair.first)] + " / " + names[static_cast<std::size_t>(pair.second)];
            std::cout << "\n  " << key << ": " << n;
            j["duplicates"][split_names[s]]["across_classes"][key] = n;
        }
        std::cout << "\n";
    }
    if (has_test) {
        const std::set<std::uint64_t> train_hashes(hashes[0].begin(), hashes[0].end());
        long leaked = 0;
        for (std::size_t i = 0; i < hashes[1].size(); ++i)
            if (train_hashes.count(hashes[1][i])) {
                ++leaked;
                j["leakage"]["files"].push_back(splits[1].files[i].path.filename().string());
            }
        j["leakage"]["test_images_in_train"] = leaked;
        std::cout << "\nTest images identical to a Train image (leakage): " << leaked << " of " << hashes[1].size() << "\n";
    }
    write_json(out_dir / "audit.json", j);
    plots::class_distribution(out_dir, names, counts, split_names);
    std::cout << "\nWrote " << (out_dir / "audit.json") << (plots::gnuplot_available() ? " and class_distribution.png" : "") << "\n";
    return 0;
}

}  // namespace melanoma
