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
#include "explain.hpp"
#include "models.hpp"
#include "model.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

namespace {

/// evaluate --on validation judges an ensemble on one validation split: every member must have kept one, the same.
void check_member_splits(const EvalArgs& a, const std::vector<LoadedModel>& models, const SplitSpec& s0) {
    for (std::size_t i = 0; i < models.size(); ++i) {
        const SplitSpec si = i == 0 ? s0 : split_spec(models[i]);
        if (a.on == "validation") si.require_validation("evaluate --on validation", a.models[i]);
        EMBER_CHECK(a.on != "validation" || si.same_as(s0), UsageError, "evaluate --on validation: ", a.models[i],
                    " was validated on another split (", si.describe(), ") than ", a.models.front(), " (", s0.describe(),
                    "): their ensemble cannot be judged on either; train ensemble members with the same seed");
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

/// The Test folder, or the validation side of the Train folder (--on validation).
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
    if (a.on == "validation")
        for (const auto& member : models)
            if (member.placeholder_threshold)  // its run validated on a held-out fold, which the record does not remake
                throw UsageError("evaluate --on validation: " + member.path.string() + " is a cross-validation fold's "
                                 "model; its held-out images were scored into its fold's oof.json and cv_report.json");
    if (a.on == "test" && !a.releasing)
        for (const auto& member : models)
            if (member.meta.count("model_name"))  // written by release, which scored Test once and reported it
                std::cerr << "warning: " << member.path << " is a released model: release scored the Test folder "
                             "once for it (its MODEL_CARD.md); a new score on the same images is no new estimate, "
                             "and nothing may be chosen on it\n";
    const SplitSpec s0 = split_spec(m);
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


namespace {

/// The probabilities of one image: the model's, or an ensemble's mean of its members'.
Tensor<float> ensemble_probabilities(std::vector<LoadedModel>& models, const Tensor<float>& x, TestTimeAugment tta) {
    Tensor<float> p = predict_probabilities(models.front().model, x, tta);
    for (std::size_t i = 1; i < models.size(); ++i) {
        const Tensor<float> q = predict_probabilities(models[i].model, x, tta);
        for (index_t c = 0; c < p.numel(); ++c) p.data()[c] += q.data()[c];
    }
    for (auto& v : p.span()) v /= static_cast<float>(models.size());
    return p;
}

/// One image's lines: the top 3, every class, p(melanoma) and the alert.
void print_prediction(const json& item, const std::vector<std::string>& names) {
    std::cout << item.at("image").get<std::string>() << "\n" << std::fixed << std::setprecision(3);
    int k = 0;
    for (const json& t : item.at("top3"))
        std::cout << "  " << ++k << ". " << std::left << std::setw(28) << t.at("class").get<std::string>() << std::right
                  << t.at("probability").get<double>() << "\n";
    std::cout << "  all:";  // every class, in the model's order
    for (std::size_t c = 0; c < names.size(); ++c)
        std::cout << (c ? ", " : " ") << names[c] << " " << item.at("probabilities").at(names[c]).get<double>();
    std::cout << "\n";
    if (!item.at("melanoma_probability").is_null()) {
        std::cout << "  p(melanoma) = " << item.at("melanoma_probability").get<double>() << " (alert threshold "
                  << item.at("threshold").get<double>() << ")\n";
        if (item.at("melanoma_alert").get<bool>()) std::cout << "  MELANOMA ALERT: refer this lesion to a dermatologist\n";
    }
    if (item.contains("heat_maps"))
        for (const json& f : item.at("heat_maps"))
            std::cout << "  heat map (" << f.at("class").get<std::string>() << "): " << f.at("file").get<std::string>() << "\n";
    std::cout.unsetf(std::ios::floatfield);
}

/// The image's file stem, or with "-2", "-3" ... where an earlier image of this command had the same stem.
std::string unique_stem(const fs::path& image, std::set<std::string>& taken) {
    std::string stem = image.stem().string();
    for (int n = 2; !taken.insert(stem).second; ++n) stem = image.stem().string() + "-" + std::to_string(n);
    return stem;
}

}  // namespace

fs::path default_model() {
    const fs::path shipped = fs::path(MELANOMA_MODEL_DIR) / "ember-melanoma.safetensors";
    if (!fs::is_regular_file(shipped))
        throw UsageError("no --model given, and the shipped model " + shipped.string() + " is missing (it comes with the "
                         "repository; or pass a checkpoint written by train or release with --model)");
    return shipped;
}

int run_predict(const PredictArgs& a) {
    if (!a.explain.empty()) ensure_writable_dir(a.explain);  // before any work, not after it
    std::vector<LoadedModel> models = load_models(a.models.empty() ? std::vector<fs::path>{default_model()} : a.models, "predict");
    LoadedModel& m = models.front();
    const auto tta = parse_test_time_augment(a.tta);
    const double threshold = alert_threshold(models, a.threshold, a.tta);
    const int mel = find_class(m.names, kMelanoma);
    if (mel < 0)
        std::cerr << "warning: the model has no class named '" << kMelanoma << "': no melanoma alert is given\n";
    const vision::LoadOptions options = image_options(true, m.color_constancy);  // as the members were trained
    json out = json::array();
    int failures = 0;
    std::set<std::string> stems;  // heat maps of a/x.jpg and b/x.jpg must not overwrite each other
    for (const auto& path : a.images) {
        json item{{"image", path.string()}};
        try {
            const Tensor<float> x = vision::load_image_tensor(path, options);
            Tensor<float> p;
            {
                NoGradGuard no_grad;
                p = ensemble_probabilities(models, x, tta);
            }
            std::vector<int> order(m.names.size());
            std::iota(order.begin(), order.end(), 0);
            std::sort(order.begin(), order.end(), [&](int i, int j) { return p.data()[i] > p.data()[j]; });
            for (std::size_t c = 0; c < m.names.size(); ++c) item["probabilities"][m.names[c]] = p.data()[c];
            for (std::size_t k = 0; k < 3 && k < order.size(); ++k)
                item["top3"].push_back({{"class", m.names[static_cast<std::size_t>(order[k])]}, {"probability", p.data()[order[k]]}});
            item["melanoma_probability"] = mel >= 0 ? json(p.data()[mel]) : json(nullptr);  // null: no such class
            item["melanoma_alert"] = mel >= 0 && p.data()[mel] >= threshold;
            item["threshold"] = threshold;
            if (!a.explain.empty())  // of the first model: a heat map explains one network's score
                item["heat_maps"] = explain_image(m.model, x, unique_stem(path, stems), m.names, order.front(), mel, a.explain);
            if (!a.json) print_prediction(item, m.names);
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
