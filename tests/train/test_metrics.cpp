#include <catch2/catch.hpp>

#include <limits>
#include <set>
#include <sstream>

#include <ember/core/random.hpp>
#include <ember/train/metrics.hpp>
#include <ember/train/progress.hpp>

#include "helpers.hpp"

using namespace ember;
using train::ConfusionMatrix;

namespace {
/// Random binary-labelled scores on a coarse grid (levels values in [0, 1]: many ties), sample 0 positive and
/// sample 1 negative, n in [min_n, min_n + spread).
struct TiedScores {
    std::vector<double> score;
    std::vector<bool> positive;
};
TiedScores tied_scores(Generator& gen, std::size_t min_n, std::uint64_t spread, std::uint64_t levels, double positive_rate) {
    const auto n = static_cast<std::size_t>(min_n + gen.below(spread));
    TiedScores t{std::vector<double>(n), std::vector<bool>(n)};
    for (std::size_t i = 0; i < n; ++i) {
        t.score[i] = static_cast<double>(gen.below(levels)) / static_cast<double>(levels - 1);
        t.positive[i] = gen.uniform() < positive_rate;
    }
    t.positive[0] = true;
    t.positive[1] = false;
    return t;
}
}  // namespace

TEST_CASE("confusion matrix metrics match hand counts", "[train][metrics]") {
    ConfusionMatrix cm(3);
    // truth:     0 0 0 0 1 1 2 2 2 2
    // predicted: 0 0 1 2 1 0 2 2 2 1
    const std::vector<std::int32_t> t{0, 0, 0, 0, 1, 1, 2, 2, 2, 2}, p{0, 0, 1, 2, 1, 0, 2, 2, 2, 1};
    cm.add(t, p);
    CHECK(cm.total() == 10);
    CHECK(cm.count(0, 0) == 2);
    CHECK(cm.accuracy() == Approx(0.6));
    CHECK(cm.recall(0) == Approx(0.5));
    CHECK(cm.recall(1) == Approx(0.5));
    CHECK(cm.recall(2) == Approx(0.75));
    CHECK(cm.precision(0) == Approx(2.0 / 3));
    CHECK(cm.precision(1) == Approx(1.0 / 3));
    CHECK(cm.precision(2) == Approx(0.75));
    CHECK(cm.f1(0) == Approx(2 * (2.0 / 3) * 0.5 / (2.0 / 3 + 0.5)));
    CHECK(cm.balanced_accuracy() == Approx((0.5 + 0.5 + 0.75) / 3));
    // class 2 one-vs-rest: negatives = 6, false positives = 1 -> specificity 5/6
    CHECK(cm.specificity(2) == Approx(5.0 / 6));
    CHECK_THAT(cm.to_string({"a", "b", "c"}), Catch::Contains("        a     2     1     1"));
}

TEST_CASE("balanced accuracy skips absent classes, and errors name the pair", "[train][metrics][errors]") {
    ConfusionMatrix cm(3);
    cm.add(0, 0);
    cm.add(1, 0);
    CHECK(cm.balanced_accuracy() == Approx(0.5));
    CHECK(test::error_message<ValueError>([&] { cm.add(3, 0); }) ==
          "ConfusionMatrix: pair (truth 3, predicted 0) outside [0, 3)");
}

