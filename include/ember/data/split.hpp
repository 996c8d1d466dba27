// ember/data/split.hpp - train/validation splits as index lists: Keras-compatible (NumPy's legacy RandomState
// shuffle, reproduced bit for bit) and stratified (the same fraction of every class, seeded with ember::Generator),
// and stratified k-fold assignments for cross-validation, optionally keeping groups (copies of one sample) together.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/random.hpp"

namespace ember::data {

/// NumPy's legacy `np.random.RandomState(seed)` for an integer seed, as far as Keras' split needs it: MT19937
/// seeded by init_genrand (Matsumoto & Nishimura 1998), NumPy's legacy bounded integer draw `random_interval`
/// (mask to the next power of two minus one, reject values above the bound) and `RandomState.shuffle`.
/// Checked against NumPy 1.24's RandomState (see tests/data/test_split.cpp).
class NumpyRandomState {
public:
    /// RandomState(seed); NumPy accepts 0 <= seed < 2^32.
    explicit NumpyRandomState(std::uint32_t seed) {
        mt_[0] = seed;
        for (std::uint32_t i = 1; i < kN; ++i) mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + i;
        index_ = kN;
    }

    /// MT19937's tempered 32-bit output (genrand_int32).
    std::uint32_t next_u32() {
        if (index_ >= kN) twist();
        std::uint32_t y = mt_[index_++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680U;
        y ^= (y << 15) & 0xefc60000U;
        y ^= y >> 18;
        return y;
    }

    /// Two 32-bit outputs, the first in the high half (NumPy's MT19937 next_uint64).
    std::uint64_t next_u64() {
        const std::uint64_t hi = next_u32();
        return (hi << 32) | next_u32();
    }

    /// A uniform integer in [0, max], drawn as NumPy's legacy random_interval does (32-bit draws while max fits
    /// in 32 bits, 64-bit draws above). RandomState.randint(0, max + 1) draws the same numbers.
    std::uint64_t interval(std::uint64_t max) {
        if (max == 0) return 0;
        std::uint64_t mask = max;  // the smallest 2^k - 1 >= max
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        mask |= mask >> 32;
        std::uint64_t value = 0;
        if (max <= 0xffffffffULL) {
            while ((value = (next_u32() & mask)) > max) {
            }
        } else {
            while ((value = (next_u64() & mask)) > max) {
            }
        }
        return value;
    }

    /// RandomState.shuffle: Fisher-Yates from the last element down, swapping v[i] with v[interval(i)].
    template <class T>
    void shuffle(std::vector<T>& v) {
        for (std::size_t i = v.size(); i-- > 1;) std::swap(v[i], v[static_cast<std::size_t>(interval(i))]);
    }

private:
    static constexpr std::uint32_t kN = 624, kM = 397;
    void twist() {
        constexpr std::uint32_t upper = 0x80000000U, lower = 0x7fffffffU, matrix = 0x9908b0dfU;
        for (std::uint32_t i = 0; i < kN; ++i) {
            const std::uint32_t y = (mt_[i] & upper) | (mt_[(i + 1) % kN] & lower);
            mt_[i] = mt_[(i + kM) % kN] ^ (y >> 1) ^ ((y & 1U) ? matrix : 0U);
        }
        index_ = 0;
    }
    std::array<std::uint32_t, kN> mt_{};
    std::uint32_t index_ = kN;
};

/// Indices of the training and validation parts of a dataset.
struct Split {
    std::vector<std::size_t> train, validation;
};

namespace detail {
inline void check_fraction(double f) {
    EMBER_CHECK(f >= 0 && f < 1, ValueError, "split: validation fraction must be in [0, 1), got ", f);
}
}  // namespace detail

/// Keras' image_dataset_from_directory(validation_split=f, seed=s, subset='both'): the file list in Keras' order
/// (index_image_folder's) is shuffled once with np.random.RandomState(s).shuffle and the last floor(f * n) files
/// are validation, the rest training (2,239 files, f = 0.2 -> 1,792 / 447). Both lists are in shuffled order and
/// hold indices into the unshuffled list, so `train[k]` is the k-th training file Keras yields in its first epoch
/// when training is not reshuffled. Throws ValueError for f outside [0, 1).
inline Split keras_split(std::size_t n, double validation_fraction, std::uint32_t seed) {
    detail::check_fraction(validation_fraction);
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    NumpyRandomState rng(seed);
    rng.shuffle(order);
    // int(validation_split * len(samples)) in Python: a double product, truncated
    const auto n_val = static_cast<std::size_t>(validation_fraction * static_cast<double>(n));
    const auto cut = order.end() - static_cast<std::ptrdiff_t>(n_val);
    Split s;
    s.train.assign(order.begin(), cut);
    s.validation.assign(cut, order.end());
    return s;
}

/// A stratified split: in every class, round(f * count) samples (at least one when the class has two or more
/// and f > 0; never all of them, so every class keeps a training sample) go to validation, chosen by a Fisher-Yates
/// shuffle driven by Generator(seed); the rest are training. For 9 classes of 30 samples and
/// f = 0.2 that is 6 validation samples per class, where Keras' split with seed 123 gives from 2 to 12 per class.
/// Both lists are returned in ascending index order. Labels must be >= 0 (class indices).
/// Throws ValueError for f outside [0, 1) or a negative label.
inline Split stratified_split(std::span<const std::int32_t> labels, double validation_fraction, std::uint64_t seed) {
    detail::check_fraction(validation_fraction);
    std::int32_t classes = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        EMBER_CHECK(labels[i] >= 0, ValueError, "stratified_split: label ", labels[i], " at index ", i,
                    " is negative (labels are class indices)");
        classes = std::max(classes, labels[i] + 1);
    }
    std::vector<std::vector<std::size_t>> per_class(static_cast<std::size_t>(classes));
    for (std::size_t i = 0; i < labels.size(); ++i) per_class[static_cast<std::size_t>(labels[i])].push_back(i);
    Generator gen(seed);
    Split s;
    for (auto& members : per_class) {
        for (std::size_t i = members.size(); i-- > 1;) std::swap(members[i], members[gen.below(i + 1)]);
        auto n_val = static_cast<std::size_t>(std::lround(validation_fraction * static_cast<double>(members.size())));
        if (validation_fraction > 0 && n_val == 0 && members.size() >= 2) n_val = 1;
        if (n_val >= members.size() && !members.empty()) n_val = members.size() - 1;  // keep one for training
        const auto cut = members.begin() + static_cast<std::ptrdiff_t>(n_val);
        s.validation.insert(s.validation.end(), members.begin(), cut);
        s.train.insert(s.train.end(), cut, members.end());
    }
    std::sort(s.train.begin(), s.train.end());
    std::sort(s.validation.begin(), s.validation.end());
    return s;
}

/// Stratified k-fold cross-validation: the fold (0 .. folds-1) of every sample, so that each fold holds about
/// 1/folds of every class. `groups` (empty: every sample its own group) names samples that must share a fold -
/// copies of one image, several images of one patient: a group is dealt as one unit, under its first member's
/// label. Within a class the groups are shuffled by Generator(seed), then each goes to the fold holding the fewest
/// samples of that class so far (ties: the fewest samples in all, then the lowest fold), which balances the classes
/// and the fold sizes at once. A class with fewer groups than folds leaves some folds without it: the caller
/// decides whether that is acceptable. Throws ValueError for folds < 2, more folds than
/// samples, a negative label or a `groups` list of another length.
inline std::vector<std::size_t> stratified_kfold(std::span<const std::int32_t> labels, std::size_t folds,
                                                 std::uint64_t seed, std::span<const std::size_t> groups = {}) {
    EMBER_CHECK(folds >= 2, ValueError, "stratified_kfold: needs at least 2 folds, got ", folds);
    EMBER_CHECK(labels.size() >= folds, ValueError, "stratified_kfold: ", folds, " folds of ", labels.size(), " samples");
    EMBER_CHECK(groups.empty() || groups.size() == labels.size(), ValueError, "stratified_kfold: ", groups.size(),
                " group ids for ", labels.size(), " labels");
    // the members of each group, groups in order of first appearance; each group under its first member's label
    std::vector<std::vector<std::size_t>> members;
    std::vector<std::int32_t> group_label;
    std::map<std::size_t, std::size_t> group_index;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        EMBER_CHECK(labels[i] >= 0, ValueError, "stratified_kfold: label ", labels[i], " at index ", i,
                    " is negative (labels are class indices)");
        const std::size_t id = groups.empty() ? i : groups[i];
        const auto [it, fresh] = group_index.try_emplace(id, members.size());
        if (fresh) {
            members.emplace_back();
            group_label.push_back(labels[i]);
        }
        members[it->second].push_back(i);
    }
    const auto classes = static_cast<std::size_t>(*std::max_element(group_label.begin(), group_label.end())) + 1;
    std::vector<std::vector<std::size_t>> by_class(classes);  // group indices
    for (std::size_t g = 0; g < members.size(); ++g) by_class[static_cast<std::size_t>(group_label[g])].push_back(g);
    Generator gen(seed);
    std::vector<std::size_t> fold_of(labels.size()), fold_size(folds, 0);
    for (auto& class_groups : by_class) {
        for (std::size_t i = class_groups.size(); i-- > 1;) std::swap(class_groups[i], class_groups[gen.below(i + 1)]);
        std::vector<std::size_t> in_fold(folds, 0);
        for (const std::size_t g : class_groups) {
            std::size_t best = 0;
            for (std::size_t f = 1; f < folds; ++f)
                if (std::pair(in_fold[f], fold_size[f]) < std::pair(in_fold[best], fold_size[best])) best = f;
            for (const std::size_t i : members[g]) fold_of[i] = best;
            in_fold[best] += members[g].size();
            fold_size[best] += members[g].size();
        }
    }
    return fold_of;
}

/// The split of cross-validation fold `fold`: its samples are validation (held out), all others training; both
/// ascending. Throws ValueError for a fold no sample belongs to.
inline Split fold_split(std::span<const std::size_t> fold_of, std::size_t fold) {
    Split s;
    for (std::size_t i = 0; i < fold_of.size(); ++i) (fold_of[i] == fold ? s.validation : s.train).push_back(i);
    EMBER_CHECK(!s.validation.empty(), ValueError, "fold_split: no sample is in fold ", fold);
    return s;
}

}  // namespace ember::data
