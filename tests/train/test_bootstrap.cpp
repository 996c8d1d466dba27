#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <ember/core/random.hpp>
#include <ember/train/metrics.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// Random binary-labelled scores on a coarse grid (many ties), sample 0 positive and sample 1 negative.
void random_tied_scores(Generator& gen, std::vector<double>& score, std::vector<bool>& positive) {
    const auto n = static_cast<std::size_t>(4 + gen.below(40));
    score.assign(n, 0.0);
    positive.assign(n, false);
    for (std::size_t i = 0; i < n; ++i) {
        score[i] = static_cast<double>(gen.below(10)) / 9.0;
        positive[i] = gen.uniform() < 0.4;
    }
    positive[0] = true;
    positive[1] = false;
}

/// The mean of x over the resample's indices.
train::ResampleStatistic mean_of(const std::vector<double>& x) {
    return [&x](std::span<const std::size_t> idx) {
        double sum = 0;
        for (const std::size_t i : idx) sum += x[i];
        return sum / static_cast<double>(idx.size());
    };
}
}  // namespace

TEST_CASE("sensitivity_at_specificity: the most sensitive alert reaching the specificity, mid-gap", "[train][metrics]") {
    const std::vector<double> s{0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2};
    const std::vector<bool> pos{true, false, true, false, true, false, true, false};  // negatives 0.8 0.6 0.4 0.2
    // 3 of 4 negatives silent: up to 0.6; the next score up is 0.7 -> 0.65
    auto r = train::sensitivity_at_specificity(s, pos, 0.75);
    CHECK(r.threshold == Approx(0.65));
    CHECK(r.sensitivity == Approx(0.5));
    CHECK(r.specificity == Approx(0.75));
    // 0.6 of 4 negatives rounds up to 3: the same alert
    CHECK(train::sensitivity_at_specificity(s, pos, 0.6).threshold == Approx(0.65));
    r = train::sensitivity_at_specificity(s, pos, 0.5);
    CHECK(r.threshold == Approx(0.45));
    CHECK(r.sensitivity == Approx(0.75));
    CHECK(r.specificity == Approx(0.5));
    r = train::sensitivity_at_specificity(s, pos, 1.0);
    CHECK(r.threshold == Approx(0.85));
    CHECK(r.sensitivity == Approx(0.25));
    CHECK(r.specificity == 1.0);
    // target 0: every sample alerts, half the lowest score (or that minus 1 when it is <= 0)
    r = train::sensitivity_at_specificity(s, pos, 0.0);
    CHECK(r.threshold == Approx(0.1));
    CHECK(r.sensitivity == 1.0);
    CHECK(r.specificity == 0.0);
    CHECK(train::sensitivity_at_specificity(std::vector<double>{0.0, 0.5}, {true, false}, 0.0).threshold == -1.0);
    // nothing scores above the highest negative: s + 1, or s / 2 below 0
    r = train::sensitivity_at_specificity(std::vector<double>{0.2, 0.8}, {true, false}, 1.0);
    CHECK(r.threshold == Approx(1.8));
    CHECK(r.sensitivity == 0.0);
    CHECK(r.specificity == 1.0);
    CHECK(train::sensitivity_at_specificity(std::vector<double>{-0.5, -0.2}, {true, false}, 1.0).threshold ==
          Approx(-0.1));
}

TEST_CASE("sensitivity_at_specificity: ties at the cut stay silent, so the target is never missed", "[train][metrics]") {
    // negatives 0.3 0.5 0.5, a positive tied with them at 0.5 and one at 0.9
    const std::vector<double> s{0.5, 0.5, 0.5, 0.9, 0.3};
    const std::vector<bool> pos{true, false, false, true, false};
    // 2 of 3 negatives must be silent: the second lowest is 0.5, so every 0.5 is silent -> (0.5 + 0.9) / 2
    auto r = train::sensitivity_at_specificity(s, pos, 0.5);
    CHECK(r.threshold == Approx(0.7));
    CHECK(r.sensitivity == Approx(0.5));
    CHECK(r.specificity == 1.0);  // above the target; alerting at 0.5 would give 1/3, below it
    r = train::sensitivity_at_specificity(s, pos, 1.0 / 3);
    CHECK(r.threshold == Approx(0.4));
    CHECK(r.sensitivity == 1.0);
    CHECK(r.specificity == Approx(1.0 / 3));
    // Against a brute-force reference: of the alerts "score >= v" for v a score or +infinity, the most sensitive one
    // that reaches the target. The returned one reaches it, is as sensitive, and fires on the same samples after
    // every score moves by 1e-9 either way.
    Generator gen(31);
    std::vector<double> score;
    std::vector<bool> positive;
    for (int trial = 0; trial < 60; ++trial) {
        random_tied_scores(gen, score, positive);
        const double target = trial % 10 == 0 ? 1.0 : gen.uniform();
        const auto got = train::sensitivity_at_specificity(score, positive, target);
        double best = std::numeric_limits<double>::infinity();
        for (const double v : score)
            if (v < best && train::binary_rates(score, positive, v).specificity() >= target - 1e-12) best = v;
        const auto want = train::binary_rates(score, positive, best);
        CAPTURE(trial, target, got.threshold, best);
        REQUIRE(got.specificity >= target - 1e-12);
        REQUIRE(got.sensitivity == want.sensitivity());
        REQUIRE(got.specificity == want.specificity());
        for (const double shift : {1e-9, -1e-9}) {
            std::vector<double> moved = score;
            for (auto& v : moved) v += shift;
            const auto a = train::binary_rates(moved, positive, got.threshold);
            REQUIRE(a.tp == want.tp);
            REQUIRE(a.fp == want.fp);
        }
    }
}

