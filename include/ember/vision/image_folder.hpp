// ember/vision/image_folder.hpp - a folder of class folders, indexed like Keras' image_dataset_from_directory,
// and decoded once into an in-memory byte cache (ImageSet, [N, H, W, 3] uint8) that batches are cut from.
#pragma once

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/vision/color.hpp"
#include "ember/vision/image.hpp"
#include "ember/core/parallel.hpp"

namespace ember::vision {

/// One image file and its class index.
struct LabelledFile {
    std::filesystem::path path;
    std::int32_t label = 0;
};

/// The classes (sorted sub-folder names) and the image files of each, in Keras' order: class by class, and within
/// a class folder directory by directory (sorted by path), files sorted by name.
struct FolderIndex {
    std::filesystem::path root;
    std::vector<std::string> class_names;
    std::vector<LabelledFile> files;
    /// Files inside class folders that are not images by their extension (Keras ignores them too), for audits.
    std::vector<std::filesystem::path> ignored;
    /// Class folders under `root` that are not among the class names given to index_image_folder (not indexed).
    std::vector<std::string> extra_classes;

    /// Number of files of each class, in class order.
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

namespace detail {
inline bool is_hidden(const std::filesystem::path& p) {
    const std::string name = p.filename().string();
    return !name.empty() && name[0] == '.';
}

/// Sorted names of the non-hidden sub-folders of `root` (symbolic links to folders count, as in Keras).
inline std::vector<std::string> class_folders(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    std::vector<std::string> names;
    std::error_code ec;
    fs::directory_iterator it(root, ec);
    EMBER_CHECK(!ec, IoError, "cannot list data folder '", root.string(), "': ", ec.message());
    for (const auto& entry : it) {
        std::error_code dir_ec;
        if (!is_hidden(entry.path()) && entry.is_directory(dir_ec)) names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

/// The image files under class folder `dir`, recursively (symbolic links to folders are not followed, as Keras'
/// default follow_links=False), hidden files and folders skipped; ordered as Keras orders them: by folder path,
/// then by file name. Other files go to `ignored`.
inline std::vector<std::filesystem::path> class_files(const std::filesystem::path& dir,
                                                      std::vector<std::filesystem::path>& ignored) {
    namespace fs = std::filesystem;
    std::vector<std::pair<std::string, std::string>> found;  // (folder relative to dir, file name)
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
    EMBER_CHECK(!ec, IoError, "cannot list class folder '", dir.string(), "': ", ec.message());
    for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
        EMBER_CHECK(!ec, IoError, "cannot list class folder '", dir.string(), "': ", ec.message());
        const fs::directory_entry& entry = *it;
        std::error_code type_ec;
        if (is_hidden(entry.path())) {
            if (entry.is_directory(type_ec)) it.disable_recursion_pending();
            continue;
        }
        if (entry.is_directory(type_ec)) continue;
        if (!has_image_extension(entry.path())) {
            ignored.push_back(entry.path());
            continue;
        }
        // "" for the class folder itself, so its files sort first, as "<class>" sorts before "<class>/<sub>"
        std::string folder = entry.path().parent_path().lexically_relative(dir).generic_string();
        if (folder == ".") folder.clear();
        found.emplace_back(std::move(folder), entry.path().filename().string());
    }
    EMBER_CHECK(!ec, IoError, "cannot list class folder '", dir.string(), "': ", ec.message());
    // Keras sorts os.walk's (folder, files) by folder path, then each folder's files by name (Python compares
    // code points; std::string compares UTF-8 bytes, which orders the same).
    std::sort(found.begin(), found.end());
    std::vector<fs::path> files;
    files.reserve(found.size());
    for (const auto& [folder, name] : found) files.push_back(folder.empty() ? dir / name : dir / folder / name);
    return files;
}
}  // namespace detail

/// Indexes `root`/<class>/<image files> as Keras' image_dataset_from_directory does: class names are the sorted
/// names of the sub-folders (hidden ones skipped), labels their index; the files of a class are found recursively
/// and sorted (see detail::class_files); only .bmp .gif .jpeg .jpg .png files count, others are listed in
/// `ignored`. Unlike Keras, hidden files are skipped too (e.g. macOS "._x.jpg" resource forks).
/// With `class_names`, those classes are used in that order (a Test folder read with the Train folder's classes);
/// class folders not in the list are reported in `extra_classes` and not indexed.
/// Throws IoError naming the folder for a missing root, no class folders, a missing given class folder or (unless
/// `allow_empty_classes`, which also lets a given class folder be missing) a class folder without images;
/// ValueError for repeated class names.
inline FolderIndex index_image_folder(const std::filesystem::path& root, std::vector<std::string> class_names = {},
                                      bool allow_empty_classes = false) {
    namespace fs = std::filesystem;
    std::error_code ec;
    EMBER_CHECK(fs::is_directory(root, ec), IoError, "data folder '", root.string(), "' does not exist or is not a directory");
    FolderIndex index;
    index.root = root;
    const std::vector<std::string> present = detail::class_folders(root);
    if (class_names.empty()) {
        class_names = present;
        EMBER_CHECK(!class_names.empty(), IoError, "data folder '", root.string(),
                    "' has no class folders (expected <root>/<class name>/<images>)");
    } else {
        const std::set<std::string> unique(class_names.begin(), class_names.end());
        EMBER_CHECK(unique.size() == class_names.size(), ValueError, "index_image_folder: the ", class_names.size(),
                    " class names given for '", root.string(), "' repeat a name");
        for (const auto& name : present)
            if (!unique.contains(name)) index.extra_classes.push_back(name);
    }
    index.class_names = class_names;
    for (std::size_t c = 0; c < class_names.size(); ++c) {
        const fs::path dir = root / class_names[c];
        if (!fs::is_directory(dir, ec)) {
            EMBER_CHECK(allow_empty_classes, IoError, "class folder '", dir.string(), "' does not exist");
            continue;
        }
        const std::vector<fs::path> files = detail::class_files(dir, index.ignored);
        EMBER_CHECK(allow_empty_classes || !files.empty(), IoError, "class folder '", dir.string(),
                    "' holds no images (.bmp .gif .jpeg .jpg .png)");
        for (const auto& f : files) index.files.push_back({f, static_cast<std::int32_t>(c)});
    }
    return index;
}

/// Decoded images, all resized to height x width x 3, as bytes: pixels is [size(), height, width, 3] uint8 (one
/// 180x180 image is 97 KB; 2,239 of them, about 218 MB).
struct ImageSet {
    int height = 0, width = 0;
    std::vector<std::string> class_names;
    std::vector<std::uint8_t> pixels;        // size() * height * width * 3
    std::vector<std::int32_t> labels;
    std::vector<std::filesystem::path> paths;

