// examples/melanoma/main.cpp - the `melanoma` program: audit an ISIC class-folder dataset, train the reference CNN
// under an honest protocol (split first, augment only the training side), evaluate it with what a dermatologist
// needs (per-class recall, melanoma sensitivity/specificity, confusion matrix), and predict with a melanoma alert.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <ember/data/augment.hpp>
#include <ember/data/image_folder.hpp>
#include <ember/data/loader.hpp>
#include <ember/data/split.hpp>
#include <ember/ember.hpp>
#include <ember/train/checkpoint.hpp>
#include <ember/train/fit.hpp>

#include "model.hpp"
#include "plots.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace ember;

namespace {

constexpr const char* kDatasetRepo = "https://github.com/AmitBytesSage/Melanoma-Skin-Cancer-Detection-Model.git";
constexpr const char* kDatasetFolder = "Skin cancer ISIC The International Skin Imaging Collaboration";
constexpr const char* kMelanoma = "melanoma";

/// A CLI11 check that a number satisfies `ok` (NaN fails any comparison), else "must be <rule>, got <value>".
template <class Ok>
std::function<std::string(const std::string&)> number_check(Ok ok, std::string rule) {
    return [ok, rule = std::move(rule)](const std::string& v) {
        const double x = std::strtod(v.c_str(), nullptr);
        return ok(x) ? std::string() : "must be " + rule + ", got " + v;
    };
}

/// A usage problem: reported as "error: ..." with exit code 2 (bad input) rather than a crash.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// ---- data location --------------------------------------------------------------------------------------------

/// `dir` itself when it holds class folders, else `dir`/<split> (Train or Test), also looking inside the ISIC
/// folder name of the public copy.
fs::path split_dir(const fs::path& dir, const std::string& split) {
    for (const fs::path& candidate : {dir / split, dir / kDatasetFolder / split})
        if (fs::is_directory(candidate)) return candidate;
    return dir;
}

/// Without --data: the default download folder, fetched with git when the network allows.
fs::path default_data_dir() {
    const fs::path dir = "data/isic";
    if (fs::is_directory(dir / kDatasetFolder)) return dir;
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

/// The Minkowski norm of a --color-constancy name (0: none), as data::LoadOptions::shades_of_gray takes it.
double shades_of_gray_norm(const std::string& color_constancy) {
    if (color_constancy == "none") return 0;
    if (color_constancy == "shades-of-gray") return 6;  // the norm the ISIC literature uses
    throw ValueError("unknown colour constancy '" + color_constancy + "' (none | shades-of-gray)");
}

/// How images are loaded for a model: at its input size, colours corrected as it was trained.
data::LoadOptions image_options(bool strict, const std::string& color_constancy) {
    data::LoadOptions o;
    o.height = o.width = melanoma::kImageSize;
    o.strict = strict;
    o.shades_of_gray = shades_of_gray_norm(color_constancy);
    return o;
}

data::ImageSet load_folder(const fs::path& dir, bool strict, const std::string& color_constancy,
                           std::vector<std::string> class_names = {}) {
    const auto index = data::index_image_folder(dir, class_names, !class_names.empty());
    std::cout << "Found " << index.files.size() << " images in " << index.class_names.size() << " classes in "
              << dir << "\n";
    data::LoadOptions o = image_options(strict, color_constancy);
    if (o.shades_of_gray > 0) std::cout << "Colour constancy: Shades of Gray, p = " << o.shades_of_gray << "\n";
    train::ProgressBar bar(static_cast<long>(index.files.size()), std::cout);
    o.on_progress = [&](std::size_t done, std::size_t) { bar.update(static_cast<long>(done), static_cast<long>(done), 0, 0); };
    o.on_warning = [](const std::string& w) { std::cerr << w << "\n"; };
    return data::load_images(index, o);
}

json class_names_json(const std::vector<std::string>& names) { return json(names); }

/// A fingerprint of what a folder of class folders held: the labels and file names of its images, in order.
/// The checkpoint records the Train folder's, so `evaluate --on validation` can refuse to remake a split from a
/// folder that has changed since.
std::string folder_fingerprint(const data::ImageSet& set) {
    std::uint64_t h = data::fnv1a(nullptr, 0);
    for (std::size_t i = 0; i < set.size(); ++i) {
        const std::string line = std::to_string(set.labels[i]) + "/" + set.paths[i].filename().string() + "\n";
        h = data::fnv1a(reinterpret_cast<const std::uint8_t*>(line.data()), line.size(), h);
    }
    std::ostringstream os;
    os << set.size() << ":" << std::hex << h;
    return os.str();
}

/// A double as the shortest text that reads back to the same value.
std::string exact(double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

// ---- metrics --------------------------------------------------------------------------------------------------

/// The melanoma column of the probabilities and who is truly melanoma.
std::pair<std::vector<double>, std::vector<bool>> melanoma_scores(const train::Evaluation& ev, int mel) {
    std::vector<double> p;
    std::vector<bool> pos;
    const index_t c = ev.probabilities.size(1);
    for (std::size_t i = 0; i < ev.labels.size(); ++i) {
        p.push_back(ev.probabilities.data()[static_cast<index_t>(i) * c + mel]);
        pos.push_back(ev.labels[i] == mel);
    }
    return {p, pos};
}

json report(const train::Evaluation& ev, const std::vector<std::string>& names, double threshold, std::ostream& os) {
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
        os << "Melanoma alert (p(melanoma) >= " << threshold << "): sensitivity " << r.sensitivity() << " ("
           << r.tp << "/" << r.tp + r.fn << "), specificity " << r.specificity() << " (" << r.tn << "/" << r.tn + r.fp
           << ")\n";
        os << "  95% confidence intervals: sensitivity " << sens_ci.low << "-" << sens_ci.high << ", specificity "
           << spec_ci.low << "-" << spec_ci.high << "\n";
        os << "Melanoma by arg-max: recall " << cm.recall(mel) << ", specificity " << cm.specificity(mel) << "\n";
        j["melanoma_alert"] = {{"threshold", threshold}, {"sensitivity", r.sensitivity()}, {"specificity", r.specificity()},
                               {"tp", r.tp}, {"fn", r.fn}, {"tn", r.tn}, {"fp", r.fp},
                               {"sensitivity_ci95", {sens_ci.low, sens_ci.high}},
                               {"specificity_ci95", {spec_ci.low, spec_ci.high}}};
        if (r.tp + r.fn > 0 && r.tn + r.fp > 0) {  // the ranking, whatever the threshold
            const double auc = train::roc_auc(p, pos);
            os << "Melanoma ROC AUC (p(melanoma), melanoma against the rest): " << auc << "\n";
            j["melanoma_roc_auc"] = auc;
        }
    }
    os.unsetf(std::ios::floatfield);
    return j;
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& v) {
    if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
    std::string q = "\"";
    for (const char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
}

/// Per image: predictions.csv (file, true and predicted class, whether the melanoma alert fires, every class
/// probability), for a dermatologist to review the misses; and the melanoma ROC curve (melanoma_roc.csv,
/// melanoma_roc.png with the alert's operating point) when melanoma and other images are both present - else
/// an older curve in `dir` is removed. Returns whether the curve was written. `paths[i]` is the file of row i.
bool write_details(const fs::path& dir, const train::Evaluation& ev, const std::vector<std::string>& names,
                   double threshold, const std::vector<fs::path>& paths) {
    const int mel = find_class(names, kMelanoma);
    const index_t classes = ev.probabilities.size(1);
    const auto predicted = train::argmax_rows(ev.probabilities);
    {
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
        return false;
    }
    {
        std::ofstream csv(dir / "melanoma_roc.csv");
        csv << "threshold,false_positive_rate,true_positive_rate\n" << std::setprecision(9);
        for (const auto& pt : train::roc_curve(p, pos))
            csv << pt.threshold << "," << pt.false_positive_rate << "," << pt.true_positive_rate << "\n";
    }
    const auto r = train::binary_rates(p, pos, threshold);
    melanoma::plots::roc_curve(dir, train::roc_auc(p, pos), 1 - r.specificity(), r.sensitivity(), threshold);
    return true;
}

// ---- audit ----------------------------------------------------------------------------------------------------

std::uint64_t fnv1a_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::uint64_t h = data::fnv1a(nullptr, 0);
    char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0)
        h = data::fnv1a(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(in.gcount()), h);
    return h;
}

int run_audit(const fs::path& data_dir, const fs::path& out_dir) {
    ensure_writable_dir(out_dir);
    const fs::path train_dir = split_dir(data_dir, "Train"), test_dir = split_dir(data_dir, "Test");
    const bool has_test = test_dir != train_dir && fs::is_directory(test_dir);
    const auto train_index = data::index_image_folder(train_dir, {}, true);
    const auto& names = train_index.class_names;
    std::vector<data::FolderIndex> splits{train_index};
    std::vector<std::string> split_names{"Train"};
    if (has_test) {
        splits.push_back(data::index_image_folder(test_dir, names, true));
        split_names.push_back("Test");
    }
    json j;
    std::vector<std::vector<long>> counts;
    std::cout << "Images per class\n" << std::left << std::setw(28) << "class";
    for (const auto& s : split_names) std::cout << std::right << std::setw(8) << s;
    std::cout << "\n";
    for (const auto& s : splits) counts.push_back(s.counts());
    for (std::size_t c = 0; c < names.size(); ++c) {
        std::cout << std::left << std::setw(28) << names[c];
        for (std::size_t s = 0; s < splits.size(); ++s) {
            std::cout << std::right << std::setw(8) << counts[s][c];
            j["counts"][split_names[s]][names[c]] = counts[s][c];
        }
        std::cout << "\n";
    }
    // sizes, formats and content hashes
    std::map<std::string, long> sizes, formats;
    std::vector<std::vector<std::uint64_t>> hashes(splits.size());
    long unreadable = 0;
    for (std::size_t s = 0; s < splits.size(); ++s)
        for (const auto& f : splits[s].files) {
            hashes[s].push_back(fnv1a_file(f.path));
            std::string ext = f.path.extension().string();
            std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            ++formats[ext];
            try {
                const auto info = data::probe_image(f.path);
                ++sizes[std::to_string(info.width) + "x" + std::to_string(info.height) + "x" + std::to_string(info.channels)];
            } catch (const IoError& e) {
                ++unreadable;
                std::cerr << "warning: " << e.what() << "\n";
            }
        }
    std::cout << "\nImage sizes (WxHxC):";
    for (const auto& [k, v] : sizes) std::cout << " " << k << " (" << v << ")";
    std::cout << "\nFormats:";
    for (const auto& [k, v] : formats) std::cout << " " << k << " (" << v << ")";
    std::cout << "\nUnreadable files: " << unreadable << "\n";
    j["sizes"] = sizes;
    j["formats"] = formats;
    j["unreadable"] = unreadable;

    // duplicates by content within each split: same class (redundant) or different classes (contradictory)
    for (std::size_t s = 0; s < splits.size(); ++s) {
        std::map<std::uint64_t, std::vector<std::size_t>> by_hash;
        for (std::size_t i = 0; i < hashes[s].size(); ++i) by_hash[hashes[s][i]].push_back(i);
        std::map<std::pair<int, int>, long> cross;
        std::map<int, long> within;
        for (const auto& [h, members] : by_hash) {
            if (members.size() < 2) continue;
            std::set<int> classes;
            for (auto i : members) classes.insert(splits[s].files[i].label);
            for (int c : classes) {
                const long in_class = std::count_if(members.begin(), members.end(), [&](std::size_t i) { return splits[s].files[i].label == c; });
                if (in_class > 1) within[c] += in_class - 1;
            }
            for (auto a = classes.begin(); a != classes.end(); ++a)
                for (auto b = std::next(a); b != classes.end(); ++b) ++cross[{*a, *b}];
        }
        std::cout << "\n" << split_names[s] << ": identical images within a class:";
        if (within.empty()) std::cout << " none";
        for (const auto& [c, n] : within) {
            std::cout << "\n  " << names[static_cast<std::size_t>(c)] << ": " << n << " extra copies";
            j["duplicates"][split_names[s]]["within_class"][names[static_cast<std::size_t>(c)]] = n;
        }
        std::cout << "\n" << split_names[s] << ": identical images under two classes (contradictory labels):";
        if (cross.empty()) std::cout << " none";
        for (const auto& [pair, n] : cross) {
            const std::string key = names[static_cast<std::size_t>(pair.first)] + " / " + names[static_cast<std::size_t>(pair.second)];
            std::cout << "\n  " << key << ": " << n;
            j["duplicates"][split_names[s]]["across_classes"][key] = n;
        }
        std::cout << "\n";
    }
    if (has_test) {
        const std::set<std::uint64_t> train_hashes(hashes[0].begin(), hashes[0].end());
        long leaked = 0;
        for (std::size_t i = 0; i < hashes[1].size(); ++i)
            if (train_hashes.count(hashes[1][i])) {
                ++leaked;
                j["leakage"]["files"].push_back(splits[1].files[i].path.filename().string());
            }
        j["leakage"]["test_images_in_train"] = leaked;
        std::cout << "\nTest images identical to a Train image (leakage): " << leaked << " of " << hashes[1].size() << "\n";
    }
    write_json(out_dir / "audit.json", j);
    melanoma::plots::class_distribution(out_dir, names, counts, split_names);
    std::cout << "\nWrote " << (out_dir / "audit.json") << (melanoma::plots::gnuplot_available() ? " and class_distribution.png" : "") << "\n";
    return 0;
}

// ---- train ----------------------------------------------------------------------------------------------------

struct TrainArgs {
    fs::path data, out = "runs/melanoma";
    int epochs = 50;
    long batch = 32;
    std::uint64_t seed = 123;
    std::int64_t split_seed = -1;  // < 0: the seed
    double val_split = 0.2;
    std::string split = "stratified";
    std::string augment = "none";
    std::string color_constancy = "none";
    std::vector<double> color_jitter;  // empty: off; else brightness, contrast, saturation, hue
    int rebalance = 0;
    bool class_weights = false;
    bool dedup = false;
    int threads = 0;
    double lr = 1e-3;
    double weight_decay = 0;  // decoupled (Keras' Adam/AdamW weight_decay); 0: off
    double ema = 0;           // momentum of the weights' moving average (Keras' use_ema); 0: off
    std::string lr_schedule = "constant";
    int patience = 0;
    std::string monitor = "val_accuracy";
    std::set<std::string> given;  // options given on the command line (not defaulted)
    double alert_sensitivity = 0.9;
    double alert_threshold = -1;  // < 0: chosen on validation; required with --val-split 0
    bool strict = false;
    long limit = 0;  // use at most this many training images (smoke tests)
};

int run_train(TrainArgs a) {
    if (a.epochs <= 0) throw UsageError("--epochs must be > 0, got " + std::to_string(a.epochs));
    if (a.batch <= 0) throw UsageError("--batch must be > 0, got " + std::to_string(a.batch));
    if (!(a.val_split >= 0 && a.val_split < 1))
        throw UsageError("--val-split must be in [0, 1) (0: train on all of Train, without validation)");
    const bool validate = a.val_split > 0;
    if (validate && a.alert_threshold >= 0)
        throw UsageError("--alert-threshold is for --val-split 0: with a validation split the threshold is chosen on it "
                         "(--alert-sensitivity)");
    if (!validate) {  // nothing to choose on: refuse what needs validation rather than ignore it
        if (a.alert_threshold < 0 || a.alert_threshold > 1)
            throw UsageError("--val-split 0 leaves no validation split to choose the melanoma alert threshold on: pass "
                             "--alert-threshold P in [0, 1] (e.g. the one a run of the same recipe chose on its validation split)");
        if (a.patience > 0) throw UsageError("--patience needs a validation split to monitor (--val-split 0 has none)");
        if (a.lr_schedule == "plateau")
            throw UsageError("--lr-schedule plateau needs a validation split to monitor (--val-split 0 has none)");
        const std::pair<const char*, const char*> needs_validation[] = {
            {"--monitor", "--monitor needs a validation split (--val-split 0 has none)"},
            {"--alert-sensitivity", "--alert-sensitivity needs a validation split to choose the threshold on "
                                    "(--val-split 0 has none; give the threshold with --alert-threshold)"},
            {"--split", "--split has nothing to split with --val-split 0"},
            {"--split-seed", "--split-seed has nothing to split with --val-split 0"}};
        for (const auto& [option, why] : needs_validation)
            if (a.given.count(option)) throw UsageError(why);
    }
    if (a.rebalance < 0) throw UsageError("--rebalance must be >= 0");
    data::ColorJitter jitter;
    if (!a.color_jitter.empty()) {
        if (a.color_jitter.size() != 4) throw UsageError("--color-jitter takes 4 numbers: brightness contrast saturation hue");
        try {
            jitter = data::ColorJitter(a.color_jitter[0], a.color_jitter[1], a.color_jitter[2], a.color_jitter[3]);
        } catch (const ValueError& e) {
            throw UsageError(std::string("--color-jitter: ") + e.what());
        }
    }
    ensure_writable_dir(a.out);  // refuse before hours of training, not after
    // A run folder reused across modes would hold the other mode's model beside this run's files.
    const std::vector<std::string> other_mode =
        validate ? std::vector<std::string>{"last.safetensors"} : std::vector<std::string>{"best.safetensors", "val_metrics.json"};
    for (const auto& stale : other_mode)
        if (fs::exists(a.out / stale))
            std::cerr << "warning: " << (a.out / stale) << " is from an earlier run "
                      << (validate ? "without" : "with") << " validation, not from this one\n";
    if (a.threads > 0) kernels::set_num_threads(a.threads);
    if (a.data.empty()) a.data = default_data_dir();

    const fs::path train_dir = split_dir(a.data, "Train");
    data::ImageSet set = load_folder(train_dir, a.strict, a.color_constancy);
    const std::string fingerprint = folder_fingerprint(set);
    if (a.dedup) {  // before the split, so no image has a copy on the other side
        const auto d = data::deduplicate(set);
        std::cout << "Deduplicated: dropped " << d.same_class_copies << " same-class copies and " << d.contradictory
                  << " images filed under two or more classes (" << d.contradictory_groups << " distinct); "
                  << d.keep.size() << " of " << set.size() << " images remain\n";
        set = data::subset(set, d.keep);
    }
    const auto& names = set.class_names;
    const int classes = static_cast<int>(names.size());

    // Split first: augmentation and rebalancing touch only the training side.
    const auto split_seed = a.split_seed >= 0 ? static_cast<std::uint64_t>(a.split_seed) : a.seed;
    data::Split split;
    if (!validate) {
        split.train.resize(set.size());
        std::iota(split.train.begin(), split.train.end(), std::size_t{0});
    } else {
        split = a.split == "keras" ? data::keras_split(set.size(), a.val_split, static_cast<std::uint32_t>(split_seed))
                                   : data::stratified_split(set.labels, a.val_split, split_seed);
    }
    if (a.limit > 0 && static_cast<long>(split.train.size()) > a.limit) split.train.resize(static_cast<std::size_t>(a.limit));
    if (a.rebalance > 0) {
        const std::size_t before = split.train.size();
        // A class with a handful of training images becomes a few lesions rotated hundreds of times (with
        // --dedup, seborrheic keratosis keeps 1 training image): say so, as --class-weights does.
        std::vector<long> counts(names.size(), 0);
        for (auto i : split.train) ++counts[static_cast<std::size_t>(set.labels[i])];
        for (std::size_t c = 0; c < names.size(); ++c)
            if (counts[c] > 0 && a.rebalance >= 50 * counts[c])
                std::cerr << "warning: class '" << names[c] << "' has only " << counts[c]
                          << " training image(s); --rebalance " << a.rebalance
                          << " adds copies of them (70% rotated), about " << a.rebalance / counts[c] << " of each\n";
        data::rebalance(set, split.train, a.rebalance, a.seed + 1);
        std::cout << "Rebalanced the training side: " << before << " -> " << split.train.size() << " images (+"
                  << a.rebalance << " per class, Augmentor rotate p=0.7 up to 10 degrees)\n";
    }
    if (validate)
        std::cout << "Split (" << a.split << ", seed " << split_seed << "): " << split.train.size() << " training, "
                  << split.validation.size() << " validation images\n";
    else
        std::cout << "No validation split (--val-split 0): " << split.train.size()
                  << " training images; the last epoch is the model, the alert threshold p(melanoma) >= "
                  << a.alert_threshold << " is the one given\n";

    data::LoaderOptions train_opts{.batch_size = a.batch, .shuffle = true, .seed = a.seed};
    // Geometry first (Keras' layers), then colour (torchvision's ColorJitter), as the usual pipelines order them.
    const bool geometric = a.augment == "flip-rotate-zoom";
    if (geometric || jitter.enabled()) {
        train_opts.augment = [geometric, jitter](float* img, int h, int w, int c, Generator& gen) {
            if (geometric) data::random_augment(img, h, w, c, data::AugmentOptions{}, gen);
            if (jitter.enabled()) jitter(img, h, w, c, gen);
        };
    }
    if (jitter.enabled())
        std::cout << "Colour jitter on the training side: brightness " << jitter.brightness << ", contrast "
                  << jitter.contrast << ", saturation " << jitter.saturation << ", hue " << jitter.hue << "\n";
    data::BatchLoader train_loader(set, split.train, train_opts);
    std::optional<data::BatchLoader> val_loader;
    if (validate) val_loader.emplace(set, split.validation, data::LoaderOptions{.batch_size = a.batch});

    auto model = melanoma::reference_model(classes);
    model.build({melanoma::kImageSize, melanoma::kImageSize, 3}, a.seed);
    std::cout << model.summary();
    const optim::CommonOptions common{.weight_decay = a.weight_decay, .use_ema = a.ema > 0,
                                      .ema_momentum = a.ema > 0 ? a.ema : 0.99};
    optim::Adam<float> adam(model.parameters(), {.lr = a.lr, .common = common});
    if (const double wd = adam.common_options().weight_decay; wd > 0)
        std::cout << "Decoupled weight decay " << wd << " (AdamW: weights shrink by lr * " << wd << " each step)\n";

    train::FitOptions fo;
    fo.epochs = a.epochs;
    fo.classes = classes;
    fo.early_stopping_patience = a.patience;
    fo.monitor = train::parse_monitor(a.monitor);
    if (a.class_weights) {
        std::vector<long> counts(static_cast<std::size_t>(classes), 0);
        for (auto i : split.train) ++counts[static_cast<std::size_t>(set.labels[i])];
        std::cout << "Class weights (n / (classes * count)):";
        for (int c = 0; c < classes; ++c) {
            const double w = counts[static_cast<std::size_t>(c)]
                                 ? static_cast<double>(split.train.size()) / (classes * static_cast<double>(counts[static_cast<std::size_t>(c)]))
                                 : 0.0;
            fo.class_weights.push_back(static_cast<float>(w));
            std::cout << " " << std::setprecision(3) << w;
        }
        std::cout << std::setprecision(6) << "\n";
        // A class with a handful of images gets a weight in the hundreds, and its few images then dominate every
        // gradient: with --dedup the seborrheic-keratosis class keeps 1 training image (weight 175) and a run
        // diverged within 4 epochs (docs/melanoma.md).
        for (int c = 0; c < classes; ++c)
            if (fo.class_weights[static_cast<std::size_t>(c)] > 20)
                std::cerr << "warning: class '" << names[static_cast<std::size_t>(c)] << "' has only "
                          << counts[static_cast<std::size_t>(c)] << " training image(s); its loss weight "
                          << std::setprecision(3) << fo.class_weights[static_cast<std::size_t>(c)] << std::setprecision(6)
                          << " will dominate the gradient\n";
    }
    if (a.lr_schedule == "cosine")
        fo.lr_schedule = train::cosine_decay(a.epochs);
    else if (a.lr_schedule == "step")
        fo.lr_schedule = train::exponential_decay(10, 0.5, /*staircase=*/true);
    else if (a.lr_schedule == "plateau")
        fo.reduce_lr_on_plateau = train::ReduceLROnPlateau{.monitor = fo.monitor, .factor = 0.5, .patience = 3};
    const fs::path best = a.out / "best.safetensors";
    const json names_json = class_names_json(names);
    std::string jitter_text = "none";
    if (jitter.enabled()) {
        std::ostringstream t;
        t << jitter.brightness << "," << jitter.contrast << "," << jitter.saturation << "," << jitter.hue;
        jitter_text = t.str();
    }
    auto metadata = [&](double threshold, const train::EpochRecord& rec) {
        return std::map<std::string, std::string>{
            {"class_names", names_json.dump()},
            {"alert_class", kMelanoma},
            // exactly: checkpoints before session 6 stored one validation image's score, and rounding it up
            // (to_string keeps 6 decimals) dropped that image from the alert; the threshold is now half-way to
            // the next lower score, but what was chosen is what is stored
            {"alert_threshold", exact(threshold)},
            {"alert_threshold_from", validate ? "validation" : "--alert-threshold"},
            {"epoch", std::to_string(rec.epoch)},
            {"val_accuracy", validate ? std::to_string(rec.val_accuracy) : "none"},
            {"seed", std::to_string(a.seed)},
            {"split_seed", std::to_string(split_seed)},
            {"val_split", exact(a.val_split)},
            {"split", validate ? a.split : "none"},
            {"dedup", a.dedup ? "true" : "false"},
            {"color_constancy", a.color_constancy},
            {"augment", a.augment},
            {"rebalance", std::to_string(a.rebalance)},
            {"color_jitter", jitter_text},
            {"weight_decay", exact(a.weight_decay)},
            {"ema", exact(a.ema)},
            {"train_folder", fingerprint}};
    };
    const fs::path last = a.out / "last.safetensors";
    train::EpochRecord best_record;
    if (validate)
        fo.on_best = [&](const train::EpochRecord& rec, const train::Evaluation&) {
            best_record = rec;
            train::save_checkpoint(best, model, metadata(0.5, rec));
            std::cout << "  saved " << best << "\n";
        };
    fo.on_epoch_end = [&](const train::History& h) {
        h.write_csv(a.out / "history.csv");
        if (h.epochs.size() >= 2) melanoma::plots::training_curves(a.out, validate);
        if (!validate) {  // every epoch, so a stopped run keeps its last complete one
            train::save_checkpoint(last, model, metadata(a.alert_threshold, h.epochs.back()));
            std::cout << "  saved " << last << "\n";
        }
    };
    train::History history;
    try {
        history = validate ? train::fit(model, adam, train_loader, *val_loader, fo) : train::fit(model, adam, train_loader, fo);
    } catch (const train::NonFiniteLossError& e) {
        std::cerr << "error: " << e.what() << "\n";
        if (!validate)
            std::cerr << (fs::exists(last) ? "kept " + last.string() + ", the last complete epoch\n"
                                           : std::string("no epoch completed: no checkpoint written\n"));
        return 3;
    }
    if (!validate) {
        const bool plots = melanoma::plots::gnuplot_available() && history.epochs.size() >= 2;
        std::cout << "\nTrained on all " << split.train.size() << " training images for " << history.epochs.size()
                  << " epochs, without validation; melanoma alert threshold p(melanoma) >= " << a.alert_threshold
                  << " (given)\nWrote in " << a.out << ": " << last.filename() << " (the last epoch), history.csv"
                  << (plots ? ", curves.png" : "") << "\n";
        return 0;
    }

    // Reload the best epoch, choose the alert threshold on the validation split, store it in the checkpoint.
    train::load_checkpoint(best, model);
    auto ev = train::evaluate(model, *val_loader, classes);
    double threshold = 0.5;
    const int mel = find_class(names, kMelanoma);
    if (mel >= 0) {
        const auto [p, pos] = melanoma_scores(ev, mel);
        threshold = train::threshold_for_sensitivity(p, pos, a.alert_sensitivity);
    }
    train::save_checkpoint(best, model, metadata(threshold, best_record));
    std::cout << "\nBest epoch " << best_record.epoch << " by " << a.monitor << " (val_accuracy "
              << best_record.val_accuracy << ", val_balanced_accuracy " << best_record.val_balanced_accuracy << "); melanoma alert threshold chosen on validation for sensitivity >= " << a.alert_sensitivity << ": "
              << threshold << "\n\nValidation split, best checkpoint:\n";
    json j = report(ev, names, threshold, std::cout);
    j["best_epoch"] = best_record.epoch;
    write_json(a.out / "val_metrics.json", j);
    melanoma::plots::confusion_matrix(a.out, ev.confusion, names);
    std::vector<fs::path> val_paths;
    for (const auto i : split.validation) val_paths.push_back(set.paths[i]);
    const bool roc = write_details(a.out, ev, names, threshold, val_paths);
    const bool plots = melanoma::plots::gnuplot_available();
    std::cout << "\nWrote in " << a.out << ": " << best.filename() << ", history.csv" << (plots ? ", curves.png" : "")
              << "; on the validation split val_metrics.json, predictions.csv" << (plots ? ", confusion_matrix.png" : "")
              << (roc ? (plots ? ", melanoma_roc.csv, melanoma_roc.png" : ", melanoma_roc.csv") : "") << "\n";
    return 0;
}

// ---- evaluate / predict ---------------------------------------------------------------------------------------

struct LoadedModel {
    nn::Sequential<float> model;
    std::vector<std::string> names;
    double threshold = 0.5;
    std::string color_constancy = "none";  // how its images were loaded in training
    std::map<std::string, std::string> meta;
};

LoadedModel load_model(const fs::path& ckpt) {
    if (!fs::is_regular_file(ckpt)) throw UsageError("checkpoint '" + ckpt.string() + "' does not exist");
    const auto meta = train::read_checkpoint_metadata(ckpt);
    LoadedModel m;
    m.meta = meta;
    try {
        m.names = json::parse(meta.at("class_names")).get<std::vector<std::string>>();
        m.threshold = std::stod(meta.at("alert_threshold"));
        if (meta.count("color_constancy")) m.color_constancy = meta.at("color_constancy");  // older: none
    } catch (const std::exception&) {
        throw IoError("checkpoint '" + ckpt.string() + "' lacks class_names / alert_threshold metadata (not written by melanoma train?)");
    }
    try {
        shades_of_gray_norm(m.color_constancy);
    } catch (const ValueError& e) {
        throw IoError("checkpoint '" + ckpt.string() + "': " + e.what());
    }
    m.model = melanoma::reference_model(static_cast<int>(m.names.size()));
    m.model.build({melanoma::kImageSize, melanoma::kImageSize, 3});
    train::load_checkpoint(ckpt, m.model);
    m.model.eval();
    return m;
}

struct EvalArgs {
    fs::path data, out, exclude_copies_of;
    std::vector<fs::path> models;  // one checkpoint, or the members of an ensemble
    double threshold = -1;  // < 0: the checkpoint's
    bool strict = false;
    std::string tta = "none";
    std::string on = "test";
    // the validation split, where the checkpoint does not record how train made it
    std::uint64_t seed = 123;
    double val_split = 0.2;
    std::string split = "stratified";
    bool dedup = false;
    double alert_sensitivity = 0.9;
    long batch = 32;
};

/// The validation split of the Train folder, remade as `train` made it (the checkpoint's record of seed, split
/// and deduplication where it has one, else the flags'), so a checkpoint can be studied on validation - e.g.
/// whether test-time augmentation helps, and at which alert threshold - without touching Test.
/// One checkpoint, or the members of an ensemble, which must share their classes in order.
std::vector<LoadedModel> load_models(const std::vector<fs::path>& paths, const char* command) {
    EMBER_CHECK(!paths.empty(), ValueError, command, ": no --model given");
    std::vector<LoadedModel> models;
    for (const auto& path : paths) models.push_back(load_model(path));
    for (std::size_t i = 1; i < models.size(); ++i) {
        EMBER_CHECK(models[i].names == models.front().names, ValueError, command, ": ", paths[i], " has other classes than ",
                    paths.front(), ": an ensemble needs the same classes in the same order");
        EMBER_CHECK(models[i].color_constancy == models.front().color_constancy, ValueError, command, ": ", paths[i],
                    " was trained on images with colour constancy '", models[i].color_constancy, "', ", paths.front(),
                    " with '", models.front().color_constancy, "': an ensemble's members must see the same images");
    }
    return models;
}

/// The alert threshold: `override` when given (>= 0), else the checkpoint's, or for an ensemble the mean of its
/// members' (each was chosen for its own probabilities).
double alert_threshold(const std::vector<LoadedModel>& models, double override) {
    if (override >= 0) return override;
    double t = 0;
    for (const auto& member : models) t += member.threshold / static_cast<double>(models.size());
    return t;
}

/// How train split a checkpoint's Train folder: from its metadata, or for what older checkpoints do not record,
/// from the flags (`guessed` lists those).
struct SplitSpec {
    std::uint64_t seed = 0;
    double val_split = 0;
    std::string kind;
    bool dedup = false;
    std::string folder;  // fingerprint; empty when not recorded
    std::vector<std::string> guessed;