TEST_CASE("sensitivity_at_specificity refuses bad inputs", "[train][metrics][errors]") {
    const std::vector<double> s{0.1, 0.9};
    const std::vector<bool> pos{false, true};
    CHECK(test::error_message<ValueError>([&] { train::sensitivity_at_specificity(s, pos, 1.5); }) ==
          "sensitivity_at_specificity: target must be in [0, 1], got 1.5");
    CHECK_THROWS_AS(train::sensitivity_at_specificity(s, pos, -0.1), ValueError);
    CHECK_THROWS_AS(train::sensitivity_at_specificity(s, pos, std::nan("")), ValueError);
    CHECK_THROWS_AS(train::sensitivity_at_specificity(s, {true}, 0.9), ValueError);
    CHECK(test::error_message<ValueError>([] {
              train::sensitivity_at_specificity(std::vector<double>{0.4, std::nan("")}, {true, false}, 0.9);
          }) == "sensitivity_at_specificity: score 1 is NaN");
    CHECK_THROWS_AS(train::sensitivity_at_specificity(s, {true, true}, 0.9), ValueError);
    CHECK_THROWS_AS(train::sensitivity_at_specificity(s, {false, false}, 0.9), ValueError);
}

TEST_CASE("bootstrap_interval of a mean matches the normal approximation, and a seed fixes it", "[train][bootstrap]") {
    Generator gen(5);
    const std::size_t n = 400;
    std::vector<double> x(n);
    for (auto& v : x) v = gen.normal(10.0, 2.0);
    double mean = 0, var = 0;
    for (const double v : x) mean += v / static_cast<double>(n);
    for (const double v : x) var += (v - mean) * (v - mean) / static_cast<double>(n);
    const auto ci = train::bootstrap_interval(n, mean_of(x), 2000, 7);
    CAPTURE(mean, ci.low, ci.high);
    CHECK(ci.low < mean);
    CHECK(mean < ci.high);
    const double expected_width = 2 * 1.959963984540054 * std::sqrt(var / static_cast<double>(n));
    CHECK(std::abs((ci.high - ci.low) / expected_width - 1) < 0.15);
    // the same seed gives the same interval; another seed another one; a wider level a wider interval
    const auto again = train::bootstrap_interval(n, mean_of(x), 2000, 7);
    CHECK(again.low == ci.low);
    CHECK(again.high == ci.high);
    const auto other = train::bootstrap_interval(n, mean_of(x), 2000, 8);
    CHECK((other.low != ci.low || other.high != ci.high));
    const auto wide = train::bootstrap_interval(n, mean_of(x), 2000, 7, 0.99);
    CHECK(wide.low < ci.low);
    CHECK(wide.high > ci.high);
}

TEST_CASE("bootstrap_interval takes percentiles by linear interpolation, skipping a few non-finite values",
          "[train][bootstrap]") {
    // a statistic returning 0, 1, 2, ... in call order: the quantiles of 0..10 are at positions 10 q
    int calls = 0;
    const train::ResampleStatistic counter = [&](std::span<const std::size_t>) { return static_cast<double>(calls++); };
    auto ci = train::bootstrap_interval(3, counter, 11, 0, 0.95);
    CHECK(ci.low == Approx(0.25));
    CHECK(ci.high == Approx(9.75));
    // two NaNs and an infinity: 3 of 200 resamples, more than 1%
    calls = 0;
    const train::ResampleStatistic nan_first = [&](std::span<const std::size_t>) {
        const int c = calls++;
        return c < 2 ? std::nan("") : c == 2 ? std::numeric_limits<double>::infinity() : static_cast<double>(c);
    };
    CHECK_THROWS_AS(train::bootstrap_interval(3, nan_first, 200), ValueError);  // 3 of 200: too many
    // 2 NaNs of 200 (1%) are skipped: the values left are 2..199
    calls = 0;
    const train::ResampleStatistic two_nans = [&](std::span<const std::size_t>) {
        const int c = calls++;
        return c < 2 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(c);
    };
    ci = train::bootstrap_interval(3, two_nans, 200, 0, 0.5);
    CHECK(ci.low == Approx(2 + 197 * 0.25));
    CHECK(ci.high == Approx(2 + 197 * 0.75));
    calls = 0;
    CHECK_THAT(test::error_message<ValueError>([&] { train::bootstrap_interval(3, nan_first, 200); }),
               Catch::Contains("not finite on 3 of 200 resamples"));
    CHECK_THAT(test::error_message<ValueError>([] {
                   train::bootstrap_interval(3, [](std::span<const std::size_t>) { return std::nan(""); }, 50);
               }),
               Catch::Contains("not finite on 50 of 50 resamples (none left)"));
}

