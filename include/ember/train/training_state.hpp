// ember/train/training_state.hpp - what an interrupted fit needs to go on as if it had never stopped (Keras'
// BackupAndRestore callback): the model's weights, the optimizer's state and step count, the generators the model
// draws from (dropout masks) and the history so far, in one safetensors file written atomically. Resuming is
// load_training_state() into a model and optimizer built as the run began, then fit() with
// FitOptions::initial_history; what the data loader draws is a function of (seed, epoch) and needs no saving.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ember/optim/optimizer.hpp"
#include "ember/io/checkpoint.hpp"
#include "ember/train/history.hpp"

namespace ember::train {

inline constexpr const char* kTrainingStateFormat = "ember-training-state";
inline constexpr const char* kTrainingStateVersion = "1";

/// A training state read back: the epochs it had completed and the file's metadata (the caller's entries and
/// ember's: format, architecture, optimizer, iterations, ...).
struct TrainingState {
    History history;
    std::map<std::string, std::string> metadata;
};

namespace state_detail {
using nlohmann::json;

/// NaN (a figure not measured) as null and infinities as "inf" / "-inf", which JSON lacks (nlohmann would write
/// null for both); finite doubles dump exactly.
inline json number(double v) {
    if (std::isnan(v)) return json(nullptr);
    if (std::isinf(v)) return json(v > 0 ? "inf" : "-inf");
    return json(v);
}
inline double number(const json& j) {
    if (j.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (j == "inf") return std::numeric_limits<double>::infinity();
    if (j == "-inf") return -std::numeric_limits<double>::infinity();
    return j.get<double>();  // json::type_error for any other string
}

/// The history as a JSON array of {"epoch": e, <figure>: value, ...}, the figures in their order (ordered_json:
/// a plain json object would sort them, and history.csv's columns follow that order).
inline std::string history_json(const History& h) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& e : h.epochs) {
        nlohmann::ordered_json r = {{"epoch", e.epoch}};
        for (const auto& [name, v] : e.values) r[name] = number(v);
        a.push_back(std::move(r));
    }
    return a.dump();
}

inline History parse_history(const std::string& text, const std::string& where) {
    History h;
    try {
        for (const auto& e : nlohmann::ordered_json::parse(text)) {
            EpochRecord r;
            r.epoch = e.at("epoch").get<int>();
            for (const auto& [name, v] : e.items())
                if (name != "epoch") r.set(name, number(json(v)));
            h.epochs.push_back(r);
        }
    } catch (const json::exception& e) {
        throw ValueError(detail::cat(where, ": its history cannot be read (", e.what(), ")"));
    }
    return h;
}

/// The generators' states as JSON: {"dropout.mask": {"words": ["<u64>", x4], "has_spare": b, "spare": x}} (the
/// words as decimal strings: JSON readers keep integers only to 2^53).
inline std::string generators_json(const std::vector<std::pair<std::string, Generator*>>& gens) {
    json j = json::object();
    for (const auto& [name, gen] : gens) {
        const auto st = gen->state();
        json words = json::array();
        for (auto w : st.words) words.push_back(std::to_string(w));
        j[name] = {{"words", words}, {"has_spare", st.has_spare}, {"spare", st.spare}};
    }
    return j.dump();
}
}  // namespace state_detail

/// Saves the training state of a built `model` and its optimizer `opt` after the epochs of `history` to `path`
/// (atomically: "<path>.tmp", then a rename), with the caller's `metadata` (e.g. the run's options, to check that
/// a resumed run is the same run). Call it where the model holds its raw weights (Callback::on_backup, as BackupAndRestore does);
/// StateError while an optimizer's moving averages are swapped in.
template <Real T>
void save_training_state(const std::filesystem::path& path, nn::Module<T>& model, const optim::Optimizer<T>& opt,
                         const History& history, std::map<std::string, std::string> metadata = {}) {
    EMBER_CHECK(model.built(), StateError, "save_training_state: the model is not built");
    std::vector<std::pair<std::string, Tensor<T>>> tensors;
    for (auto& p : model.named_weights()) tensors.emplace_back("model/" + p.name, p.value);
    for (auto& [name, t] : opt.named_state()) tensors.emplace_back("optimizer/" + name, t);
    metadata["format"] = kTrainingStateFormat;
    metadata["format_version"] = kTrainingStateVersion;
    metadata["input_shape"] = model.input_shape().str();
    metadata["architecture"] = io::architecture_string(model);
    metadata["optimizer"] = opt.name();
    metadata["iterations"] = std::to_string(opt.iterations());
    metadata["learning_rate"] = nlohmann::json(opt.learning_rate()).dump();
    metadata["generators"] = state_detail::generators_json(model.named_generators());
    metadata["history"] = state_detail::history_json(history);
    io::save_safetensors<T>(path, tensors, metadata);
}

