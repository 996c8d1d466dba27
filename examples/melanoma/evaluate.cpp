// examples/melanoma/evaluate.cpp - `melanoma evaluate` (a checkpoint or an ensemble on Test or on its own
// validation split: accuracy, per-class figures, confusion matrix, melanoma alert) and `melanoma predict`
// (probabilities, top-3 and the alert per image).
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include <ember/vision/color.hpp>
#include <ember/vision/dedup.hpp>
#include <ember/vision/image.hpp>
#include <ember/data/loader.hpp>
#include <ember/vision/image_dataset.hpp>
#include <ember/data/split.hpp>
#include <ember/io/checkpoint.hpp>

#include "commands.hpp"
#include "models.hpp"
#include "model.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

namespace {

/// evaluate --on validation judges an ensemble on one validation split: every member must have kept one, the same.
void check_member_splits(const EvalArgs& a, const std::vector<LoadedModel>& models, const SplitSpec& s0) {
    for (std::size_t i = 0; i < models.size(); ++i) {
        const SplitSpec si = i == 0 ? s0 : split_spec(a, models[i]);
        if (a.on == "validation") si.require_validation("evaluate --on validation", a.models[i]);
        EMBER_CHECK(a.on != "validation" || si.same_as(s0), UsageError, "evaluate --on validation: ", a.models[i],
                    " was validated on another split (", si.describe(), ") than ", a.models.front(), " (", s0.describe(),
                    "): their ensemble cannot be judged on either; train ensemble members with the same --split-seed");
    }
}

/// Where evaluate writes: --out, else beside the checkpoint, named after the images and the test-time augmentation.
fs::path evaluation_folder(const EvalArgs& a, TestTimeAugment tta) {
    if (!a.out.empty()) return a.out;
    const std::string images =
        a.on == "validation" ? std::string("validation") : fs::absolute(a.data).lexically_normal().filename().string();
    return a.models.front().parent_path() / ("eval-" + images + (tta == TestTimeAugment::none ? "" : "-tta-" + a.tta));
}

/// The images evaluate scores: `rows` of `set`, from the folder `dir`.
struct ScoredImages {
    vision::ImageSet set;
    std::vector<std::size_t> rows;
    fs::path dir;
};

/// The Test folder, or the validation side of the Train folder (--on validation), without the images
/// --exclude-copies-of's folder also holds.
ScoredImages images_to_score(const EvalArgs& a, const LoadedModel& m, const SplitSpec& spec) {
    ScoredImages s;
    if (a.on == "validation") {
        s.dir = split_dir(a.data, "Train");
        std::tie(s.set, s.rows) = validation_side(a, m, spec, "evaluate --on validation");
    } else {
        s.dir = split_dir(a.data, "Test");
        s.set = load_folder(s.dir, a.strict, m.color_constancy, m.names);
        s.rows.resize(s.set.size());
        std::iota(s.rows.begin(), s.rows.end(), 0);
    }
    if (!a.exclude_copies_of.empty()) {  // leave out images the model may have trained on
        const vision::ImageSet seen = load_folder(a.exclude_copies_of, a.strict, m.color_constancy);
        const auto copy = vision::copies_in(s.set, seen);
        const std::size_t before = s.rows.size();
        std::erase_if(s.rows, [&](std::size_t i) { return copy[i]; });
        std::cout << "Left out " << before - s.rows.size() << " of " << before << " images identical to an image in "
                  << a.exclude_copies_of << "\n";
        EMBER_CHECK(!s.rows.empty(), ValueError, "evaluate: every image of ", s.dir, " is also in ", a.exclude_copies_of);
    }
    return s;
}

/// The evaluation's report on stdout and in metrics.json (`j`: report()'s, to which this adds what was scored and
/// how), confusion_matrix.txt and .png, predictions.csv and the ROC curve, all in `out`.
void write_evaluation(const EvalArgs& a, const fs::path& out, const Evaluation& ev, const LoadedModel& m,
                      const ScoredImages& images, double threshold, json j) {
    j["checkpoint"] = a.models.front().string();
    if (a.models.size() > 1)
        for (const auto& path : a.models) j["ensemble"].push_back(path.string());
    j["data"] = images.dir.string();
    j["on"] = a.on;
    j["test_time_augmentation"] = a.tta;
    j["images"] = images.rows.size();
    if (!a.exclude_copies_of.empty()) j["excluded_copies_of"] = a.exclude_copies_of.string();
    const int mel = find_class(m.names, kMelanoma);
    if (a.on == "validation" && mel >= 0) {  // the threshold train would store, for these probabilities
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
    const bool drawn = plots::confusion_matrix(out, ev.confusion, m.names);
    std::vector<fs::path> paths;
    for (const auto i : images.rows) paths.push_back(images.set.paths[i]);
    const auto roc_files = write_details(out, ev, m.names, threshold, paths);
    std::cout << "\nWrote metrics.json, confusion_matrix.txt, predictions.csv" << (drawn ? ", confusion_matrix.png" : "");
    for (const auto& f : roc_files) std::cout << ", " << f;
    std::cout << " in " << out << "\n";
}

}  // namespace

int run_evaluate(const EvalArgs& a) {
    std::vector<LoadedModel> models = load_models(a.models, "evaluate");
    const LoadedModel& m = models.front();
    const SplitSpec s0 = split_spec(a, m);
    check_member_splits(a, models, s0);
    const auto tta = parse_test_time_augment(a.tta);
    const fs::path out = evaluation_folder(a, tta);
    ensure_writable_dir(out);
    const double threshold = alert_threshold(models, a.threshold, a.tta);
    if (a.threshold < 0 && models.size() > 1)
        std::cout << "Ensemble of " << models.size() << " models: alert threshold " << threshold
                  << ", the mean of theirs (choose one with --on validation and pass it with --threshold)\n";
    const ScoredImages images = images_to_score(a, m, s0);
    const vision::ImageDataset dataset(images.set);
    data::DataLoader loader(dataset, images.rows, {.batch_size = a.batch});
    std::vector<Evaluation> evs;
    for (auto& member : models) evs.push_back(evaluate(member.model, loader, static_cast<int>(m.names.size()), tta));
    const Evaluation ev = evs.size() == 1 ? std::move(evs.front()) : ensemble(evs);
    std::cout << "\nEvaluation of " << a.models.front();
    for (std::size_t i = 1; i < a.models.size(); ++i) std::cout << " + " << a.models[i];
    std::cout << " on " << (a.on == "validation" ? "the validation side of " : "") << images.dir
              << (tta == TestTimeAugment::none ? "" : " (test-time augmentation: " + a.tta + ")") << "\n";
    write_evaluation(a, out, ev, m, images, threshold, report(ev, m.names, threshold, std::cout));
    return 0;
}


int run_predict(const PredictArgs& a) {
    std::vector<LoadedModel> models = load_models(a.models, "predict");
    LoadedModel& m = models.front();
    const auto tta = parse_test_time_augment(a.tta);
    const double threshold = alert_threshold(models, a.threshold, a.tta);
    const int mel = find_class(m.names, kMelanoma);
    if (mel < 0)
        std::cerr << "warning: the model has no class named '" << kMelanoma << "': no melanoma alert is given\n";
    const vision::LoadOptions options = image_options(true, m.color_constancy);  // as the members were trained
    NoGradGuard no_grad;
    json out = json::array();
    int failures = 0;
    for (const auto& path : a.images) {
        json item{{"image", path.string()}};
        try {
            const Tensor<float> x = vision::load_image_tensor(path, options);
            Tensor<float> p = predict_probabilities(m.model, x, tta);
            for (std::size_t i = 1; i < models.size(); ++i) {  // an ensemble: the mean of the members' probabilities
                const Tensor<float> q = predict_probabilities(models[i].model, x, tta);
                for (index_t c = 0; c < p.numel(); ++c) p.data()[c] += q.data()[c];
            }
            for (auto& v : p.span()) v /= static_cast<float>(models.size());
            std::vector<int> order(m.names.size());
            std::iota(order.begin(), order.end(), 0);
            std::sort(order.begin(), order.end(), [&](int i, int j) { return p.data()[i] > p.data()[j]; });
            for (std::size_t c = 0; c < m.names.size(); ++c) item["probabilities"][m.names[c]] = p.data()[c];
            for (int k = 0; k < 3 && k < static_cast<int>(order.size()); ++k)
                item["top3"].push_back({{"class", m.names[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])]},
                                        {"probability", p.data()[order[static_cast<std::size_t>(k)]]}});
            const bool alert = mel >= 0 && p.data()[mel] >= threshold;
            item["melanoma_probability"] = mel >= 0 ? json(p.data()[mel]) : json(nullptr);  // null: no such class
            item["melanoma_alert"] = alert;
            item["threshold"] = threshold;
            if (!a.json) {
                std::cout << path.string() << "\n";
                for (int k = 0; k < 3 && k < static_cast<int>(order.size()); ++k)
                    std::cout << "  " << k + 1 << ". " << std::left << std::setw(28) << m.names[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])]
                              << std::right << std::fixed << std::setprecision(3) << p.data()[order[static_cast<std::size_t>(k)]] << "\n";
                std::cout << "  all:";  // every class, in the model's order
                for (std::size_t c = 0; c < m.names.size(); ++c)
                    std::cout << (c ? ", " : " ") << m.names[c] << " " << p.data()[c];
                std::cout << "\n";
                if (mel >= 0) {
                    std::cout << "  p(melanoma) = " << p.data()[mel] << " (alert threshold " << threshold << ")\n";
                    if (alert) std::cout << "  MELANOMA ALERT: refer this lesion to a dermatologist\n";
                }
                std::cout.unsetf(std::ios::floatfield);
            }
        } catch (const IoError& e) {
            ++failures;
            item["error"] = e.what();
            if (!a.json) std::cerr << "error: " << e.what() << "\n";
        }
        out.push_back(item);
    }
    if (a.json) std::cout << std::setw(2) << out << "\n";
    return failures ? 1 : 0;
}


}  // namespace melanoma