TEST_CASE("bootstrap_interval refuses bad inputs", "[train][bootstrap][errors]") {
    std::vector<double> x{1, 2, 3};
    CHECK(test::error_message<ValueError>([&] { train::bootstrap_interval(0, mean_of(x)); }) ==
          "bootstrap_interval: no samples to resample");
    CHECK_THROWS_AS(train::bootstrap_interval(3, mean_of(x), 0), ValueError);
    CHECK_THROWS_AS(train::bootstrap_interval(3, mean_of(x), 10, 0, 0.0), ValueError);
    CHECK_THROWS_AS(train::bootstrap_interval(3, mean_of(x), 10, 0, 1.0), ValueError);
    CHECK_THROWS_AS(train::bootstrap_interval(3, mean_of(x), 10, 0, std::nan("")), ValueError);
    CHECK_THROWS_AS(train::bootstrap_interval(3, train::ResampleStatistic{}), ValueError);
    CHECK_THROWS_AS(train::bootstrap_interval_stratified(std::vector<bool>{}, mean_of(x)), ValueError);
    CHECK_THROWS_AS(train::bootstrap_interval_stratified(std::vector<std::int32_t>{0, 1}, mean_of(x), 10, 0, 2.0),
                    ValueError);
}

TEST_CASE("bootstrap_interval_stratified keeps every class's count and position", "[train][bootstrap]") {
    const std::vector<std::int32_t> labels{2, 0, 0, 1, 2, 2, 0, 1, 0, 0, -1};
    bool kept = true;
    const train::ResampleStatistic count_of_two = [&](std::span<const std::size_t> idx) {
        double twos = 0;
        for (std::size_t i = 0; i < idx.size(); ++i) {
            kept = kept && labels[idx[i]] == labels[i];
            twos += labels[idx[i]] == 2 ? 1 : 0;
        }
        return twos;
    };
    auto ci = train::bootstrap_interval_stratified(labels, count_of_two, 300, 3);
    CHECK(kept);
    CHECK(ci.low == 3.0);
    CHECK(ci.high == 3.0);
    // plain resampling does change the count
    ci = train::bootstrap_interval(labels.size(), count_of_two, 300, 3);
    CHECK(ci.low < 3.0);
    CHECK(ci.high > 3.0);
    // binary labels: the positive count is kept; the same seed gives the same interval
    const std::vector<bool> positive{true, false, false, true, false, false, false, false};
    const train::ResampleStatistic positives = [&](std::span<const std::size_t> idx) {
        double p = 0;
        for (const std::size_t i : idx) p += positive[i] ? 1 : 0;
        return p;
    };
    ci = train::bootstrap_interval_stratified(positive, positives, 200, 9);
    CHECK(ci.low == 2.0);
    CHECK(ci.high == 2.0);
}

TEST_CASE("bootstrap_interval_stratified gives an AUC interval where plain resampling loses the positives",
          "[train][bootstrap]") {
    Generator gen(17);
    const std::size_t n = 40;
    std::vector<double> score(n);
    std::vector<bool> positive(n, false);
    positive[3] = positive[20] = true;  // 2 positives of 40: a plain resample has none ~13% of the time
    for (std::size_t i = 0; i < n; ++i) score[i] = gen.uniform() + (positive[i] ? 0.5 : 0.0);
    const train::ResampleStatistic auc = [&](std::span<const std::size_t> idx) {
        std::vector<double> s;
        std::vector<bool> p;
        for (const std::size_t i : idx) {
            s.push_back(score[i]);
            p.push_back(positive[i]);
        }
        const auto count = std::count(p.begin(), p.end(), true);
        if (count == 0 || count == static_cast<std::ptrdiff_t>(p.size())) return std::nan("");
        return train::roc_auc(s, p);
    };
    CHECK_THAT(test::error_message<ValueError>([&] { train::bootstrap_interval(n, auc, 500, 1); }),
               Catch::Contains("more than 1%"));
    const auto ci = train::bootstrap_interval_stratified(positive, auc, 500, 1);
    const double point = train::roc_auc(score, positive);
    CAPTURE(point, ci.low, ci.high);
    CHECK(ci.low <= point);
    CHECK(point <= ci.high);
    CHECK(ci.low >= 0.0);
    CHECK(ci.high <= 1.0);
    const auto again = train::bootstrap_interval_stratified(positive, auc, 500, 1);
    CHECK(again.low == ci.low);
    CHECK(again.high == ci.high);
}