/// Reads a training state into a built `model` and an optimizer `opt` over its parameters (both constructed as
/// the run began: the learning rate is not restored, since fit() sets each epoch's rate from the initial one,
/// by its schedule or by replaying ReduceLROnPlateau over the history). Checks everything before changing
/// anything: IoError for an unreadable, truncated or malformed file, ValueError naming the first mismatch (another
/// format, architecture or optimizer, a missing, extra, misshapen or mistyped tensor, other generators) or the first
/// weight or optimizer tensor that holds a NaN or an infinity - the model and optimizer are then left as they were.
template <Real T>
TrainingState load_training_state(const std::filesystem::path& path, nn::Module<T>& model, optim::Optimizer<T>& opt) {
    EMBER_CHECK(model.built(), StateError, "load_training_state: build the model before loading '", path.string(), "'");
    auto file = io::load_safetensors<T>(path);
    const std::string where = io::checkpoint_detail::check_header(file, path, "training state", kTrainingStateFormat,
                                                              kTrainingStateVersion, model);
    const auto meta = [&](const char* key) {
        auto it = file.metadata.find(key);
        return it == file.metadata.end() ? std::string("(missing)") : it->second;
    };
    EMBER_CHECK(meta("optimizer") == opt.name(), ValueError, where, " is the state of optimizer ", meta("optimizer"),
                ", not of ", opt.name());
    std::vector<std::pair<std::string, Tensor<T>>> targets;
    for (auto& p : model.named_weights()) targets.emplace_back("model/" + p.name, p.value);
    for (auto& [name, t] : opt.named_state()) targets.emplace_back("optimizer/" + name, t);
    for (const auto& [name, t] : targets)
        io::checkpoint_detail::check_tensor(file, where, name, t.shape(), "the model and optimizer",
                                        name.starts_with("optimizer/ema/") ? " (was the run's optimizer without a moving average?)" : "");
    // float and integer tensors; not a structured binding: clang 14 cannot capture one
    for (const auto& entry : file.dtypes) {
        const std::string& name = entry.first;
        EMBER_CHECK(std::any_of(targets.begin(), targets.end(), [&](const auto& x) { return x.first == name; }), ValueError,
                    where, " has a tensor '", io::detail::shown(name), "' that the model and optimizer do not have",
                    name.starts_with("optimizer/ema/") ? " (the run's optimizer kept a moving average)" : "");
    }
    for (const auto& target : targets) io::checkpoint_detail::check_finite(file, where, target.first, "training state");
    std::int64_t iterations = -1;
    std::vector<std::pair<Generator*, Generator::State>> states;
    try {
        iterations = std::stoll(meta("iterations"));
        const auto gens = model.named_generators();
        const auto j = nlohmann::json::parse(meta("generators"));
        EMBER_CHECK(j.size() == gens.size(), ValueError, where, " holds ", j.size(), " generator(s), the model has ",
                    gens.size());
        for (const auto& [name, gen] : gens) {
            EMBER_CHECK(j.contains(name), ValueError, where, " has no state for the model's generator '", name, "'");
            Generator::State st;
            const nlohmann::json& g = j.at(name);
            EMBER_CHECK(g.at("words").size() == 4, ValueError, where, ": generator '", name, "' has ",
                        g.at("words").size(), " state words, expected 4");
            for (std::size_t i = 0; i < 4; ++i) st.words[i] = std::stoull(g.at("words")[i].get<std::string>());
            st.has_spare = g.at("has_spare").get<bool>();
            st.spare = g.at("spare").get<double>();
            states.emplace_back(gen, st);
        }
    } catch (const nlohmann::json::exception& e) {
        throw ValueError(detail::cat(where, ": its generator states cannot be read (", e.what(), ")"));
    } catch (const std::logic_error& e) {  // stoll / stoull
        throw ValueError(detail::cat(where, ": a step count or generator word is not a number (", e.what(), ")"));
    }
    EMBER_CHECK(iterations >= 0, ValueError, where, ": iterations must be >= 0, got ", iterations);
    TrainingState out{state_detail::parse_history(meta("history"), where), file.metadata};
    // Everything checked: now change the model and the optimizer.
    for (auto& [name, t] : targets) t.copy_from(file.tensors.at(name));
    opt.set_iterations(iterations);
    for (auto& [gen, st] : states) gen->set_state(st);
    return out;
}

}  // namespace ember::train
