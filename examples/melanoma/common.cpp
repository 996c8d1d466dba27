// examples/melanoma/common.cpp - the helpers the subcommands share: where the data is, loading it, writing
// JSON atomically, and the evaluation report.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include <ember/train/progress.hpp>
#include <ember/vision/dedup.hpp>
#include <ember/train/metrics.hpp>

#include "commands.hpp"
#include "model.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

// ---- data location --------------------------------------------------------------------------------------------

std::optional<fs::path> find_split_dir(const fs::path& dir, const std::string& split) {
    for (const fs::path& candidate : {dir / split, dir / kDatasetFolder / split})
        if (fs::is_directory(candidate)) return candidate;
    return std::nullopt;
}

fs::path split_dir(const fs::path& dir, const std::string& split) {
    if (auto found = find_split_dir(dir, split)) return *found;
    const std::string other = split == "Train" ? "Test" : "Train";
    if (find_split_dir(dir, other))  // a dataset folder without this split: its root is not a folder of classes
        throw UsageError("data folder '" + dir.string() + "' holds a " + other + " folder but no " + split +
                         " folder; give the folder of class folders to use as --data");
    return dir;
}

/// Without --data: the default download folder, fetched with git when the network allows.
fs::path default_data_dir() {
    const fs::path dir = "data/isic";
    if (fs::is_directory(dir / kDatasetFolder)) return dir;
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))  // git would refuse to clone into it
        throw UsageError("no --data folder given, and " + dir.string() + " exists but does not hold '" +
                         std::string(kDatasetFolder) + "' (an interrupted download?): remove " + dir.string() +
                         " to fetch the dataset again, or pass the folder of class folders with --data");
    std::cerr << "No --data given; fetching the public 180x180 ISIC copy into " << dir << " ...\n";
    fs::create_directories(dir.parent_path());
    const std::string cmd = std::string("git clone --depth 1 --quiet ") + kDatasetRepo + " '" + dir.string() + "' 2>&1";
    if (std::system(cmd.c_str()) == 0 && fs::is_directory(dir / kDatasetFolder)) return dir;
    throw UsageError(std::string("no --data folder given and the dataset could not be downloaded.\n") +
                     "Get it on a machine with network access and pass its folder with --data:\n"
                     "  git clone --depth 1 " + kDatasetRepo + " data/isic\n"
                     "  melanoma train --data 'data/isic/" + kDatasetFolder + "'\n"
                     "(any folder of <class>/<image> sub-folders works, e.g. ../shared/data/isic-mini)");
}

int find_class(const std::vector<std::string>& names, const std::string& name) {
    auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

void ensure_writable_dir(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    const fs::path probe = dir / ".write-test";
    std::ofstream out(probe);
    if (ec || !out.good())
        throw UsageError("cannot write to output folder '" + dir.string() + "'" + (ec ? ": " + ec.message() : ""));
    out.close();
    fs::remove(probe);
}

void write_json(const fs::path& path, const json& j) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp);
        out << std::setw(2) << j << '\n';
        if (!out.good()) throw IoError("cannot write '" + tmp.string() + "'");
    }
    fs::rename(tmp, path);
}

/// The Minkowski norm of a --color-constancy name (0: none), as vision::LoadOptions::shades_of_gray takes it.
double shades_of_gray_norm(const std::string& color_constancy) {
    if (color_constancy == "none") return 0;
    if (color_constancy == "shades-of-gray") return 6;  // the norm the ISIC literature uses
    throw ValueError("unknown colour constancy '" + color_constancy + "' (none | shades-of-gray)");
}

/// How images are loaded for a model: at its input size, colours corrected as it was trained.
vision::LoadOptions image_options(bool strict, const std::string& color_constancy) {
    vision::LoadOptions o;
    o.height = o.width = kImageSize;
    o.strict = strict;
    o.shades_of_gray = shades_of_gray_norm(color_constancy);
    return o;
}

void warn_not_indexed(const vision::FolderIndex& index, const char* whose) {
    constexpr std::size_t shown = 5;  // a folder of thousands of notes should not bury the run's output
    for (std::size_t i = 0; i < index.ignored.size() && i < shown; ++i)
        std::cerr << "warning: skipped '" << index.ignored[i].string() << "': not an image (.bmp .gif .jpeg .jpg .png)\n";
    if (index.ignored.size() > shown)
        std::cerr << "warning: skipped " << index.ignored.size() - shown << " more files that are not images\n";
    for (const auto& name : index.extra_classes)
        std::cerr << "warning: skipped class folder '" << (index.root / name).string() << "': not one of " << whose << " "
                  << index.class_names.size() << " classes\n";
}

vision::ImageSet load_folder(const fs::path& dir, bool strict, const std::string& color_constancy,
                           std::vector<std::string> class_names) {
    const auto index = vision::index_image_folder(dir, class_names, !class_names.empty());
    warn_not_indexed(index, "the model's");
    return load_indexed(index, strict, color_constancy);
}