    [[nodiscard]] std::size_t size() const { return labels.size(); }
    /// Bytes of one image: height * width * 3.
    [[nodiscard]] std::size_t image_bytes() const { return static_cast<std::size_t>(height) * static_cast<std::size_t>(width) * 3; }
    /// The first byte of image i (no bounds check).
    [[nodiscard]] const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * image_bytes(); }
    /// Number of images of each class, in class order.
    [[nodiscard]] std::vector<long> counts() const {
        std::vector<long> c(class_names.size(), 0);
        for (auto l : labels)
            if (l >= 0 && static_cast<std::size_t>(l) < c.size()) ++c[static_cast<std::size_t>(l)];
        return c;
    }
    /// Appends one already-resized image. Throws ShapeError when its size is not height x width x 3.
    void push_back(const Image& img, std::int32_t label, std::filesystem::path path) {
        EMBER_CHECK(img.height == height && img.width == width && img.channels == 3 && img.valid(), ShapeError,
                    "ImageSet: expected a ", height, "x", width, "x3 image, got ", img.height, "x", img.width, "x",
                    img.channels);
        pixels.insert(pixels.end(), img.pixels.begin(), img.pixels.end());
        labels.push_back(label);
        paths.push_back(std::move(path));
    }
    /// Appends all images of `other` (e.g. a second folder of training images). Throws ShapeError when its images
    /// have another size and ValueError when its class names are not this set's, in this order.
    void append(const ImageSet& other) {
        if (other.size() == 0) return;
        EMBER_CHECK(other.height == height && other.width == width, ShapeError, "ImageSet::append: expected ", height,
                    "x", width, "x3 images, got ", other.height, "x", other.width, "x3");
        EMBER_CHECK(other.class_names == class_names, ValueError,
                    "ImageSet::append: the sets' class names differ (index both folders with the same class names)");
        pixels.insert(pixels.end(), other.pixels.begin(), other.pixels.end());
        labels.insert(labels.end(), other.labels.begin(), other.labels.end());
        paths.insert(paths.end(), other.paths.begin(), other.paths.end());
    }
};

/// How load_images decodes.
struct LoadOptions {
    int height = 180, width = 180;  ///< every image is resized (bilinear, as Keras) to this size
    bool strict = false;            ///< a file that cannot be decoded is fatal (else skipped with a warning)
    /// > 0: Shades of Gray colour constancy with this Minkowski norm (vision/color.hpp), on each resized image;
    /// 0: the pixels as decoded.
    double shades_of_gray = 0;
    /// Bounds checked before any image is decoded (pixels declared by its header, bytes of the file): an image
    /// over them is refused like a corrupt one (vision/image.hpp, DecodeLimits).
    DecodeLimits limits;
    /// Called once per skipped file, in file order, after decoding, with "warning: skipped <decode error>".
    /// Default: printed to stderr.
    std::function<void(const std::string&)> on_warning;
    /// Called with (images done, total) about every 1% and at the end; from worker threads, one call at a time,
    /// with `done` increasing.
    std::function<void(std::size_t done, std::size_t total)> on_progress;
};

namespace detail {
inline void check(const LoadOptions& o) {
    EMBER_CHECK(o.height > 0 && o.width > 0, ValueError, "load_images: image size must be positive, got ", o.height,
                "x", o.width);
    EMBER_CHECK(o.shades_of_gray == 0 || (std::isfinite(o.shades_of_gray) && o.shades_of_gray >= 1), ValueError,
                "load_images: shades_of_gray must be 0 (off) or a Minkowski norm >= 1, got ", o.shades_of_gray);
}

/// load_image for options already checked.
inline Image load_checked(const std::filesystem::path& path, const LoadOptions& o) {
    Image img = resize_bilinear_u8(decode_image(path, o.limits), o.height, o.width);
    if (o.shades_of_gray > 0) shades_of_gray(img, o.shades_of_gray);
    return img;
}
}  // namespace detail

/// One image file as load_images caches it: decoded, resized to o.height x o.width and rounded to bytes, colours
/// corrected when o.shades_of_gray > 0. Throws IoError (see decode_image), ValueError for bad options.
inline Image load_image(const std::filesystem::path& path, const LoadOptions& o) {
    detail::check(o);
    return detail::load_checked(path, o);
}

/// load_image as a [1, H, W, 3] float tensor (values 0-255): one image seen exactly as the images of an ImageSet
/// loaded with the same options (what predict needs, to score a file as evaluate scores it).
inline Tensor<float> load_image_tensor(const std::filesystem::path& path, const LoadOptions& o) {
    const Image img = load_image(path, o);
    auto t = Tensor<float>::empty({1, o.height, o.width, 3});
    std::copy(img.pixels.begin(), img.pixels.end(), t.data());
    return t;
}

/// Decodes every file of `index` in parallel (ember::parallel_for), resizes it to height x width as Keras does
/// (rounded to bytes; exact when the file already has that size, as pre-resized images do), corrects its colours
/// when `shades_of_gray` asks, and stores it in one
/// ImageSet, in index order. A file that cannot be decoded is skipped with a warning naming it, or with `strict`
/// rethrown (IoError "cannot decode '<file>': ..."; with several bad files, the first one found is named).
/// Throws IoError when the index is empty or no image could be decoded, ValueError for a non-positive size.
inline ImageSet load_images(const FolderIndex& index, const LoadOptions& o = {}) {
    detail::check(o);
    const std::size_t n = index.files.size();
    EMBER_CHECK(n > 0, IoError, "data folder '", index.root.string(), "' holds no images (.bmp .gif .jpeg .jpg .png)");
    ImageSet set;
    set.height = o.height;
    set.width = o.width;
    set.class_names = index.class_names;
    const std::size_t bytes = set.image_bytes();
    set.pixels.resize(n * bytes);  // [n, H, W, 3]; slot i is written by whichever thread decodes file i

    std::vector<std::string> errors(n);
    std::atomic<bool> stop{false};
    std::size_t done = 0;
    std::mutex progress_mutex;
    const std::size_t stride = std::max<std::size_t>(1, n / 100);
    ember::parallel_for(0, static_cast<index_t>(n), 1, [&](index_t lo, index_t hi) {
        for (index_t i = lo; i < hi && !stop.load(std::memory_order_relaxed); ++i) {
            const auto ui = static_cast<std::size_t>(i);
            try {
                const Image img = detail::load_checked(index.files[ui].path, o);  // o checked above
                std::memcpy(set.pixels.data() + ui * bytes, img.pixels.data(), bytes);
            } catch (const IoError& e) {
                errors[ui] = e.what();
                if (o.strict) stop.store(true, std::memory_order_relaxed);
            }
            if (o.on_progress) {
                std::lock_guard lock(progress_mutex);
                ++done;
                if (done % stride == 0 || done == n) o.on_progress(done, n);
            }
        }
    });
    // Keep the decoded images, in index order, moving each down over the skipped ones.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (!errors[i].empty()) {
            if (o.strict) throw IoError(errors[i]);
            const std::string msg = "warning: skipped " + errors[i];
            if (o.on_warning) o.on_warning(msg);
            else std::fprintf(stderr, "%s\n", msg.c_str());
            continue;
        }
        if (kept != i) std::memmove(set.pixels.data() + kept * bytes, set.pixels.data() + i * bytes, bytes);
        set.labels.push_back(index.files[i].label);
        set.paths.push_back(index.files[i].path);
        ++kept;
    }
    set.pixels.resize(kept * bytes);
    EMBER_CHECK(kept > 0, IoError, "no image in '", index.root.string(), "' could be decoded");
    return set;
}

}  // namespace ember::vision
