// ember/vision/dedup.hpp - exact duplicates in a labelled image set: copies within one class, and contradictory
// copies filed under several classes. Public collections have both (a
// copy filed under two classes is common when a folder was assembled from several sources); training on them
// teaches the model two answers for one image, and a random split puts one copy on each side.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "ember/vision/image_folder.hpp"

namespace ember::vision {

/// What deduplicate() kept and dropped.
struct DedupResult {
    std::vector<std::size_t> keep;        // indices into the set, ascending
    std::size_t same_class_copies = 0;    // dropped: a later copy of an image already kept in the same class
    std::size_t contradictory = 0;        // dropped: every copy of an image filed under two or more classes
    std::size_t contradictory_groups = 0; // distinct images with contradictory labels
};

/// FNV-1a (64-bit) of n bytes, continuing from `h` (so a stream can be hashed in pieces).
inline std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
    for (std::size_t b = 0; b < n; ++b) h = (h ^ p[b]) * 1099511628211ull;
    return h;
}

/// The hash of image i's decoded pixels: equal images hash equally whatever their file format.
inline std::uint64_t pixel_hash(const ImageSet& set, std::size_t i) { return fnv1a(set.image(i), set.image_bytes()); }

/// Groups the images of `set` by identical decoded pixels (hash, then a byte comparison, so a hash collision
/// cannot merge different images). A group whose copies all carry one label keeps its first copy; a group with
/// two or more labels is dropped entirely (which label is right cannot be told from the data).
inline DedupResult deduplicate(const ImageSet& set) {
    std::map<std::uint64_t, std::vector<std::vector<std::size_t>>> by_hash;  // hash -> groups of equal images
    for (std::size_t i = 0; i < set.size(); ++i) {
        auto& groups = by_hash[pixel_hash(set, i)];
        bool placed = false;
        for (auto& g : groups)
            if (std::memcmp(set.image(g.front()), set.image(i), set.image_bytes()) == 0) {
                g.push_back(i);
                placed = true;
                break;
            }
        if (!placed) groups.push_back({i});
    }
    DedupResult r;
    std::vector<bool> kept(set.size(), false);
    for (const auto& [hash, groups] : by_hash)
        for (const auto& g : groups) {
            bool one_label = true;
            for (std::size_t i : g) one_label = one_label && set.labels[i] == set.labels[g.front()];
            if (one_label) {
                kept[g.front()] = true;
                r.same_class_copies += g.size() - 1;
            } else {
                r.contradictory += g.size();
                ++r.contradictory_groups;
            }
        }
    for (std::size_t i = 0; i < set.size(); ++i)
        if (kept[i]) r.keep.push_back(i);
    return r;
}

/// For each image of `a`, whether `b` holds an image with identical pixels (e.g. Test images that also sit in
/// Train: a model that saw them in training scores them for free). Both sets must have the same image size.
inline std::vector<bool> copies_in(const ImageSet& a, const ImageSet& b) {
    EMBER_CHECK(a.size() == 0 || b.size() == 0 || (a.height == b.height && a.width == b.width), ShapeError,
                "copies_in: the sets hold images of different sizes (", a.height, "x", a.width, " and ", b.height,
                "x", b.width, ")");
    std::multimap<std::uint64_t, std::size_t> index;
    for (std::size_t j = 0; j < b.size(); ++j) index.emplace(pixel_hash(b, j), j);
    std::vector<bool> found(a.size(), false);
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto [lo, hi] = index.equal_range(pixel_hash(a, i));
        for (auto it = lo; it != hi && !found[i]; ++it)
            found[i] = std::memcmp(a.image(i), b.image(it->second), a.image_bytes()) == 0;
    }
    return found;
}

/// The images `indices` of `set`, in that order, as a new set with the same class names.
inline ImageSet subset(const ImageSet& set, const std::vector<std::size_t>& indices) {
    ImageSet out;
    out.height = set.height;
    out.width = set.width;
    out.class_names = set.class_names;
    out.pixels.reserve(indices.size() * set.image_bytes());
    for (std::size_t i : indices) {
        EMBER_CHECK(i < set.size(), IndexError, "subset: index ", i, " out of range for a set of ", set.size(),
                    " images");
        out.pixels.insert(out.pixels.end(), set.image(i), set.image(i) + set.image_bytes());
        out.labels.push_back(set.labels[i]);
        out.paths.push_back(set.paths[i]);
    }
    return out;
}

}  // namespace ember::vision
