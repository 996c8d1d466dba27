// ember/data/split.hpp - train/validation splits: Keras-compatible (NumPy's legacy RandomState shuffle, reproduced
// bit for bit) and stratified (the same fraction of every class, seeded with ember::Generator).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/random.hpp"

namespace ember::data {

/// NumPy's legacy `np.random.RandomState(seed)` for an integer seed: MT19937 seeded by init_genrand, and the
/// legacy bounded integer draw (mask-and-reject on 32-bit outputs) that RandomState.shuffle uses. Only what
/// Keras' split needs is reproduced.
class NumpyRandomState {
public:
    explicit NumpyRandomState(std::uint32_t seed) {
        mt_[0] = seed;
        for (std::uint32_t i = 1; i < 624; ++i) mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + i;
        index_ = 624;
    }

    /// MT19937's tempered 32-bit output (genrand_int32).
    std::uint32_t next_u32() {
        if (index_ >= 624) twist();
        std::uint32_t y = mt_[index_++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680U;
        y ^= (y << 15) & 0xefc60000U;
        y ^= y >> 18;
        return y;
    }

    /// A uniform integer in [0, max] the way NumPy's legacy random_interval draws it.
    std::uint64_t interval(std::uint64_t max) {
        if (max == 0) return 0;
        std::uint64_t mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        mask |= mask >> 32;
        EMBER_CHECK(max <= 0xffffffffULL, ValueError, "NumpyRandomState::interval: max above 2^32 is not supported");
        std::uint64_t value = 0;
        while ((value = (next_u32() & mask)) > max) {
        }
        return value;
    }

    /// RandomState.shuffle: Fisher-Yates from the last element down.
    template <class T>
    void shuffle(std::vector<T>& v) {
        for (std::size_t i = v.size(); i-- > 1;) std::swap(v[i], v[static_cast<std::size_t>(interval(i))]);
    }

private:
    void twist() {
        constexpr std::uint32_t upper = 0x80000000U, lower = 0x7fffffffU, matrix = 0x9908b0dfU;
        for (int i = 0; i < 624; ++i) {
            const std::uint32_t y = (mt_[i] & upper) | (mt_[(i + 1) % 624] & lower);
            mt_[i] = mt_[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1U) ? matrix : 0U);
        }
        index_ = 0;
    }
    std::array<std::uint32_t, 624> mt_{};
    int index_ = 624;
};

/// Indices of the training and validation parts of a dataset.
struct Split {
    std::vector<std::size_t> train, validation;
};

/// Keras' image_dataset_from_directory(validation_split=f, seed=s): the sorted file list is shuffled once with
/// RandomState(seed) and the last floor(f * n) files are validation. Indices refer to the sorted list.
inline Split keras_split(std::size_t n, double validation_fraction, std::uint32_t seed) {
    EMBER_CHECK(validation_fraction >= 0 && validation_fraction < 1, ValueError,
                "split: validation fraction must be in [0, 1), got ", validation_fraction);
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    NumpyRandomState rng(seed);
    rng.shuffle(order);
    const auto n_val = static_cast<std::size_t>(validation_fraction * static_cast<double>(n));
    Split s;
    s.train.assign(order.begin(), order.end() - static_cast<std::ptrdiff_t>(n_val));
    s.validation.assign(order.end() - static_cast<std::ptrdiff_t>(n_val), order.end());
    return s;
}

/// Per class, round(f * count) samples (at least one when the class has two or more) go to validation, chosen
/// by a seeded shuffle; both parts are returned in ascending index order.
inline Split stratified_split(std::span<const std::int32_t> labels, double validation_fraction, std::uint64_t seed) {
    EMBER_CHECK(validation_fraction >= 0 && validation_fraction < 1, ValueError,
                "split: validation fraction must be in [0, 1), got ", validation_fraction);
    std::int32_t classes = 0;
    for (auto l : labels) classes = std::max(classes, l + 1);
    std::vector<std::vector<std::size_t>> per_class(static_cast<std::size_t>(classes));
    for (std::size_t i = 0; i < labels.size(); ++i) per_class[static_cast<std::size_t>(labels[i])].push_back(i);
    Generator gen(seed);
    Split s;
    for (auto& members : per_class) {
        for (std::size_t i = members.size(); i-- > 1;) std::swap(members[i], members[gen.below(i + 1)]);
        auto n_val = static_cast<std::size_t>(std::lround(validation_fraction * static_cast<double>(members.size())));
        if (validation_fraction > 0 && n_val == 0 && members.size() >= 2) n_val = 1;
        s.validation.insert(s.validation.end(), members.begin(), members.begin() + static_cast<std::ptrdiff_t>(n_val));
        s.train.insert(s.train.end(), members.begin() + static_cast<std::ptrdiff_t>(n_val), members.end());
    }
    std::sort(s.train.begin(), s.train.end());
    std::sort(s.validation.begin(), s.validation.end());
    return s;
}

}  // namespace ember::data