TEST_CASE("argmax, binary rates and the alert threshold for a target sensitivity, half-way to the next score", "[train][metrics]") {
    auto scores = Tensor<float>::from_data({3, 3}, {0.1f, 0.7f, 0.2f, 0.5f, 0.2f, 0.3f, 0.3f, 0.3f, 0.4f});
    CHECK(train::argmax_rows(scores) == std::vector<std::int32_t>{1, 0, 2});
    const std::vector<double> p{0.9, 0.2, 0.6, 0.4, 0.1, 0.7};
    const std::vector<bool> pos{true, true, true, false, false, false};
    auto r = train::binary_rates(p, pos, 0.5);
    CHECK(r.tp == 2);
    CHECK(r.fn == 1);
    CHECK(r.fp == 1);
    CHECK(r.tn == 2);
    CHECK(r.sensitivity() == Approx(2.0 / 3));
    CHECK(r.specificity() == Approx(2.0 / 3));
    // all three positives: the lowest is 0.2, the next lower score 0.1 -> half-way, 0.15
    CHECK(train::threshold_for_sensitivity(p, pos, 1.0) == Approx(0.15));
    // two of three: 0.6 must alert, the next lower score is 0.4 -> 0.5
    CHECK(train::threshold_for_sensitivity(p, pos, 0.6) == Approx(0.5));
    CHECK(train::binary_rates(p, pos, train::threshold_for_sensitivity(p, pos, 0.6)).sensitivity() >= 0.6);
    // nothing below the positive: half of it; no positive: 0
    CHECK(train::threshold_for_sensitivity(std::vector<double>{0.4, 0.8}, {true, false}, 1.0) == Approx(0.2));
    CHECK(train::threshold_for_sensitivity(std::vector<double>{0.4, 0.8}, {false, false}, 0.9) == 0.0);
    // NaN scores (a broken model) would break the sort's ordering: refused, naming the first
    CHECK(test::error_message<ValueError>([] {
              train::threshold_for_sensitivity(std::vector<double>{0.4, std::nan(""), 0.2}, {true, false, true}, 0.9);
          }) == "threshold_for_sensitivity: score 1 is NaN");
    // On random scores with ties, against a brute-force reference: of all thresholds "alert when score >= v" for
    // v a score that occurs, the most specific one that reaches the target sensitivity (specificity only grows
    // with v, so the highest such v). The alert at the returned threshold fires on exactly the samples that one
    // fires on, and still does after every score moves by 1e-9 either way.
    Generator gen(21);
    for (int trial = 0; trial < 50; ++trial) {
        const auto [s, y] = tied_scores(gen, 4, 40, 20, 0.4);
        const double target = gen.uniform();
        const double t = train::threshold_for_sensitivity(s, y, target);
        double best = -std::numeric_limits<double>::infinity();
        for (const double v : s)
            if (v > best && train::binary_rates(s, y, v).sensitivity() >= target - 1e-12) best = v;
        CAPTURE(trial, target, t, best);
        REQUIRE(t <= best);
        for (const double shift : {0.0, 1e-9, -1e-9}) {
            std::vector<double> moved = s;
            for (auto& v : moved) v += shift;
            const auto a = train::binary_rates(moved, y, t), b = train::binary_rates(s, y, best);
            REQUIRE(a.tp == b.tp);
            REQUIRE(a.fp == b.fp);
        }
        REQUIRE(train::binary_rates(s, y, t).sensitivity() >= target - 1e-12);
    }
}

TEST_CASE("roc_auc is the fraction of positive-negative pairs ranked right, ties counting one half", "[train][metrics]") {
    // a naive reference: every pair compared
    const auto pairs = [](const std::vector<double>& s, const std::vector<bool>& pos) {
        double right = 0, n = 0;
        for (std::size_t i = 0; i < s.size(); ++i)
            for (std::size_t j = 0; j < s.size(); ++j)
                if (pos[i] && !pos[j]) {
                    right += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
                    n += 1;
                }
        return right / n;
    };
    Generator gen(11);
    for (int trial = 0; trial < 20; ++trial) {
        const auto [s, pos] = tied_scores(gen, 5, 60, 12, 0.3);
        const std::size_t n = s.size();
        CAPTURE(trial, n);
        REQUIRE(train::roc_auc(s, pos) == Approx(pairs(s, pos)).epsilon(1e-12));
        // the curve's trapezoids have the same area
        const auto curve = train::roc_curve(s, pos);
        double area = 0;
        for (std::size_t k = 1; k < curve.size(); ++k)
            area += (curve[k].false_positive_rate - curve[k - 1].false_positive_rate) *
                    (curve[k].true_positive_rate + curve[k - 1].true_positive_rate) / 2;
        REQUIRE(area == Approx(pairs(s, pos)).epsilon(1e-12));
        REQUIRE(curve.front().threshold == std::numeric_limits<double>::infinity());  // nothing alerts: (0, 0)
        REQUIRE(curve.front().false_positive_rate == 0.0);
        REQUIRE(curve.front().true_positive_rate == 0.0);
        REQUIRE(curve.size() == 1 + std::set<double>(s.begin(), s.end()).size());  // a point per distinct score
        REQUIRE(curve.back().false_positive_rate == 1.0);
        REQUIRE(curve.back().true_positive_rate == 1.0);
        // each point is the rates of the alert at its threshold
        for (std::size_t k = 1; k < curve.size(); ++k) {
            const auto r = train::binary_rates(s, pos, curve[k].threshold);
            REQUIRE(curve[k].true_positive_rate == Approx(r.sensitivity()));
            REQUIRE(curve[k].false_positive_rate == Approx(1 - r.specificity()));
        }
    }
    const std::vector<double> s{0.1, 0.4, 0.35, 0.8};
    CHECK(train::roc_auc(s, {false, false, true, true}) == 0.75);  // sklearn's documented example
    CHECK(train::roc_auc(s, {true, true, false, false}) == 0.25);
    CHECK(test::error_message<ValueError>([&] { train::roc_auc(s, {true, true, true, true}); }) ==
          "roc_auc: needs positive and negative samples, got 4 positive(s) among 4");
    CHECK(test::error_message<ValueError>([&] { train::roc_curve(s, {true, false}); }) ==
          "roc_curve: 4 scores but 2 labels");
    const std::vector<double> with_nan{0.1, std::nan("")};
    CHECK(test::error_message<ValueError>([&] { train::roc_auc(with_nan, {true, false}); }) == "roc_auc: score 1 is NaN");
}

