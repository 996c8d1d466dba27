// examples/melanoma/cv_report.cpp - the out-of-fold report of `melanoma cv`: the held-out predictions of every
// fold pooled (each image scored once, by the model that did not train on it), the figures every recipe is judged
// by, each with a 95% interval from a bootstrap over the images (resampled within each class, so every resample
// keeps the class counts), and the melanoma alert threshold chosen on the pooled scores.
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>

#include <ember/train/metrics.hpp>

#include "commands.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

namespace {

/// The bootstrap's resamples and seed: 2,000 keep the percentile interval's ends stable to about 0.005.
constexpr std::size_t kResamples = 2000;
constexpr std::uint64_t kBootstrapSeed = 20240101;
/// The specificity the melanoma sensitivity is reported at (the figure the targets name).
constexpr double kReportSpecificity = 0.80;

/// Every fold's held-out images, labels and class probabilities, pooled.
struct Pooled {
    std::vector<std::string> names, images;
    std::vector<std::int32_t> labels;
    std::vector<std::vector<double>> probabilities;
    std::vector<int> fold;
};

/// Reads fold `fold`'s oof.json, checking that it belongs to this cross-validation (recipe, folds, fold, --limit,
/// classes, Train folder).
void read_fold(const fs::path& file, int fold, const TrainArgs& base, const json& recipe, Pooled& p,
               std::string& train_folder) {
    json j;
    try {
        std::ifstream in(file);
        j = json::parse(in);
        if (j.at("folds").get<int>() != base.folds || j.at("fold").get<int>() != fold || j.at("limit").get<long>() != base.limit)
            throw UsageError(file.string() + " is fold " + std::to_string(j.at("fold").get<int>() + 1) + " of " +
                             j.at("folds").dump() + " (--limit " + j.at("limit").dump() + "), not fold " +
                             std::to_string(fold + 1) + " of " + std::to_string(base.folds) + " (--limit " +
                             std::to_string(base.limit) + "): use another --out for another cross-validation");
        const json fold_recipe = j.at("recipe");
        if (fold_recipe != recipe)
            throw UsageError(file.string() + " was trained with another recipe (" + fold_recipe.dump() + "); train that "
                             "fold again (remove its folder) or use another --out");
        const auto names = j.at("class_names").get<std::vector<std::string>>();
        const auto folder = j.at("train_folder").get<std::string>();
        if (p.names.empty()) p.names = names, train_folder = folder;
        if (names != p.names || folder != train_folder)
            throw UsageError(file.string() + " was trained on another Train folder than the other folds");
        const auto images = j.at("images").get<std::vector<std::string>>();
        const auto labels = j.at("labels").get<std::vector<std::int32_t>>();
        const auto probs = j.at("probabilities").get<std::vector<std::vector<double>>>();
        if (labels.size() != images.size() || probs.size() != images.size())
            throw UsageError(file.string() + ": its images, labels and probabilities differ in count");
        for (std::size_t i = 0; i < images.size(); ++i) {
            if (labels[i] < 0 || labels[i] >= static_cast<std::int32_t>(names.size()) || probs[i].size() != names.size())
                throw UsageError(file.string() + ": image " + images[i] + " has a label or probabilities out of shape");
            p.images.push_back(images[i]);
            p.labels.push_back(labels[i]);
            p.probabilities.push_back(probs[i]);
            p.fold.push_back(fold);
        }
    } catch (const json::exception& e) {
        throw UsageError(file.string() + " is not an oof.json written by cv: " + e.what());
    }
}

/// Every image folds.json lists is pooled once, from the fold it lists: no image was left out or scored twice.
void check_coverage(const fs::path& dir, const Pooled& p) {
    json folds;
    try {
        std::ifstream in(dir / "folds.json");
        folds = json::parse(in).at("images");
    } catch (const json::exception& e) {
        throw UsageError((dir / "folds.json").string() + " is not the folds.json cv writes: " + e.what());
    }
    bool same = folds.size() == p.images.size();
    for (std::size_t i = 0; same && i < p.images.size(); ++i)
        same = folds.contains(p.images[i]) && folds.at(p.images[i]).get<int>() == p.fold[i] + 1;
    if (!same)
        throw UsageError("the folds' held-out images (" + std::to_string(p.images.size()) + ") are not the " +
                         std::to_string(folds.size()) + " images of " + (dir / "folds.json").string() +
                         ", each in its fold: the folds come from different cross-validations");
}

/// The pooled predictions as an Evaluation, for the reports and plots the other subcommands share.
Evaluation as_evaluation(const Pooled& p) {
    const auto classes = static_cast<index_t>(p.names.size());
    Evaluation ev;
    ev.confusion = train::ConfusionMatrix(static_cast<int>(classes));
    ev.probabilities = Tensor<float>::zeros(Shape{static_cast<index_t>(p.images.size()), classes});
    for (std::size_t i = 0; i < p.images.size(); ++i)
        for (index_t c = 0; c < classes; ++c)
            ev.probabilities.data()[static_cast<index_t>(i) * classes + c] = static_cast<float>(p.probabilities[i][static_cast<std::size_t>(c)]);
    ev.labels = p.labels;
    ev.confusion.add(ev.labels, train::argmax_rows(ev.probabilities));
    double loss = 0;
    for (std::size_t i = 0; i < p.labels.size(); ++i)
        loss -= std::log(std::max(p.probabilities[i][static_cast<std::size_t>(p.labels[i])], 1e-7));
    ev.loss = loss / static_cast<double>(std::max<std::size_t>(1, p.labels.size()));
    return ev;
}

/// The figures of the report as statistics of a resample (indices into the pooled images).
struct Figures {
    const Pooled& p;
    int mel;
    double alert_sensitivity;  // the target the alert threshold is chosen for

