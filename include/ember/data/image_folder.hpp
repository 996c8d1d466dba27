// ember/data/image_folder.hpp - a folder of class folders, indexed like Keras' image_dataset_from_directory,
// and decoded once into an in-memory byte cache (ImageSet) that batches are cut from.
#pragma once

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/data/image.hpp"
#include "ember/kernels/parallel.hpp"

namespace ember::data {

/// One image file and its class index.
struct LabelledFile {
    std::filesystem::path path;
    std::int32_t label = 0;
};

/// The classes (sorted sub-folder names) and the image files of each, in Keras' order: class by class, files
/// sorted by name within a class.
struct FolderIndex {
    std::filesystem::path root;
    std::vector<std::string> class_names;
    std::vector<LabelledFile> files;
    [[nodiscard]] std::vector<long> counts() const {
        std::vector<long> c(class_names.size(), 0);
        for (const auto& f : files) ++c[static_cast<std::size_t>(f.label)];
        return c;
    }
};

/// True for the extensions Keras accepts: .bmp .gif .jpeg .jpg .png (any case).
inline bool has_image_extension(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return ext == ".bmp" || ext == ".gif" || ext == ".jpeg" || ext == ".jpg" || ext == ".png";
}

/// Indexes `root`/<class>/<image files> (hidden entries skipped, other files ignored). With `class_names`, those
/// classes are used in that order (a Test folder read with the Train folder's classes) and a missing class folder
/// counts as empty. Throws IoError for a missing root, no class folders, or (unless allow_empty_classes) a class
/// folder without images - naming it.
inline FolderIndex index_image_folder(const std::filesystem::path& root, std::vector<std::string> class_names = {},
                                      bool allow_empty_classes = false) {
    namespace fs = std::filesystem;
    std::error_code ec;
    EMBER_CHECK(fs::is_directory(root, ec), IoError, "data folder '", root.string(), "' does not exist or is not a directory");
    FolderIndex index;
    index.root = root;
    const bool given = !class_names.empty();
    if (!given) {
        for (const auto& entry : fs::directory_iterator(root)) {
            const std::string name = entry.path().filename().string();
            if (entry.is_directory() && !name.empty() && name[0] != '.') class_names.push_back(name);
        }
        std::sort(class_names.begin(), class_names.end());
        EMBER_CHECK(!class_names.empty(), IoError, "data folder '", root.string(),
                    "' has no class folders (expected <root>/<class name>/<images>)");
    }
    index.class_names = class_names;
    for (std::size_t c = 0; c < class_names.size(); ++c) {
        const fs::path dir = root / class_names[c];
        std::vector<fs::path> files;
        if (fs::is_directory(dir, ec))
            for (const auto& entry : fs::directory_iterator(dir)) {
                const std::string name = entry.path().filename().string();
                if (entry.is_regular_file() && !name.empty() && name[0] != '.' && has_image_extension(entry.path()))
                    files.push_back(entry.path());
            }
        std::sort(files.begin(), files.end());
        EMBER_CHECK(allow_empty_classes || !files.empty(), IoError, "class folder '", dir.string(),
                    "' holds no images (.bmp .gif .jpeg .jpg .png)");
        for (auto& f : files) index.files.push_back({std::move(f), static_cast<std::int32_t>(c)});
    }
    return index;
}

/// Decoded images, all resized to height x width x 3, as bytes (one 180x180 image is 97 KB; the full ISIC Train
/// folder about 218 MB).
struct ImageSet {
    int height = 0, width = 0;
    std::vector<std::string> class_names;
    std::vector<std::uint8_t> pixels;        // size() * height * width * 3
    std::vector<std::int32_t> labels;
    std::vector<std::filesystem::path> paths;
    [[nodiscard]] std::size_t size() const { return labels.size(); }
    [[nodiscard]] std::size_t image_bytes() const { return static_cast<std::size_t>(height) * static_cast<std::size_t>(width) * 3; }
    [[nodiscard]] const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * image_bytes(); }
    /// Appends one already-resized image.
    void push_back(const Image& img, std::int32_t label, std::filesystem::path path) {
        EMBER_CHECK(img.height == height && img.width == width && img.channels == 3, ShapeError,
                    "ImageSet: expected a ", height, "x", width, "x3 image, got ", img.height, "x", img.width, "x",
                    img.channels);
        pixels.insert(pixels.end(), img.pixels.begin(), img.pixels.end());
        labels.push_back(label);
        paths.push_back(std::move(path));
    }
};

struct LoadOptions {
    int height = 180, width = 180;
    bool strict = false;  // a file that cannot be decoded is fatal (else skipped with a warning)
    std::function<void(const std::string&)> on_warning;           // default: print to stderr
    std::function<void(std::size_t done, std::size_t total)> on_progress;
};

/// Decodes and resizes every file of `index` in parallel. Corrupt files are skipped with a warning naming them,
/// or, with `strict`, rethrown as IoError. Throws IoError when no image could be read.
inline ImageSet load_images(const FolderIndex& index, const LoadOptions& o = {}) {
    const std::size_t n = index.files.size();
    std::vector<Image> decoded(n);
    std::vector<std::string> errors(n);
    std::atomic<std::size_t> done{0};
    std::mutex progress_mutex;
    kernels::parallel_for(0, static_cast<index_t>(n), 1, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi; ++i) {
            const auto ui = static_cast<std::size_t>(i);
            try {
                decoded[ui] = resize_bilinear_u8(decode_image(index.files[ui].path), o.height, o.width);
            } catch (const IoError& e) {
                if (o.strict) throw;
                errors[ui] = e.what();
            }
            const std::size_t d = ++done;
            if (o.on_progress && (d % 64 == 0 || d == n)) {
                std::lock_guard lock(progress_mutex);
                o.on_progress(d, n);
            }
        }
    });
    ImageSet set;
    set.height = o.height;
    set.width = o.width;
    set.class_names = index.class_names;
    set.pixels.reserve(n * static_cast<std::size_t>(o.height) * static_cast<std::size_t>(o.width) * 3);
    for (std::size_t i = 0; i < n; ++i) {
        if (!errors[i].empty()) {
            const std::string msg = "warning: skipped " + errors[i];
            if (o.on_warning) o.on_warning(msg);
            else std::fprintf(stderr, "%s\n", msg.c_str());
            continue;
        }
        set.push_back(decoded[i], index.files[i].label, index.files[i].path);
    }
    EMBER_CHECK(set.size() > 0, IoError, "no image in '", index.root.string(), "' could be decoded");
    return set;
}

}  // namespace ember::data