TEST_CASE("wilson_interval: the closed form, its defining equation, the edges", "[train][metrics]") {
    // 14 of 16 (the Test melanomas the alert of runs 9 and 10 caught): the closed form evaluated separately
    // (Python, double precision); then the defining equation: the ends are the proportions q with
    // |p - q| = z sqrt(q (1 - q) / n)
    const auto a = train::wilson_interval(14, 16);
    CHECK(a.low == Approx(0.6397717).margin(1e-6));
    CHECK(a.high == Approx(0.9650225).margin(1e-6));
    const double z = 1.959963984540054;
    for (auto [k, n] : {std::pair<long, long>{55, 118}, {1, 10}, {9, 10}, {3, 3}, {0, 5}, {40, 100}}) {
        CAPTURE(k, n);
        const auto w = train::wilson_interval(k, n);
        const double p = static_cast<double>(k) / static_cast<double>(n);
        for (const double q : {w.low, w.high})
            if (q > 0 && q < 1) CHECK(std::abs(p - q) == Approx(z * std::sqrt(q * (1 - q) / static_cast<double>(n))).epsilon(1e-9));
        CHECK(w.low <= p);
        CHECK(w.high >= p);
    }
    CHECK(train::wilson_interval(0, 5).low == 0.0);
    CHECK(train::wilson_interval(5, 5).high == 1.0);
    CHECK(train::wilson_interval(0, 0).high == 1.0);
    CHECK(test::error_message<ValueError>([] { train::wilson_interval(6, 5); }) == "wilson_interval: 6 successes out of 5 trials");
}

TEST_CASE("ProgressBar: training steps show loss and a metric, other work only its rate", "[train][progress]") {
    std::ostringstream train_out, load_out;
    train::ProgressBar epoch(3, train_out, /*interactive=*/false);
    epoch.update(1, 32, 2.0, "acc", 0.1);  // a log line at most every 5 s: the first step stays quiet
    CHECK(train_out.str().empty());
    epoch.update(3, 96, 1.5, "acc", 0.25);  // the last step always prints
    const std::string line = train_out.str();
    CHECK_THAT(line, Catch::StartsWith("3/3 [========================] loss 1.5000 acc 0.2500 | "));
    CHECK_THAT(line, Catch::Contains(" img/s | took "));

    train::ProgressBar decoding(120, load_out, /*interactive=*/false);
    decoding.update(120, 120);
    CHECK_THAT(load_out.str(), Catch::StartsWith("120/120 [========================] "));
    CHECK_THAT(load_out.str(), !Catch::Contains("loss") && Catch::Contains(" img/s | took "));

    std::ostringstream tty_out;
    train::ProgressBar redrawn(3, tty_out, /*interactive=*/true);
    redrawn.update(1, 32, 2.0, "acc", 0.1);  // a terminal's line is redrawn at every step, in place
    CHECK_THAT(tty_out.str(), Catch::StartsWith("\r1/3 [========>...............] loss 2.0000 acc 0.1000 | "));
    CHECK_THAT(tty_out.str(), Catch::EndsWith("\033[K"));

    std::ostringstream plain_out;  // a loss without a metric (fit without metrics)
    train::ProgressBar plain(1, plain_out, /*interactive=*/false);
    plain.update(1, 8, 0.5);
    CHECK_THAT(plain_out.str(), Catch::StartsWith("1/1 [========================] loss 0.5000 | "));
}