    [[nodiscard]] train::ConfusionMatrix confusion(std::span<const std::size_t> idx) const {
        train::ConfusionMatrix cm(static_cast<int>(p.names.size()));
        for (const auto i : idx) {
            const auto& row = p.probabilities[i];
            cm.add(p.labels[i], static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin()));
        }
        return cm;
    }
    /// p(melanoma) and "is a melanoma" of the images `idx` whose fold is (`in_fold`) or is not `fold` (-1: all).
    [[nodiscard]] std::pair<std::vector<double>, std::vector<bool>> scores(std::span<const std::size_t> idx, int fold = -1,
                                                                         bool in_fold = true) const {
        std::vector<double> s;
        std::vector<bool> pos;
        for (const auto i : idx)
            if (fold < 0 || (p.fold[i] == fold) == in_fold) {
                s.push_back(p.probabilities[i][static_cast<std::size_t>(mel)]);
                pos.push_back(p.labels[i] == mel);
            }
        return {s, pos};
    }
    /// The alert's rates with its threshold cross-fitted: each fold's images are alerted at the threshold chosen
    /// on the other folds' scores, so no image helped choose the threshold it is judged at (the threshold chosen on
    /// all pooled scores reaches its target sensitivity on them by construction; this says what it does on images
    /// it was not chosen on).
    [[nodiscard]] train::BinaryRates cross_fitted(std::span<const std::size_t> idx) const {
        train::BinaryRates total;
        const int folds = *std::max_element(p.fold.begin(), p.fold.end()) + 1;
        for (int k = 0; k < folds; ++k) {
            const auto [others, others_pos] = scores(idx, k, false);
            const auto [mine, mine_pos] = scores(idx, k, true);
            if (mine.empty()) continue;
            const auto r = train::binary_rates(mine, mine_pos, train::threshold_for_sensitivity(others, others_pos, alert_sensitivity));
            total.tp += r.tp, total.fn += r.fn, total.tn += r.tn, total.fp += r.fp;
        }
        return total;
    }
    using Statistic = std::function<double(std::span<const std::size_t>)>;
    /// name -> statistic: the recall of each class that has images; the melanoma figures where there are
    /// melanomas and other images.
    [[nodiscard]] std::vector<std::pair<std::string, Statistic>> all() const {
        std::vector<std::pair<std::string, Statistic>> f{
            {"accuracy", [this](auto idx) { return confusion(idx).accuracy(); }},
            {"balanced_accuracy", [this](auto idx) { return confusion(idx).balanced_accuracy(); }}};
        for (int c = 0; c < static_cast<int>(p.names.size()); ++c)
            if (std::count(p.labels.begin(), p.labels.end(), c) > 0)  // resampling keeps each class's count
                f.emplace_back("recall " + p.names[static_cast<std::size_t>(c)], [this, c](auto idx) {
                    const auto cm = confusion(idx);
                    return static_cast<double>(cm.count(c, c)) / static_cast<double>(cm.support(c));
                });
        const auto melanomas = std::count(p.labels.begin(), p.labels.end(), mel);
        if (mel < 0 || melanomas == 0 || melanomas == static_cast<long>(p.labels.size())) return f;
        f.emplace_back("melanoma_roc_auc", [this](auto idx) {
            const auto [s, pos] = scores(idx);
            return train::roc_auc(s, pos);
        });
        f.emplace_back("melanoma_sensitivity_at_specificity_0.80", [this](auto idx) {
            const auto [s, pos] = scores(idx);
            return train::sensitivity_at_specificity(s, pos, kReportSpecificity).sensitivity;
        });
        f.emplace_back("alert_threshold", [this](auto idx) {
            const auto [s, pos] = scores(idx);
            return train::threshold_for_sensitivity(s, pos, alert_sensitivity);
        });
        f.emplace_back("alert_sensitivity_cross_fitted", [this](auto idx) { return cross_fitted(idx).sensitivity(); });
        f.emplace_back("alert_specificity_cross_fitted", [this](auto idx) { return cross_fitted(idx).specificity(); });
        return f;
    }
};

