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

/// Reads one fold's oof.json, checking that it belongs to this cross-validation (recipe, classes, Train folder).
void read_fold(const fs::path& file, const json& recipe, Pooled& p, std::string& train_folder) {
    json j;
    try {
        std::ifstream in(file);
        j = json::parse(in);
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
            p.fold.push_back(j.at("fold").get<int>());
        }
    } catch (const json::exception& e) {
        throw UsageError(file.string() + " is not an oof.json written by cv: " + e.what());
    }
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
    double threshold;  // the alert threshold chosen on all pooled images
    double alert_sensitivity;

    [[nodiscard]] train::ConfusionMatrix confusion(std::span<const std::size_t> idx) const {
        train::ConfusionMatrix cm(static_cast<int>(p.names.size()));
        for (const auto i : idx) {
            const auto& row = p.probabilities[i];
            cm.add(p.labels[i], static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin()));
        }
        return cm;
    }
    [[nodiscard]] std::pair<std::vector<double>, std::vector<bool>> scores(std::span<const std::size_t> idx) const {
        std::vector<double> s;
        std::vector<bool> pos;
        for (const auto i : idx) {
            s.push_back(p.probabilities[i][static_cast<std::size_t>(mel)]);
            pos.push_back(p.labels[i] == mel);
        }
        return {s, pos};
    }
    /// name -> statistic; the melanoma figures only where there is a melanoma class.
    [[nodiscard]] std::vector<std::pair<std::string, std::function<double(std::span<const std::size_t>)>>> all() const {
        std::vector<std::pair<std::string, std::function<double(std::span<const std::size_t>)>>> f{
            {"accuracy", [this](auto idx) { return confusion(idx).accuracy(); }},
            {"balanced_accuracy", [this](auto idx) { return confusion(idx).balanced_accuracy(); }}};
        for (int c = 0; c < static_cast<int>(p.names.size()); ++c)
            f.emplace_back("recall " + p.names[static_cast<std::size_t>(c)], [this, c](auto idx) {
                const auto cm = confusion(idx);
                return cm.support(c) ? static_cast<double>(cm.count(c, c)) / static_cast<double>(cm.support(c)) : NAN;
            });
        if (mel < 0) return f;
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
        f.emplace_back("alert_sensitivity", [this](auto idx) {
            const auto [s, pos] = scores(idx);
            return train::binary_rates(s, pos, threshold).sensitivity();
        });
        f.emplace_back("alert_specificity", [this](auto idx) {
            const auto [s, pos] = scores(idx);
            return train::binary_rates(s, pos, threshold).specificity();
        });
        return f;
    }
};

/// oof_predictions.csv, with each image's fold.
void write_predictions(const fs::path& dir, const Pooled& p) {
    std::ofstream csv(dir / "oof_predictions.csv");
    csv << "image,fold,true_class";
    for (const auto& n : p.names) csv << ",p_" << n;
    csv << "\n" << std::setprecision(9);
    for (std::size_t i = 0; i < p.images.size(); ++i) {
        csv << '"' << p.images[i] << "\"," << p.fold[i] + 1 << ",\"" << p.names[static_cast<std::size_t>(p.labels[i])] << '"';
        for (const double q : p.probabilities[i]) csv << "," << q;
        csv << "\n";
    }
}

}  // namespace

int write_cv_report(const fs::path& dir, const std::vector<fs::path>& oof, const TrainArgs& base) {
    Pooled p;
    std::string train_folder;
    const json recipe = recipe_of(base);
    for (const auto& file : oof) read_fold(file, recipe, p, train_folder);
    const int mel = find_class(p.names, kMelanoma);
    const Evaluation ev = as_evaluation(p);
    double threshold = 0.5;
    if (mel >= 0) {
        const auto [s, pos] = melanoma_scores(ev, mel);
        threshold = train::threshold_for_sensitivity(s, pos, base.alert_sensitivity);
    }
    const Figures figures{p, mel, threshold, base.alert_sensitivity};
    std::vector<std::size_t> all(p.images.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    json j{{"recipe", recipe}, {"folds", oof.size()}, {"images", p.images.size()}, {"class_names", p.names},
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
    const auto roc = write_details(dir, ev, p.names, threshold, {});
    std::cout << "Wrote in " << dir << ": cv_report.json, oof_predictions.csv" << (cm_drawn ? ", confusion_matrix.png" : "");
    for (const auto& f : roc) std::cout << ", " << f;
    std::cout << "\n";
    std::error_code ignored;
    fs::remove(dir / "predictions.csv", ignored);  // write_details' per-image file: oof_predictions.csv has the folds
    return 0;
}

}  // namespace melanoma
