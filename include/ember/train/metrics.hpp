// ember/train/metrics.hpp - classification metrics: confusion matrix, per-class precision/recall/F1, balanced
// accuracy, one-vs-rest sensitivity/specificity at a probability threshold (an alert on one class), the threshold for
// a target sensitivity or specificity, and the ROC curve and its area for such a score, Wilson confidence intervals
// for proportions, and percentile bootstrap intervals (plain and stratified) for any statistic of the samples.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/random.hpp"
#include "ember/core/tensor.hpp"

namespace ember::train {

/// Counts of (true class, predicted class) pairs. Rows are the truth, columns the prediction.
class ConfusionMatrix {
public:
    explicit ConfusionMatrix(int classes) : n_(classes), counts_(static_cast<std::size_t>(classes * classes), 0) {
        EMBER_CHECK(classes > 0, ValueError, "ConfusionMatrix: need at least one class, got ", classes);
    }

    void add(int truth, int predicted) {
        EMBER_CHECK(truth >= 0 && truth < n_ && predicted >= 0 && predicted < n_, ValueError,
                    "ConfusionMatrix: pair (truth ", truth, ", predicted ", predicted, ") outside [0, ", n_, ")");
        ++counts_[static_cast<std::size_t>(truth * n_ + predicted)];
    }
    void add(std::span<const std::int32_t> truths, std::span<const std::int32_t> predicted) {
        EMBER_CHECK(truths.size() == predicted.size(), ValueError, "ConfusionMatrix: ", truths.size(),
                    " labels but ", predicted.size(), " predictions");
        for (std::size_t i = 0; i < truths.size(); ++i) add(truths[i], predicted[i]);
    }

    [[nodiscard]] int classes() const { return n_; }
    [[nodiscard]] std::int64_t count(int truth, int predicted) const {
        return counts_[static_cast<std::size_t>(truth * n_ + predicted)];
    }
    [[nodiscard]] std::int64_t total() const {
        std::int64_t t = 0;
        for (auto c : counts_) t += c;
        return t;
    }
    /// Samples whose true class is c.
    [[nodiscard]] std::int64_t support(int c) const {
        std::int64_t t = 0;
        for (int p = 0; p < n_; ++p) t += count(c, p);
        return t;
    }
    [[nodiscard]] std::int64_t predicted_count(int c) const {
        std::int64_t t = 0;
        for (int r = 0; r < n_; ++r) t += count(r, c);
        return t;
    }
    /// Samples on the diagonal (predicted as their true class).
    [[nodiscard]] std::int64_t correct() const {
        std::int64_t right = 0;
        for (int c = 0; c < n_; ++c) right += count(c, c);
        return right;
    }
    [[nodiscard]] double accuracy() const {
        return total() ? static_cast<double>(correct()) / static_cast<double>(total()) : 0.0;
    }
    /// TP / (TP + FN); 0 for a class with no samples.
    [[nodiscard]] double recall(int c) const {
        const auto s = support(c);
        return s ? static_cast<double>(count(c, c)) / static_cast<double>(s) : 0.0;
    }
    /// TP / (TP + FP); 0 for a class never predicted.
    [[nodiscard]] double precision(int c) const {
        const auto p = predicted_count(c);
        return p ? static_cast<double>(count(c, c)) / static_cast<double>(p) : 0.0;
    }
    [[nodiscard]] double f1(int c) const {
        const double p = precision(c), r = recall(c);
        return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
    }
    /// Mean recall over the classes that have samples (scikit-learn's balanced_accuracy_score).
    [[nodiscard]] double balanced_accuracy() const {
        double sum = 0;
        int present = 0;
        for (int c = 0; c < n_; ++c)
            if (support(c)) {
                sum += recall(c);
                ++present;
            }
        return present ? sum / present : 0.0;
    }
    /// One-vs-rest specificity of class c: TN / (TN + FP).
    [[nodiscard]] double specificity(int c) const {
        const std::int64_t fp = predicted_count(c) - count(c, c);
        const std::int64_t negatives = total() - support(c);
        return negatives ? static_cast<double>(negatives - fp) / static_cast<double>(negatives) : 0.0;
    }