    [[nodiscard]] std::string describe() const {
        std::ostringstream os;
        os << kind << " split, seed " << seed << ", fraction " << val_split << (dedup ? ", deduplicated" : "");
        return os.str();
    }
    /// Same images on the validation side (an unrecorded folder matches any).
    [[nodiscard]] bool same_as(const SplitSpec& o) const {
        return seed == o.seed && val_split == o.val_split && kind == o.kind && dedup == o.dedup &&
               (folder.empty() || o.folder.empty() || folder == o.folder);
    }
};

SplitSpec split_spec(const EvalArgs& a, const LoadedModel& m) {
    SplitSpec s;
    const auto meta = [&](const char* key, const std::string& fallback) {
        const auto it = m.meta.find(key);
        if (it != m.meta.end()) return it->second;
        s.guessed.push_back(key);
        return fallback;
    };
    // Before --split-seed existed, the split's seed was the seed.
    s.seed = static_cast<std::uint64_t>(
        std::stoull(m.meta.count("split_seed") ? m.meta.at("split_seed") : meta("seed", std::to_string(a.seed))));
    s.val_split = std::stod(meta("val_split", exact(a.val_split)));
    s.kind = meta("split", a.split);
    s.dedup = meta("dedup", a.dedup ? "true" : "false") == "true";
    if (m.meta.count("train_folder")) s.folder = m.meta.at("train_folder");
    return s;
}

std::pair<data::ImageSet, std::vector<std::size_t>> validation_side(const EvalArgs& a, const LoadedModel& m,
                                                                    const SplitSpec& spec) {
    const fs::path dir = split_dir(a.data, "Train");
    if (!spec.guessed.empty()) {
        std::cerr << "warning: the checkpoint does not record";
        for (const auto& k : spec.guessed) std::cerr << " " << k;
        std::cerr << " (written before they were recorded): using the flags' values; the split is only train's if "
                     "they match how it was trained\n";
    }
    const auto index = data::index_image_folder(dir);
    EMBER_CHECK(index.class_names == m.names, ValueError, "evaluate --on validation: ", dir,
                " has other class folders than the checkpoint's classes: cannot remake the training split");
    data::ImageSet set = load_folder(dir, a.strict, m.color_constancy, m.names);
    if (spec.folder.empty())
        std::cerr << "warning: the checkpoint does not record which images its Train folder held; the split is "
                     "only train's if " << dir << " is unchanged\n";
    else
        EMBER_CHECK(spec.folder == folder_fingerprint(set), ValueError, "evaluate --on validation: ", dir,
                    " is not the folder the checkpoint was trained on (images or names differ: ",
                    folder_fingerprint(set), " vs the recorded ", spec.folder, "): cannot remake its validation split");
    if (spec.dedup) set = data::subset(set, data::deduplicate(set).keep);
    const data::Split split = spec.kind == "keras"
                                  ? data::keras_split(set.size(), spec.val_split, static_cast<std::uint32_t>(spec.seed))
                                  : data::stratified_split(set.labels, spec.val_split, spec.seed);
    std::cout << "Validation side of " << dir << ": " << spec.describe() << ": " << split.validation.size() << " images\n";
    return {std::move(set), split.validation};
}

int run_evaluate(const EvalArgs& a) {
    std::vector<LoadedModel> models = load_models(a.models, "evaluate");
    const LoadedModel& m = models.front();
    const fs::path& model_path = a.models.front();
    const SplitSpec s0 = split_spec(a, m);
    for (std::size_t i = 0; i < models.size(); ++i) {
        const SplitSpec si = i == 0 ? s0 : split_spec(a, models[i]);
        EMBER_CHECK(a.on != "validation" || si.val_split > 0, UsageError, "evaluate --on validation: ", a.models[i],
                    " was trained on all of Train (--val-split 0): it has no validation split");
        EMBER_CHECK(a.on != "validation" || si.same_as(s0), UsageError, "evaluate --on validation: ", a.models[i],
                    " was validated on another split (", si.describe(), ") than ", model_path, " (", s0.describe(),
                    "): their ensemble cannot be judged on either; train ensemble members with the same --split-seed");
    }
    const bool validation = a.on == "validation";
    const auto tta = train::parse_test_time_augment(a.tta);
    fs::path out = a.out;
    if (out.empty())
        out = model_path.parent_path() /
              ("eval-" + (validation ? std::string("validation") : fs::absolute(a.data).lexically_normal().filename().string()) +
               (tta == train::TestTimeAugment::none ? "" : "-tta-" + a.tta));
    ensure_writable_dir(out);
    const double threshold = alert_threshold(models, a.threshold);
    if (a.threshold < 0 && models.size() > 1)
        std::cout << "Ensemble of " << models.size() << " models: alert threshold " << threshold
                  << ", the mean of theirs (choose one with --on validation and pass it with --threshold)\n";
    data::ImageSet set;
    std::vector<std::size_t> all;
    fs::path dir;
    if (validation) {
        dir = split_dir(a.data, "Train");
        std::tie(set, all) = validation_side(a, m, s0);
    } else {
        dir = split_dir(a.data, "Test");
        set = load_folder(dir, a.strict, m.color_constancy, m.names);
        all.resize(set.size());
        std::iota(all.begin(), all.end(), 0);
    }
    if (!a.exclude_copies_of.empty()) {  // leave out images the model may have trained on
        const data::ImageSet seen = load_folder(a.exclude_copies_of, a.strict, m.color_constancy);
        const auto copy = data::copies_in(set, seen);
        const std::size_t before = all.size();
        std::erase_if(all, [&](std::size_t i) { return copy[i]; });
        std::cout << "Left out " << before - all.size() << " of " << before << " images identical to an image in "
                  << a.exclude_copies_of << "\n";
        EMBER_CHECK(!all.empty(), ValueError, "evaluate: every image of ", dir, " is also in ", a.exclude_copies_of);
    }
    data::BatchLoader loader(set, all, {.batch_size = a.batch});
    std::vector<train::Evaluation> evs;
    for (auto& member : models) evs.push_back(train::evaluate(member.model, loader, static_cast<int>(m.names.size()), {}, tta));
    const train::Evaluation ev = evs.size() == 1 ? std::move(evs.front()) : train::ensemble(evs);
    std::cout << "\nEvaluation of " << model_path;
    for (std::size_t i = 1; i < a.models.size(); ++i) std::cout << " + " << a.models[i];
    std::cout << " on " << (validation ? "the validation side of " : "") << dir
              << (tta == train::TestTimeAugment::none ? "" : " (test-time augmentation: " + a.tta + ")") << "\n";
    json j = report(ev, m.names, threshold, std::cout);
    j["checkpoint"] = model_path.string();
    if (a.models.size() > 1)
        for (const auto& path : a.models) j["ensemble"].push_back(path.string());
    j["data"] = dir.string();
    j["on"] = a.on;
    j["test_time_augmentation"] = a.tta;
    j["images"] = all.size();
    if (!a.exclude_copies_of.empty()) j["excluded_copies_of"] = a.exclude_copies_of.string();
    const int mel = find_class(m.names, kMelanoma);
    if (validation && mel >= 0) {  // the threshold train would store, for these probabilities
        const auto [p, pos] = melanoma_scores(ev, mel);
        const double t = train::threshold_for_sensitivity(p, pos, a.alert_sensitivity);
        std::cout << "Alert threshold for melanoma sensitivity >= " << a.alert_sensitivity << " on this split: " << exact(t)
                  << " (pass it to evaluate/predict with --threshold)\n";
        j["threshold_for_sensitivity"] = {{"sensitivity", a.alert_sensitivity}, {"threshold", t}};
    }
    write_json(out / "metrics.json", j);
    {
        std::ofstream txt(out / "confusion_matrix.txt");
        txt << ev.confusion.to_string(m.names);
    }
    melanoma::plots::confusion_matrix(out, ev.confusion, m.names);
    std::vector<fs::path> paths;
    for (const auto i : all) paths.push_back(set.paths[i]);
    const bool roc = write_details(out, ev, m.names, threshold, paths);
    const bool plots = melanoma::plots::gnuplot_available();
    std::cout << "\nWrote metrics.json, confusion_matrix.txt, predictions.csv" << (plots ? ", confusion_matrix.png" : "")
              << (roc ? (plots ? ", melanoma_roc.csv, melanoma_roc.png" : ", melanoma_roc.csv") : "") << " in " << out << "\n";
    return 0;
}

int run_predict(const std::vector<fs::path>& ckpts, const std::vector<fs::path>& images, double threshold_override,
                bool as_json, const std::string& tta_name) {
    std::vector<LoadedModel> models = load_models(ckpts, "predict");
    LoadedModel& m = models.front();
    const auto tta = train::parse_test_time_augment(tta_name);
    const double threshold = alert_threshold(models, threshold_override);
    const int mel = find_class(m.names, kMelanoma);
    const data::LoadOptions options = image_options(true, m.color_constancy);  // as the members were trained
    NoGradGuard no_grad;
    json out = json::array();
    int failures = 0;
    for (const auto& path : images) {
        json item{{"image", path.string()}};
        try {
            const Tensor<float> x = data::load_image_tensor(path, options);
            Tensor<float> p = train::predict_probabilities(m.model, x, tta);
            for (std::size_t i = 1; i < models.size(); ++i) {  // an ensemble: the mean of the members' probabilities
                const Tensor<float> q = train::predict_probabilities(models[i].model, x, tta);
                for (index_t c = 0; c < p.numel(); ++c) p.data()[c] += q.data()[c];
            }
            for (auto& v : p.span()) v /= static_cast<float>(models.size());
            std::vector<int> order(m.names.size());
            std::iota(order.begin(), order.end(), 0);
            std::sort(order.begin(), order.end(), [&](int a, int b) { return p.data()[a] > p.data()[b]; });
            for (std::size_t c = 0; c < m.names.size(); ++c) item["probabilities"][m.names[c]] = p.data()[c];
            for (int k = 0; k < 3 && k < static_cast<int>(order.size()); ++k)
                item["top3"].push_back({{"class", m.names[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])]},
                                        {"probability", p.data()[order[static_cast<std::size_t>(k)]]}});
            const bool alert = mel >= 0 && p.data()[mel] >= threshold;
            item["melanoma_probability"] = mel >= 0 ? p.data()[mel] : 0.0f;
            item["melanoma_alert"] = alert;
            item["threshold"] = threshold;
            if (!as_json) {
                std::cout << path.string() << "\n";
                for (int k = 0; k < 3 && k < static_cast<int>(order.size()); ++k)
                    std::cout << "  " << k + 1 << ". " << std::left << std::setw(28) << m.names[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])]
                              << std::right << std::fixed << std::setprecision(3) << p.data()[order[static_cast<std::size_t>(k)]] << "\n";
                if (mel >= 0) {
                    std::cout << "  p(melanoma) = " << p.data()[mel] << " (alert threshold " << threshold << ")\n";
                    if (alert) std::cout << "  MELANOMA ALERT: refer this lesion to a dermatologist\n";
                }
                std::cout.unsetf(std::ios::floatfield);
            }
        } catch (const IoError& e) {
            ++failures;
            item["error"] = e.what();
            if (!as_json) std::cerr << "error: " << e.what() << "\n";
        }
        out.push_back(item);
    }
    if (as_json) std::cout << std::setw(2) << out << "\n";
    return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"melanoma: train and evaluate a CNN on ISIC dermoscopy images, with a melanoma alert (ember example)"};
    app.require_subcommand(1);

    fs::path audit_data, audit_out = "runs/audit";
    auto* audit = app.add_subcommand("audit", "count images per class and split, find duplicates, contradictory labels and Train/Test leakage");
    audit->add_option("--data", audit_data, "dataset folder (with Train/ and Test/, or one folder of class folders)")->required();
    audit->add_option("--out", audit_out, "where audit.json and class_distribution.png go");

    TrainArgs ta;
    auto* trn = app.add_subcommand("train", "train the reference CNN (split first, augment only the training side)");
    trn->add_option("--data", ta.data, "dataset folder (Train/ is used); without it the public copy is downloaded");
    trn->add_option("--out", ta.out, "run folder: checkpoint, history.csv, plots, val_metrics.json");
    trn->add_option("--epochs", ta.epochs, "epochs")->capture_default_str();
    trn->add_option("--batch", ta.batch, "batch size")->capture_default_str();
    trn->add_option("--seed", ta.seed, "seed of the split, initial weights, shuffling, dropout and augmentation")->capture_default_str();
    trn->add_option("--split-seed", ta.split_seed,
                    "seed of the split alone (default: --seed); runs that differ only in --seed then share a validation "
                    "split, and their ensemble can be judged on it");
    trn->add_option("--val-split", ta.val_split,
                    "validation fraction; 0: train on all of Train without validation (the last epoch is the model; "
                    "needs --alert-threshold)")->capture_default_str();
    trn->add_option("--split", ta.split, "stratified | keras (Keras' image_dataset_from_directory split)")
        ->check(CLI::IsMember({"stratified", "keras"}))->capture_default_str();
    trn->add_option("--augment", ta.augment, "none | flip-rotate-zoom (Keras RandomFlip, RandomRotation(0.2), RandomZoom(0.2, 0.3))")
        ->check(CLI::IsMember({"none", "flip-rotate-zoom"}))->capture_default_str();
    trn->add_option("--color-constancy", ta.color_constancy,
                    "none | shades-of-gray (Shades of Gray, p = 6, on every image before anything else; evaluate and "
                    "predict then do the same, from the checkpoint)")
        ->check(CLI::IsMember({"none", "shades-of-gray"}))->capture_default_str();
    trn->add_option("--color-jitter", ta.color_jitter,
                    "training-side colour augmentation, 4 numbers: brightness contrast saturation hue (torchvision's "
                    "ColorJitter; e.g. 0.2 0.2 0.2 0.02; default off)")
        ->expected(4);
    trn->add_option("--rebalance", ta.rebalance, "extra samples per class, Augmentor style (0: off; the seed used 500)")->capture_default_str();
    trn->add_flag("--class-weights", ta.class_weights, "weight the loss by inverse class frequency");
    trn->add_flag("--dedup", ta.dedup,
                  "before splitting, keep one copy of identical images in a class and drop images filed under several classes");
    trn->add_option("--threads", ta.threads, "OpenMP threads (0: all cores)")->capture_default_str();
    trn->add_option("--lr", ta.lr, "Adam learning rate")->capture_default_str();
    trn->add_option("--weight-decay", ta.weight_decay,
                    "decoupled weight decay, as Keras' AdamW (0.004 is its default; 0: off): weights shrink by lr * this "
                    "each step")
        ->check(number_check([](double x) { return std::isfinite(x) && x >= 0; }, ">= 0 (0: off)"))->capture_default_str();
    trn->add_option("--ema", ta.ema,
                    "momentum of a moving average of the weights (Keras' use_ema, e.g. 0.99; 0: off): validation and "
                    "checkpoints use the average")
        ->check(number_check([](double x) { return x >= 0 && x < 1; }, "in [0, 1) (0: off)"))->capture_default_str();
    trn->add_option("--lr-schedule", ta.lr_schedule,
                    "constant | cosine (decays towards 0 over --epochs) | step (halve every 10 epochs) | plateau (halve after 3 "
                    "epochs without a better --monitor value, Keras' ReduceLROnPlateau)")
        ->check(CLI::IsMember({"constant", "cosine", "step", "plateau"}))->capture_default_str();
    trn->add_option("--patience", ta.patience, "early stopping: epochs without a better monitored value (0: off)")->capture_default_str();
    trn->add_option("--monitor", ta.monitor, "what picks the best checkpoint and drives early stopping and --lr-schedule plateau")
        ->check(CLI::IsMember({"val_accuracy", "val_balanced_accuracy", "val_loss"}))
        ->capture_default_str();
    trn->add_option("--alert-sensitivity", ta.alert_sensitivity, "melanoma sensitivity the alert threshold is chosen for, on validation")
        ->check(CLI::Range(0.0, 1.0))->capture_default_str();
    trn->add_option("--alert-threshold", ta.alert_threshold,
                    "with --val-split 0: the melanoma alert threshold to store (there is no validation split to choose it on)");
    trn->add_flag("--strict", ta.strict, "a corrupt image is fatal (default: skipped with a warning)");
    trn->add_option("--limit", ta.limit, "use at most this many training images (quick checks)");

    EvalArgs ea;
    auto* evl = app.add_subcommand("evaluate", "accuracy, per-class precision/recall/F1, confusion matrix, melanoma sensitivity/specificity");
    evl->add_option("--data", ea.data, "folder of class folders (or a dataset folder: its Test/ is used)")->required();
    evl->add_option("--model", ea.models, "checkpoint written by train; repeat it for an ensemble (probabilities averaged)")
        ->required()->allow_extra_args(false);
    evl->add_option("--out", ea.out, "where metrics.json and the confusion matrix go (default: beside the checkpoint)");
    evl->add_option("--threshold", ea.threshold, "melanoma alert threshold (default: the one stored in the checkpoint)");
    evl->add_flag("--strict", ea.strict, "a corrupt image is fatal");
    evl->add_option("--exclude-copies-of", ea.exclude_copies_of,
                    "folder of class folders (e.g. Train): leave out images identical to one of its images");
    evl->add_option("--tta", ea.tta, "test-time augmentation: none | flips (mean over the four flips of each image)")
        ->check(CLI::IsMember({"none", "flips"}))->capture_default_str();
    evl->add_option("--on", ea.on, "test | validation (the validation side of --data's Train folder, split as train did)")
        ->check(CLI::IsMember({"test", "validation"}))->capture_default_str();
    evl->add_option("--seed", ea.seed, "with --on validation, for checkpoints that do not record it")->capture_default_str();
    evl->add_option("--val-split", ea.val_split, "with --on validation, for checkpoints that do not record it")
        ->check(number_check([](double x) { return x > 0 && x < 1; }, "in (0, 1)"))->capture_default_str();
    evl->add_option("--split", ea.split, "with --on validation, for checkpoints that do not record it")
        ->check(CLI::IsMember({"stratified", "keras"}))->capture_default_str();
    evl->add_flag("--dedup", ea.dedup, "with --on validation, for checkpoints that do not record it");
    evl->add_option("--batch", ea.batch, "batch size (as train's, for figures identical to its report)")
        ->check(CLI::PositiveNumber)->capture_default_str();
    evl->add_option("--alert-sensitivity", ea.alert_sensitivity,
                    "with --on validation: report the alert threshold reaching this melanoma sensitivity")
        ->check(CLI::Range(0.0, 1.0))->capture_default_str();

    std::vector<fs::path> pr_models;
    std::vector<fs::path> pr_images;
    double pr_threshold = -1;
    bool pr_json = false;
    std::string pr_tta = "none";
    auto* prd = app.add_subcommand("predict", "class probabilities, top-3 and a MELANOMA ALERT line per image");
    prd->add_option("--model", pr_models, "checkpoint written by train; repeat it for an ensemble (probabilities averaged)")
        ->required()->allow_extra_args(false);
    prd->add_option("images", pr_images, "image files")->required();
    prd->add_option("--threshold", pr_threshold, "melanoma alert threshold (default: the one stored in the checkpoint)");
    prd->add_flag("--json", pr_json, "print JSON");
    prd->add_option("--tta", pr_tta, "test-time augmentation: none | flips")->check(CLI::IsMember({"none", "flips"}))->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version print and exit 0; every rejected command line is a usage error, exit 2, whichever
        // of CLI11's own codes (105, 106, ...) it carries.
        return app.exit(e) == 0 ? 0 : 2;
    }
    try {
        if (*audit) return run_audit(audit_data, audit_out);
        if (*trn) {
            for (const CLI::Option* o : trn->get_options())
                if (o->count() > 0)
                    for (const auto& name : o->get_lnames()) ta.given.insert("--" + name);
            return run_train(ta);
        }
        if (*evl) return run_evaluate(ea);
        if (*prd) return run_predict(pr_models, pr_images, pr_threshold, pr_json, pr_tta);
    } catch (const UsageError& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
