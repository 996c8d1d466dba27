// ember/core/random.hpp - Generator: an explicit, seeded random number generator (no global RNG in ember).
// xoshiro256** seeded through splitmix64: the same seed gives the same numbers on every platform and compiler.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace ember {

/// A seeded pseudo-random generator (xoshiro256**, Blackman & Vigna 2018). Every draw ember makes - weight
/// initialisation, dropout masks, shuffling, augmentation - goes through one of these, so runs are reproducible.
/// Unlike std::uniform_real_distribution, the mapping from bits to numbers is fixed here, so a seed means the same
/// numbers with libstdc++, libc++ and MSVC.
class Generator {
public:
    explicit Generator(std::uint64_t seed = 0) { this->seed(seed); }

    /// Restarts the sequence from `seed`.
    void seed(std::uint64_t seed) {
        std::uint64_t x = seed;
        for (auto& s : s_) s = splitmix64(x);
    }

    /// 64 uniformly random bits.
    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// Skips `n` draws of next_u64() (or of uniform(), which takes one each).
    void discard(std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i) (void)next_u64();
    }

    /// Uniform double in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    /// Uniform double in [lo, hi).
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// Uniform integer in [0, n) without modulo bias (Lemire's method). Requires n > 0.
    std::uint64_t below(std::uint64_t n) {
        __uint128_t m = static_cast<__uint128_t>(next_u64()) * n;
        auto low = static_cast<std::uint64_t>(m);
        if (low < n) {
            const std::uint64_t threshold = (0 - n) % n;
            while (low < threshold) {
                m = static_cast<__uint128_t>(next_u64()) * n;
                low = static_cast<std::uint64_t>(m);
            }
        }
        return static_cast<std::uint64_t>(m >> 64);
    }
    /// Standard normal draw (Box-Muller; the second value of each pair is kept for the next call).
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = 0;
        do u1 = uniform(); while (u1 <= 0.0);
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
        has_spare_ = true;
        return r * std::cos(2.0 * std::numbers::pi * u2);
    }
    double normal(double mean, double stddev) { return mean + stddev * normal(); }

    /// A new generator whose stream is independent of this one's (for handing to a layer or a worker).
    Generator split() { return Generator(next_u64()); }

    /// Everything the next draws depend on: xoshiro256**'s four words and the normal() value kept for the next
    /// call. A generator given another's state draws what that one would have drawn (a resumed training run
    /// draws the dropout masks the uninterrupted run would have).
    struct State {
        std::array<std::uint64_t, 4> words{};
        bool has_spare = false;
        double spare = 0;
        bool operator==(const State&) const = default;
    };
    [[nodiscard]] State state() const { return {{s_[0], s_[1], s_[2], s_[3]}, has_spare_, spare_}; }
    void set_state(const State& st) {
        for (std::size_t i = 0; i < 4; ++i) s_[i] = st.words[i];
        has_spare_ = st.has_spare;
        spare_ = st.spare;
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix64(std::uint64_t& x) {
        std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    std::uint64_t s_[4]{};
    double spare_ = 0;
    bool has_spare_ = false;
};

}  // namespace ember