vision::ImageSet load_indexed(const vision::FolderIndex& index, bool strict, const std::string& color_constancy) {
    std::cout << "Found " << index.files.size() << " images in " << index.class_names.size() << " classes in "
              << index.root << "\n";
    vision::LoadOptions o = image_options(strict, color_constancy);
    if (o.shades_of_gray > 0) std::cout << "Colour constancy: Shades of Gray, p = " << o.shades_of_gray << "\n";
    train::ProgressBar bar(static_cast<long>(index.files.size()), std::cout);
    o.on_progress = [&](std::size_t done, std::size_t) { bar.update(static_cast<long>(done), static_cast<long>(done)); };
    o.on_warning = [](const std::string& w) { std::cerr << w << "\n"; };
    return vision::load_images(index, o);
}

/// A fingerprint of what a folder of class folders held: the labels and file names of its images, in order.
/// The checkpoint records the Train folder's, so `evaluate --on validation` can refuse to remake a split from a
/// folder that has changed since.
std::string folder_fingerprint(const vision::ImageSet& set) {
    std::uint64_t h = vision::fnv1a(nullptr, 0);
    for (std::size_t i = 0; i < set.size(); ++i) {
        const std::string line = std::to_string(set.labels[i]) + "/" + set.paths[i].filename().string() + "\n";
        h = vision::fnv1a(reinterpret_cast<const std::uint8_t*>(line.data()), line.size(), h);
    }
    std::ostringstream os;
    os << set.size() << ":" << std::hex << h;
    return os.str();
}

// ---- metrics --------------------------------------------------------------------------------------------------

/// The melanoma column of the probabilities and who is truly melanoma.
std::pair<std::vector<double>, std::vector<bool>> melanoma_scores(const Evaluation& ev, int mel) {
    std::vector<double> p;
    std::vector<bool> pos;
    const index_t c = ev.probabilities.size(1);
    for (std::size_t i = 0; i < ev.labels.size(); ++i) {
        p.push_back(ev.probabilities.data()[static_cast<index_t>(i) * c + mel]);
        pos.push_back(ev.labels[i] == mel);
    }
    return {p, pos};
}

/// "sensitivity 0.909 (80/88), specificity 0.742 (267/360)"; n/a where a source has no such images.
std::string rates_text(const train::BinaryRates& r) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(3);
    const auto rate = [&](const char* what, double v, std::int64_t hit, std::int64_t all) {
        os << what;
        if (all > 0) os << v << " (" << hit << "/" << all << ")";
        else os << "n/a (no such images)";
    };
    rate("sensitivity ", r.sensitivity(), r.tp, r.tp + r.fn);
    rate(", specificity ", r.specificity(), r.tn, r.tn + r.fp);
    return os.str();
}

json report(const Evaluation& ev, const std::vector<std::string>& names, double threshold, std::ostream& os) {
    const auto& cm = ev.confusion;
    json j;
    j["images"] = cm.total();
    j["loss"] = ev.loss;
    j["accuracy"] = cm.accuracy();
    j["balanced_accuracy"] = cm.balanced_accuracy();
    const auto acc_ci = train::wilson_interval(cm.correct(), cm.total());
    j["accuracy_ci95"] = {acc_ci.low, acc_ci.high};
    os << std::fixed << std::setprecision(3);
    os << "Images " << cm.total() << "  loss " << ev.loss << "  accuracy " << cm.accuracy() << "  balanced accuracy "
       << cm.balanced_accuracy() << "\n";
    os << "  95% confidence interval (Wilson): accuracy " << acc_ci.low << "-" << acc_ci.high << "\n\n";
    os << std::left << std::setw(28) << "class" << std::right << std::setw(10) << "precision" << std::setw(9)
       << "recall" << std::setw(9) << "f1" << std::setw(9) << "support" << "\n";
    for (int c = 0; c < cm.classes(); ++c) {
        const auto& n = names[static_cast<std::size_t>(c)];
        os << std::left << std::setw(28) << n << std::right << std::setw(10) << cm.precision(c) << std::setw(9)
           << cm.recall(c) << std::setw(9) << cm.f1(c) << std::setw(9) << cm.support(c) << "\n";
        j["per_class"][n] = {{"precision", cm.precision(c)}, {"recall", cm.recall(c)}, {"f1", cm.f1(c)},
                             {"support", cm.support(c)}};
    }
    os << "\nConfusion matrix (rows: true class, columns: predicted class index)\n" << cm.to_string(names) << "\n";
    json matrix = json::array();
    for (int t = 0; t < cm.classes(); ++t) {
        json row = json::array();
        for (int p = 0; p < cm.classes(); ++p) row.push_back(cm.count(t, p));
        matrix.push_back(row);
    }
    j["confusion_matrix"] = matrix;
    j["class_names"] = names;
    const int mel = find_class(names, kMelanoma);
    if (mel >= 0) {
        const auto [p, pos] = melanoma_scores(ev, mel);
        const auto r = train::binary_rates(p, pos, threshold);
        const auto sens_ci = train::wilson_interval(r.tp, r.tp + r.fn), spec_ci = train::wilson_interval(r.tn, r.tn + r.fp);
        const bool melanomas = r.tp + r.fn > 0, others = r.tn + r.fp > 0;  // else that rate is undefined: n/a, null
        const auto text = [&](bool defined, auto&&... parts) {
            std::ostringstream t;
            t.flags(os.flags());
            t.precision(os.precision());
            if (defined) (t << ... << parts);
            else t << "n/a";
            return t.str();
        };
        const auto value = [](bool defined, const json& v) { return defined ? v : json(nullptr); };
        os << "Melanoma alert (p(melanoma) >= " << threshold << "): " << rates_text(r) << "\n";
        os << "  95% confidence intervals: sensitivity " << text(melanomas, sens_ci.low, "-", sens_ci.high)
           << ", specificity " << text(others, spec_ci.low, "-", spec_ci.high) << "\n";
        os << "Melanoma by arg-max: recall " << text(melanomas, cm.recall(mel)) << ", specificity "
           << text(others, cm.specificity(mel)) << "\n";
        j["melanoma_alert"] = {{"threshold", threshold},
                               {"sensitivity", value(melanomas, r.sensitivity())},
                               {"specificity", value(others, r.specificity())},
                               {"tp", r.tp}, {"fn", r.fn}, {"tn", r.tn}, {"fp", r.fp},
                               {"sensitivity_ci95", value(melanomas, {sens_ci.low, sens_ci.high})},
                               {"specificity_ci95", value(others, {spec_ci.low, spec_ci.high})}};
        if (melanomas && others) {  // the ranking, whatever the threshold
            const double auc = train::roc_auc(p, pos);
            os << "Melanoma ROC AUC (p(melanoma), melanoma against the rest): " << auc << "\n";
            j["melanoma_roc_auc"] = auc;
        }
    }
    os.unsetf(std::ios::floatfield);
    return j;
}