    /// The matrix as aligned text, rows labelled with `names` (true class) and columns numbered.
    [[nodiscard]] std::string to_string(const std::vector<std::string>& names = {}) const {
        std::ostringstream os;
        std::size_t label_width = 4;
        for (const auto& s : names) label_width = std::max(label_width, s.size());
        os << std::setw(static_cast<int>(label_width)) << "true\\pred";
        for (int p = 0; p < n_; ++p) os << std::setw(6) << p;
        os << '\n';
        for (int t = 0; t < n_; ++t) {
            const std::string label = static_cast<std::size_t>(t) < names.size() ? names[static_cast<std::size_t>(t)]
                                                                                 : std::to_string(t);
            os << std::setw(static_cast<int>(std::max<std::size_t>(label_width, 9))) << label;
            for (int p = 0; p < n_; ++p) os << std::setw(6) << count(t, p);
            os << '\n';
        }
        return os.str();
    }

private:
    int n_;
    std::vector<std::int64_t> counts_;
};

/// A confidence interval [low, high]: for a proportion (wilson_interval) or any statistic (bootstrap_interval).
struct Interval {
    double low, high;
};

/// Wilson's score interval for `successes` out of `n` trials at normal quantile `z` (1.96: 95%): the usual
/// interval for a sensitivity or an accuracy measured on few images, which stays inside [0, 1] and is not empty
/// at 0 or n successes (the plain p +- z sqrt(p(1-p)/n) is). n = 0 gives [0, 1]. Throws ValueError for
/// successes outside [0, n] or z <= 0.
inline Interval wilson_interval(std::int64_t successes, std::int64_t n, double z = 1.959963984540054) {
    EMBER_CHECK(n >= 0 && successes >= 0 && successes <= n, ValueError, "wilson_interval: ", successes,
                " successes out of ", n, " trials");
    EMBER_CHECK(z > 0, ValueError, "wilson_interval: z must be > 0, got ", z);
    if (n == 0) return {0.0, 1.0};
    const double nn = static_cast<double>(n), p = static_cast<double>(successes) / nn, z2 = z * z;
    const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    return {successes == 0 ? 0.0 : std::max(0.0, centre - half), successes == n ? 1.0 : std::min(1.0, centre + half)};
}

/// Index of the largest value in each row of `scores` [N, C] (logits or probabilities).
template <Real T>
std::vector<std::int32_t> argmax_rows(const Tensor<T>& scores) {
    EMBER_CHECK(scores.rank() == 2 && scores.size(1) > 0, ShapeError, "argmax_rows: expected [N, C], got ",
                scores.shape());
    const index_t n = scores.size(0), c = scores.size(1);
    std::vector<std::int32_t> out(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        const T* row = scores.data() + i * c;
        out[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(std::max_element(row, row + c) - row);
    }
    return out;
}

/// One-vs-rest rates of an alert that fires when score >= threshold.
struct BinaryRates {
    std::int64_t tp = 0, fn = 0, tn = 0, fp = 0;
    [[nodiscard]] double sensitivity() const { return tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0; }
    [[nodiscard]] double specificity() const { return tn + fp ? static_cast<double>(tn) / static_cast<double>(tn + fp) : 0.0; }
};

/// Rates of "positive[i] is true" detected by "score[i] >= threshold".
inline BinaryRates binary_rates(std::span<const double> score, const std::vector<bool>& positive, double threshold) {
    EMBER_CHECK(score.size() == positive.size(), ValueError, "binary_rates: ", score.size(), " scores but ",
                positive.size(), " labels");
    BinaryRates r;
    for (std::size_t i = 0; i < score.size(); ++i) {
        const bool alert = score[i] >= threshold;
        if (positive[i]) (alert ? r.tp : r.fn)++;
        else (alert ? r.fp : r.tn)++;
    }
    return r;
}

namespace metrics_detail {
/// ValueError naming `what` for scores and labels of different counts or a NaN score (which would break sorting).
inline void check_scores(std::span<const double> score, const std::vector<bool>& positive, const char* what) {
    EMBER_CHECK(score.size() == positive.size(), ValueError, what, ": ", score.size(), " scores but ", positive.size(),
                " labels");
    for (std::size_t i = 0; i < score.size(); ++i)
        EMBER_CHECK(!std::isnan(score[i]), ValueError, what, ": score ", i, " is NaN");
}
/// check_scores(), and at least one positive and one negative sample.
inline void check_binary_scores(std::span<const double> score, const std::vector<bool>& positive, const char* what) {
    check_scores(score, positive, what);
    const auto p = std::count(positive.begin(), positive.end(), true);
    EMBER_CHECK(p > 0 && p < static_cast<std::ptrdiff_t>(positive.size()), ValueError, what,
                ": needs positive and negative samples, got ", p, " positive(s) among ", positive.size());
}
/// A threshold in the middle of the gap (lo, hi] between two scores: every threshold there alerts on the same
/// samples, and the middle keeps them so under changes of the scores far smaller than the gap; hi where the two are
/// adjacent doubles, with no room in between.
inline double mid_gap(double lo, double hi) {
    const double mid = lo + (hi - lo) / 2;
    return mid > lo && mid < hi ? mid : hi;
}
}  // namespace metrics_detail

/// A threshold whose alert reaches `target_sensitivity` on these scores and is as specific as it can be there:
/// with t the score of the last positive the alert must catch (the ceil(target * P)-th highest positive score),
/// every threshold in (s, t], where s is the highest score below t, alerts on exactly the same samples; this
/// returns the middle of that gap, (s + t) / 2 (when no score lies below t: t / 2, or t - 1 for t <= 0), not t, so
/// that a change of the scores far smaller than the gap - another thread count or build sums in another order,
/// ~1e-8 - does not drop that positive. Returns 0 when there is no positive sample. Throws ValueError for a
/// target outside [0, 1], mismatched sizes or a NaN score.
inline double threshold_for_sensitivity(std::span<const double> score, const std::vector<bool>& positive,
                                        double target_sensitivity) {
    EMBER_CHECK(target_sensitivity >= 0 && target_sensitivity <= 1, ValueError,
                "threshold_for_sensitivity: target must be in [0, 1], got ", target_sensitivity);
    metrics_detail::check_scores(score, positive, "threshold_for_sensitivity");
    std::vector<double> pos;
    for (std::size_t i = 0; i < score.size(); ++i)
        if (positive[i]) pos.push_back(score[i]);
    if (pos.empty()) return 0.0;
    std::sort(pos.begin(), pos.end(), std::greater<>());
    // Need at least ceil(target * P) positives at or above the threshold.
    auto need = static_cast<std::size_t>(std::ceil(target_sensitivity * static_cast<double>(pos.size()) - 1e-9));
    need = std::clamp<std::size_t>(need, 1, pos.size());
    const double t = pos[need - 1];
    double below = -std::numeric_limits<double>::infinity();
    for (const double v : score)
        if (v < t) below = std::max(below, v);
    if (below == -std::numeric_limits<double>::infinity()) return t > 0 ? t / 2 : t - 1;  // every sample alerts
    return metrics_detail::mid_gap(below, t);
}

/// An alert threshold and the rates it reaches on the scores it was chosen on.
struct OperatingPoint {
    double threshold, sensitivity, specificity;
};

/// The most sensitive alert ("score >= threshold") whose specificity on these scores is at least
/// `target_specificity`: with s the ceil(target * N)-th lowest negative score (N negatives), every negative at or
/// below s must stay silent, so the alert fires on the samples scoring above s, and ties at s - negatives or
/// positives - stay silent too (the specificity reached is never below the target, and may be above it). Any
/// threshold in (s, u], where u is the lowest score above s, alerts on exactly those samples; as
/// threshold_for_sensitivity does, this places the threshold in the middle of that gap, (s + u) / 2 (when no score
/// lies above s: s / 2 for s < 0, or s + 1; for a target of 0, every sample alerts: m / 2, or m - 1 for m <= 0, m
/// the lowest score), so that a change of the scores far smaller than the gap does not change which samples alert.
/// Returns the threshold with the sensitivity and specificity binary_rates() gives for it. Throws ValueError for a
/// target outside [0, 1], mismatched sizes, a NaN score, or a set without positives or without negatives.
inline OperatingPoint sensitivity_at_specificity(std::span<const double> score, const std::vector<bool>& positive,
                                                 double target_specificity) {
    EMBER_CHECK(target_specificity >= 0 && target_specificity <= 1, ValueError,
                "sensitivity_at_specificity: target must be in [0, 1], got ", target_specificity);
    metrics_detail::check_binary_scores(score, positive, "sensitivity_at_specificity");
    std::vector<double> neg;
    for (std::size_t i = 0; i < score.size(); ++i)
        if (!positive[i]) neg.push_back(score[i]);
    std::sort(neg.begin(), neg.end());
    // Need at least ceil(target * N) negatives below the threshold.
    auto need = static_cast<std::size_t>(std::ceil(target_specificity * static_cast<double>(neg.size()) - 1e-9));
    need = std::min(need, neg.size());
    double threshold = 0;
    if (need == 0) {  // every sample alerts
        const double m = *std::min_element(score.begin(), score.end());
        threshold = m > 0 ? m / 2 : m - 1;
    } else {
        const double s = neg[need - 1];
        double above = std::numeric_limits<double>::infinity();
        for (const double v : score)
            if (v > s) above = std::min(above, v);
        if (above == std::numeric_limits<double>::infinity()) {  // no sample alerts
            threshold = s < 0 ? s / 2 : s + 1;
        } else {
            threshold = metrics_detail::mid_gap(s, above);
        }
    }
    const BinaryRates r = binary_rates(score, positive, threshold);
    return {threshold, r.sensitivity(), r.specificity()};
}

/// Area under the ROC curve of `score` for "positive[i] is true": the probability that a random positive scores
/// above a random negative, a tie counting one half (Mann-Whitney U / (P N), as scikit-learn's roc_auc_score for
/// binary labels). Threshold-free: how well the score ranks, whatever alert threshold is later chosen. Throws
/// ValueError for NaN scores, mismatched sizes, or a set without positives or without negatives.
inline double roc_auc(std::span<const double> score, const std::vector<bool>& positive) {
    metrics_detail::check_binary_scores(score, positive, "roc_auc");
    std::vector<std::size_t> order(score.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
    double positive_rank_sum = 0;  // 1-based ranks, ties sharing their mean rank
    double positives = 0;
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        while (j < order.size() && score[order[j]] == score[order[i]]) ++j;
        const double mean_rank = 0.5 * static_cast<double>(i + 1 + j);
        for (std::size_t t = i; t < j; ++t)
            if (positive[order[t]]) {
                positive_rank_sum += mean_rank;
                positives += 1;
            }
        i = j;
    }
    const double negatives = static_cast<double>(score.size()) - positives;
    return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

/// One point of a ROC curve: the alert "score >= threshold" has these rates.
struct RocPoint {
    double threshold, false_positive_rate, true_positive_rate;
};

/// The ROC curve: one point per distinct score, from the highest threshold down (each point the rates of
/// "score >= that score"), starting at (0, 0) with threshold +infinity and ending at (1, 1). Same checks as roc_auc.
inline std::vector<RocPoint> roc_curve(std::span<const double> score, const std::vector<bool>& positive) {
    metrics_detail::check_binary_scores(score, positive, "roc_curve");
    std::vector<std::size_t> order(score.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
    const auto p = static_cast<double>(std::count(positive.begin(), positive.end(), true));
    const double n = static_cast<double>(score.size()) - p;
    std::vector<RocPoint> curve{{std::numeric_limits<double>::infinity(), 0.0, 0.0}};
    double tp = 0, fp = 0;
    for (std::size_t i = 0; i < order.size();) {
        const double t = score[order[i]];
        for (; i < order.size() && score[order[i]] == t; ++i) (positive[order[i]] ? tp : fp) += 1;
        curve.push_back({t, fp / n, tp / p});
    }
    return curve;
}

/// A statistic of a resample, given the indices (into the caller's samples) that make it up, repeats included.
using ResampleStatistic = std::function<double(std::span<const std::size_t>)>;

namespace metrics_detail {
/// The q-quantile (q in [0, 1]) of ascending `sorted` by linear interpolation between the closest ranks: position
/// h = (m - 1) q, value sorted[floor h] + (h - floor h) (sorted[floor h + 1] - sorted[floor h]) (NumPy's default,
/// method="linear"; R's type 7). `sorted` must not be empty.
inline double quantile_linear(const std::vector<double>& sorted, double q) {
    const double h = static_cast<double>(sorted.size() - 1) * q;
    const auto lo = static_cast<std::size_t>(std::floor(h));
    if (lo + 1 >= sorted.size()) return sorted.back();
    return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

/// The percentile bootstrap both bootstrap_interval()s share: `draw(gen, indices)` fills one resample's indices,
/// the statistic is evaluated on each of `resamples` of them, and the (1 - level) / 2 and (1 + level) / 2
/// quantiles of the finite values are returned. ValueError naming `what` when more than 1% of the values are not
/// finite (the interval would describe only the resamples the statistic happens to be defined on).
template <class Draw>
Interval percentile_bootstrap(std::size_t n, const ResampleStatistic& statistic, std::size_t resamples,
                              std::uint64_t seed, double level, const char* what, Draw&& draw) {
    EMBER_CHECK(n > 0, ValueError, what, ": no samples to resample");
    EMBER_CHECK(resamples > 0, ValueError, what, ": needs at least one resample");
    EMBER_CHECK(level > 0 && level < 1, ValueError, what, ": level must be in (0, 1), got ", level);
    EMBER_CHECK(static_cast<bool>(statistic), ValueError, what, ": no statistic given");
    Generator gen(seed);
    std::vector<std::size_t> indices(n);
    std::vector<double> values;
    values.reserve(resamples);
    std::size_t skipped = 0;
    for (std::size_t r = 0; r < resamples; ++r) {
        draw(gen, indices);
        const double v = statistic(std::span<const std::size_t>(indices));
        if (std::isfinite(v)) values.push_back(v);
        else ++skipped;
    }
    EMBER_CHECK(!values.empty() && skipped * 100 <= resamples, ValueError, what, ": the statistic is not finite on ",
                skipped, " of ", resamples, " resamples", values.empty() ? " (none left)" : "",
                "; more than 1% would bias the interval");
    std::sort(values.begin(), values.end());
    return {quantile_linear(values, (1 - level) / 2), quantile_linear(values, (1 + level) / 2)};
}

/// Samples grouped by stratum: the indices of each distinct label, in order of the label.
template <class Labels>
std::vector<std::vector<std::size_t>> strata_of(const Labels& labels) {
    std::map<std::int64_t, std::vector<std::size_t>> by_label;
    for (std::size_t i = 0; i < labels.size(); ++i) by_label[static_cast<std::int64_t>(labels[i])].push_back(i);
    std::vector<std::vector<std::size_t>> strata;
    for (auto& entry : by_label) strata.push_back(std::move(entry.second));
    return strata;
}

/// The stratified bootstrap over `labels`: position i of each resample is drawn from the samples of i's label.
template <class Labels>
Interval stratified_bootstrap(const Labels& labels, const ResampleStatistic& statistic, std::size_t resamples,
                              std::uint64_t seed, double level) {
    const auto strata = strata_of(labels);
    std::vector<const std::vector<std::size_t>*> stratum_of(labels.size());
    for (const auto& members : strata)
        for (const std::size_t i : members) stratum_of[i] = &members;
    return percentile_bootstrap(labels.size(), statistic, resamples, seed, level, "bootstrap_interval_stratified",
                                [&](Generator& gen, std::vector<std::size_t>& indices) {
                                    for (std::size_t i = 0; i < indices.size(); ++i) {
                                        const auto& members = *stratum_of[i];
                                        indices[i] = members[static_cast<std::size_t>(gen.below(members.size()))];
                                    }
                                });
}
}  // namespace metrics_detail

/// Percentile bootstrap confidence interval of a statistic of n samples (Efron's percentile method): `resamples`
/// times, n indices are drawn uniformly with replacement from [0, n) with a Generator seeded by `seed` (the same
/// seed gives the same interval), and `statistic` is evaluated on them; the interval is the (1 - level) / 2 and
/// (1 + level) / 2 quantiles of those values, each by linear interpolation between closest ranks (NumPy's default
/// percentile, R's type 7). Resamples on which the statistic is not finite (NaN or infinite: say an AUC of a
/// resample without positives, if the statistic returns NaN for it) are skipped; more than 1% of them skipped, or
/// none left, throws ValueError, as does n = 0, resamples = 0, level outside (0, 1) or an empty statistic. An
/// exception the statistic throws propagates. For a statistic that needs every class present (AUC, balanced
/// accuracy), bootstrap_interval_stratified keeps each class's count in every resample.
inline Interval bootstrap_interval(std::size_t n, const ResampleStatistic& statistic, std::size_t resamples = 2000,
                                   std::uint64_t seed = 0, double level = 0.95) {
    return metrics_detail::percentile_bootstrap(n, statistic, resamples, seed, level, "bootstrap_interval",
                                                [n](Generator& gen, std::vector<std::size_t>& indices) {
                                                    for (auto& i : indices) i = static_cast<std::size_t>(gen.below(n));
                                                });
}

/// bootstrap_interval() resampling within strata: the n = labels.size() samples are grouped by label, and position
/// i of every resample is drawn uniformly with replacement from the samples sharing sample i's label, so each
/// resample holds exactly as many samples of each label as the data, in the same positions (labels[indices[i]] ==
/// labels[i]). Same quantiles, seeding and errors as bootstrap_interval.
inline Interval bootstrap_interval_stratified(std::span<const std::int32_t> labels, const ResampleStatistic& statistic,
                                              std::size_t resamples = 2000, std::uint64_t seed = 0,
                                              double level = 0.95) {
    return metrics_detail::stratified_bootstrap(labels, statistic, resamples, seed, level);
}
/// bootstrap_interval_stratified() for binary labels: positives and negatives resampled apart.
inline Interval bootstrap_interval_stratified(const std::vector<bool>& labels, const ResampleStatistic& statistic,
                                              std::size_t resamples = 2000, std::uint64_t seed = 0,
                                              double level = 0.95) {
    return metrics_detail::stratified_bootstrap(labels, statistic, resamples, seed, level);
}

}  // namespace ember::train