/// A CSV field, quoted (a path may hold commas or quotes).
std::string quoted(const std::string& v) {
    std::string q = "\"";
    for (const char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
}

/// oof_predictions.csv, with each image's fold.
void write_predictions(const fs::path& dir, const Pooled& p) {
    std::ofstream csv(dir / "oof_predictions.csv");
    csv << "image,fold,true_class";
    for (const auto& n : p.names) csv << ",p_" << n;
    csv << "\n" << std::setprecision(9);
    for (std::size_t i = 0; i < p.images.size(); ++i) {
        csv << quoted(p.images[i]) << "," << p.fold[i] + 1 << "," << quoted(p.names[static_cast<std::size_t>(p.labels[i])]);
        for (const double q : p.probabilities[i]) csv << "," << q;
        csv << "\n";
    }
}

}  // namespace

int write_cv_report(const fs::path& dir, const std::vector<fs::path>& oof, const TrainArgs& base) {
    Pooled p;
    std::string train_folder;
    const json recipe = recipe_of(base);
    for (std::size_t k = 0; k < oof.size(); ++k) read_fold(oof[k], static_cast<int>(k), base, recipe, p, train_folder);
    check_coverage(dir, p);
    const int mel = find_class(p.names, kMelanoma);
    const Evaluation ev = as_evaluation(p);
    double threshold = 0.5;
    if (mel >= 0) {
        const auto [s, pos] = melanoma_scores(ev, mel);
        threshold = train::threshold_for_sensitivity(s, pos, base.alert_sensitivity);
    }
    const Figures figures{p, mel, base.alert_sensitivity};
    std::vector<std::size_t> all(p.images.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    json j{{"recipe", recipe}, {"folds", oof.size()}, {"limit", base.limit}, {"train_folder", train_folder},
           {"images", p.images.size()}, {"class_names", p.names},
           {"interval", "95% percentile bootstrap over images, resampled within each class (" +
                            std::to_string(kResamples) + " resamples, seed " + std::to_string(kBootstrapSeed) + ")"},
           {"alert", {{"target_sensitivity", base.alert_sensitivity}, {"threshold", threshold}}}};
    std::cout << "\nOut-of-fold report: " << p.images.size() << " images, " << oof.size() << " folds; 95% intervals: "
              << "bootstrap over images within each class\n" << std::fixed << std::setprecision(3);
    for (const auto& [name, statistic] : figures.all()) {
        const double value = statistic(all);
        const auto ci = train::bootstrap_interval_stratified(p.labels, statistic, kResamples, kBootstrapSeed);
        j["figures"][name] = {{"value", value}, {"low", ci.low}, {"high", ci.high}};
        std::cout << "  " << std::left << std::setw(44) << name << std::right << std::setw(7) << value << "  ["
                  << ci.low << ", " << ci.high << "]\n";
    }
    std::cout.unsetf(std::ios::floatfield);
    write_json(dir / "cv_report.json", j);
    write_predictions(dir, p);
    const bool cm_drawn = plots::confusion_matrix(dir, ev.confusion, p.names);
    const auto roc = write_details(dir, ev, p.names, threshold, {}, /*per_image=*/false);  // oof_predictions.csv has them
    std::cout << "Wrote in " << dir << ": cv_report.json, oof_predictions.csv" << (cm_drawn ? ", confusion_matrix.png" : "");
    for (const auto& f : roc) std::cout << ", " << f;
    std::cout << "\n";
    return 0;
}

}  // namespace melanoma