namespace {

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& v) {
    if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
    std::string q = "\"";
    for (const char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
}

}  // namespace

/// Per image: predictions.csv (file, true and predicted class, whether the melanoma alert fires, every class
/// probability), for a dermatologist to review the misses; and the melanoma ROC curve (melanoma_roc.csv,
/// melanoma_roc.png with the alert's operating point) when melanoma and other images are both present - else
/// an older curve in `dir` is removed. Returns the curve's files written (none without a curve; the PNG only
/// where gnuplot drew it). `paths[i]` is the file of row i.
std::vector<std::string> write_details(const fs::path& dir, const Evaluation& ev, const std::vector<std::string>& names,
                   double threshold, const std::vector<fs::path>& paths, bool per_image) {
    const int mel = find_class(names, kMelanoma);
    const index_t classes = ev.probabilities.size(1);
    const auto predicted = train::argmax_rows(ev.probabilities);
    if (per_image) {
        std::ofstream csv(dir / "predictions.csv");
        csv << "image,true_class,predicted_class" << (mel >= 0 ? ",melanoma_alert" : "");
        for (const auto& n : names) csv << "," << csv_field("p_" + n);
        csv << "\n" << std::setprecision(9);
        for (std::size_t i = 0; i < ev.labels.size(); ++i) {
            const float* row = ev.probabilities.data() + static_cast<index_t>(i) * classes;
            csv << csv_field(i < paths.size() ? paths[i].string() : std::string()) << ","
                << csv_field(names[static_cast<std::size_t>(ev.labels[i])]) << ","
                << csv_field(names[static_cast<std::size_t>(predicted[i])]);
            if (mel >= 0) csv << "," << (row[mel] >= threshold ? 1 : 0);
            for (index_t c = 0; c < classes; ++c) csv << "," << row[c];
            csv << "\n";
        }
    }
    const auto [p, pos] = mel >= 0 ? melanoma_scores(ev, mel) : std::pair<std::vector<double>, std::vector<bool>>{};
    const auto melanomas = std::count(pos.begin(), pos.end(), true);
    if (mel < 0 || melanomas == 0 || melanomas == static_cast<std::ptrdiff_t>(pos.size())) {  // no curve to draw
        std::error_code ignored;
        fs::remove(dir / "melanoma_roc.csv", ignored);
        fs::remove(dir / "melanoma_roc.png", ignored);
        return {};
    }
    {
        std::ofstream csv(dir / "melanoma_roc.csv");
        csv << "threshold,false_positive_rate,true_positive_rate\n" << std::setprecision(9);
        for (const auto& pt : train::roc_curve(p, pos))
            csv << pt.threshold << "," << pt.false_positive_rate << "," << pt.true_positive_rate << "\n";
    }
    const auto r = train::binary_rates(p, pos, threshold);
    const bool drawn = plots::roc_curve(dir, train::roc_auc(p, pos), 1 - r.specificity(), r.sensitivity(), threshold);
    if (!drawn) return {"melanoma_roc.csv"};
    return {"melanoma_roc.csv", "melanoma_roc.png"};
}

}  // namespace melanoma
