// examples/melanoma/train_options.cpp - the table of `melanoma train`'s options and what is generated from it: the
// CLI11 options, the run options backup.safetensors records, the --resume checks and the checkpoint metadata.
#include "train_options.hpp"

#include "model.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <iostream>
#include <type_traits>
#include <utility>

namespace melanoma {

namespace {

/// An integer as std::to_string writes it, a double exactly, a word as it is, a flag "on" / "off".
template <class T>
std::string value_text(const T& v) {
    if constexpr (std::is_same_v<T, bool>) return v ? "on" : "off";
    else if constexpr (std::is_integral_v<T>) return std::to_string(v);
    else if constexpr (std::is_floating_point_v<T>) return exact(v);
    else if constexpr (std::is_same_v<T, fs::path>) return v.string();
    else if constexpr (std::is_same_v<T, std::string>) return v;
    else {  // a list: its items' texts, comma-separated
        std::string s;
        for (const auto& item : v) s += (s.empty() ? "" : ",") + value_text(item);
        return s;
    }
}

/// A recipe value of the wrong JSON type: "recipe 'r.json': \"epochs\" must be an integer, got 2.5".
[[noreturn]] void wrong_type(const std::string& key, const char* want, const json& value) {
    throw RecipeError("\"" + key + "\" must be " + want + ", got " + value.dump());
}

/// A member's value from a recipe's JSON value of the member's type.
template <class T>
T value_from_json(const json& v, const std::string& key) {
    if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) wrong_type(key, "true or false", v);
        return v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
        // 2.0 is refused as an integer would be on the command line; a value beyond T's range is out of every range
        if (!v.is_number_integer()) wrong_type(key, "an integer", v);
        if (v.is_number_unsigned() ? v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                                   : v.get<std::int64_t>() < static_cast<std::int64_t>(std::numeric_limits<T>::min()))
            throw RecipeError("\"" + key + "\" is out of range, got " + v.dump());
        return v.get<T>();
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!v.is_number()) wrong_type(key, "a number", v);
        return v.get<T>();
    } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, fs::path>) {
        if (!v.is_string()) wrong_type(key, "a string", v);
        return T(v.get<std::string>());
    } else {  // a list of numbers
        if (!v.is_array()) wrong_type(key, "a list of numbers", v);
        T list;
        for (const json& item : v) list.push_back(value_from_json<typename T::value_type>(item, key));
        return list;
    }
}

/// The binding of a TrainArgs member: a CLI11 flag for a bool, else an option of the member's type.
template <class T>
Binding member(T TrainArgs::*m) {
    return {.add = [m](CLI::App& sub, TrainArgs& a, const std::string& flag, const std::string& help) {
                if constexpr (std::is_same_v<T, bool>) return sub.add_flag(flag, a.*m, help);
                else return sub.add_option(flag, a.*m, help);
            },
            .text = [m](const TrainArgs& a) { return value_text(a.*m); },
            .to_json = [m](const TrainArgs& a) {
                if constexpr (std::is_same_v<T, fs::path>) return json((a.*m).string());
                else return json(a.*m);
            },
            .from_json = [m](TrainArgs& a, const json& v, const std::string& key) { a.*m = value_from_json<T>(v, key); }};
}

// ---- the rules of --resume for options that differ ------------------------------------------------------------

/// --epochs: a run may go on for more epochs (or fewer, not below those done), unless its schedule follows them.
void epochs_may_grow(const ResumeCheck& c, const std::string&, const std::string& was, const std::string& now) {
    const int epochs = std::stoi(now), was_epochs = std::stoi(was);
    if (c.now.at("--lr-schedule").get<std::string>() == "cosine")
        c.refuse("--lr-schedule cosine decays over --epochs, and the run's " + std::to_string(c.done) +
                 " epochs followed the curve of --epochs " + std::to_string(was_epochs) + ", not " + std::to_string(epochs));
    if (static_cast<std::size_t>(epochs) < c.done)
        c.refuse("--epochs " + std::to_string(epochs) + " is fewer than the " + std::to_string(c.done) + " epochs the run has done");
    std::cout << "The run was started for " << was_epochs << (was_epochs == 1 ? " epoch" : " epochs")
              << "; it goes on to --epochs " << epochs << " (from the epoch after those done)\n";
}

/// --threads: the same run, but sums may be taken in another order.
void threads_may_change(const ResumeCheck&, const std::string&, const std::string& was, const std::string& now) {
    std::cerr << "warning: --resume: the run trained on " << was << " thread(s), this command uses " << now
              << ": sums may be taken in another order, so the result can differ in its last bits from an "
                 "uninterrupted run\n";
}

/// --alert-sensitivity, --alert-threshold: the threshold changes no weight. It is chosen (or given) again when
/// the run ends, for the model the run keeps, so a resumed run may ask for another one.
void alert_may_change(const ResumeCheck&, const std::string& flag, const std::string& was, const std::string& now) {
    std::cout << "The run was started with " << flag << " " << was << "; its model's alert threshold will follow " << flag
              << " " << now << "\n";
}

/// --data: recorded by what the folders held, so the refusal says that, not two fingerprints.
void other_train_folder(const ResumeCheck& c, const std::string&, const std::string&, const std::string&) {
    c.refuse("the Train folder does not hold the images (names and labels) the run in " +
             c.backup.parent_path().string() + " was trained on");
}

// ---- the table ------------------------------------------------------------------------------------------------

/// The table, in --help's order. Every numeric option has a `range` (ranges:: in train_options.hpp); the help of
/// an option with a range or `choices` states them where they are not plain, and CLI11 refuses other values as it
/// parses, before any file is read.
const std::vector<TrainOption> kTrainOptions{
    {.flag = "--recipe", .bind = member(&TrainArgs::recipe),
     .help = "recipe file (examples/melanoma/recipes/*.json): the model and how it is trained; flags given here "
             "override its fields",
     .scope = Scope::flag, .show_default = false, .resume = Resume::ignored},
    {.flag = "--data", .bind = member(&TrainArgs::data),
     .help = "dataset folder (Train/ is used); without it the public copy is downloaded", .scope = Scope::flag,
     .show_default = false, .meta_key = "train_folder",
     .recorded = [](const TrainArgs&, const Resolved& r) { return r.train_folder; },
     .on_change = other_train_folder},
    {.flag = "--out", .bind = member(&TrainArgs::out), .help = "run folder: checkpoint, history.csv, plots, val_metrics.json",
     .scope = Scope::flag, .show_default = false, .resume = Resume::ignored},
    {.flag = "--model", .bind = member(&TrainArgs::model), .help = "the network: reference-cnn (the Keras original's) or ember-separable (depthwise-separable "
                                                                  "convolutions, batch-normalized)",
     .scope = Scope::recipe, .choices = kModelNames, .meta_key = "model"},
    {.flag = "--epochs", .bind = member(&TrainArgs::epochs), .help = "epochs", .range = ranges::epochs,
     .resume = Resume::may_change, .on_change = epochs_may_grow},
    {.flag = "--batch", .bind = member(&TrainArgs::batch),
     .help = "batch size (at most 4096; one larger than the training side is capped to it, with a note)",
     .range = ranges::batch},
    {.flag = "--seed", .bind = member(&TrainArgs::seed),
     .help = "seed of the split, initial weights, shuffling, dropout and augmentation", .range = ranges::seed,
     .meta_key = "seed"},
    {.flag = "--val-split", .bind = member(&TrainArgs::val_split),
     .help = "validation fraction; 0: train on all of Train without validation (the last epoch is the model; "
             "needs --alert-threshold)",
     .range = ranges::validation, .meta_key = "val_split"},
    {.flag = "--split", .bind = member(&TrainArgs::split), .help = "stratified | keras (Keras' image_dataset_from_directory split)",
     .scope = Scope::recipe, .choices = kSplitKinds, .meta_key = "split",
     .meta_value = [](const TrainArgs& a, const Resolved&) { return a.val_split > 0 ? a.split : std::string("none"); }},
    {.flag = "--augment", .bind = member(&TrainArgs::augment),
     .help = "none | flip-rotate-zoom (Keras RandomFlip, RandomRotation(rotation), RandomZoom(zoom), the same zoom "
             "on both axes)",
     .scope = Scope::recipe, .choices = {"none", "flip-rotate-zoom"}, .meta_key = "augment"},
    {.flag = "--rotation", .bind = member(&TrainArgs::rotation),
     .help = "flip-rotate-zoom's RandomRotation factor (0.2: up to 72 degrees either way)", .scope = Scope::recipe,
     .range = ranges::rotation},
    {.flag = "--zoom", .bind = member(&TrainArgs::zoom),
     .help = "flip-rotate-zoom's RandomZoom height_factor, lower and upper (positive: zoom out; -0.1 0.1 is Keras' "
             "RandomZoom(0.1))",
     .scope = Scope::recipe, .range = ranges::zoom, .values = 2},
    {.flag = "--color-constancy", .bind = member(&TrainArgs::color_constancy),
     .help = "none | shades-of-gray (Shades of Gray, p = 6, on every image before anything else; evaluate and "
             "predict then do the same, from the checkpoint)",
     .scope = Scope::recipe, .choices = {"none", "shades-of-gray"}, .meta_key = "color_constancy"},
    {.flag = "--color-jitter", .bind = member(&TrainArgs::color_jitter),
     .help = "training-side colour augmentation, 4 numbers: brightness contrast saturation hue (torchvision's "
             "ColorJitter; e.g. 0.2 0.2 0.2 0.02; default off)",
     .scope = Scope::recipe, .range = ranges::strength, .values = 4, .show_default = false, .meta_key = "color_jitter",
     .recorded = [](const TrainArgs&, const Resolved& r) { return r.color_jitter; }},
    {.flag = "--stretch", .bind = member(&TrainArgs::stretch),
     .help = "training-side random horizontal stretch: the content's width is scaled by a ratio drawn "
             "log-uniformly in [1/R, R] (torchvision RandomResizedCrop's aspect ratio; 1: off)",
     .scope = Scope::recipe, .range = ranges::ratio},
    {.flag = "--rebalance", .bind = member(&TrainArgs::rebalance),
     .help = "extra samples per class, Augmentor style (0: off; the seed used 500)", .scope = Scope::recipe,
     .range = ranges::per_class},
    {.flag = "--class-weights", .bind = member(&TrainArgs::class_weights),
     .help = "weight the training loss by inverse class frequency (validation stays unweighted, as in Keras)",
     .scope = Scope::recipe},
    {.flag = "--dedup", .bind = member(&TrainArgs::dedup),
     .help = "before splitting, keep one copy of identical images in a class and drop images filed under several classes",
     .scope = Scope::recipe,
     .meta_key = "dedup",
     .meta_value = [](const TrainArgs& a, const Resolved&) { return std::string(a.dedup ? "true" : "false"); }},
    {.flag = "--threads", .bind = member(&TrainArgs::threads), .help = kThreadsHelp, .scope = Scope::flag,
     .range = ranges::threads, .resume = Resume::may_change,
     .recorded = [](const TrainArgs&, const Resolved& r) { return std::to_string(r.threads); },
     .on_change = threads_may_change},
    {.flag = "--loader-threads", .bind = member(&TrainArgs::loader_threads),
     .help = "threads that assemble and augment the next training batch while one trains (results do not depend on it)",
     .scope = Scope::flag, .range = ranges::count, .resume = Resume::ignored},
    {.flag = "--lr", .bind = member(&TrainArgs::lr), .help = "Adam learning rate", .range = ranges::rate},
    {.flag = "--weight-decay", .bind = member(&TrainArgs::weight_decay),
     .help = "decoupled weight decay, as Keras' AdamW (0: off)", .scope = Scope::recipe, .range = ranges::strength},
    {.flag = "--label-smoothing", .bind = member(&TrainArgs::label_smoothing),
     .help = "label smoothing e: the target is (1 - e) * one-hot + e / classes (0: off)", .scope = Scope::recipe,
     .range = ranges::smoothing},
    {.flag = "--global-clipnorm", .bind = member(&TrainArgs::global_clipnorm),
     .help = "gradients scaled together to an L2 norm of at most this, as Keras' global_clipnorm (0: off)",
     .scope = Scope::recipe, .range = ranges::strength},
    {.flag = "--ema", .bind = member(&TrainArgs::ema),
     .help = "momentum of a moving average of the weights (Keras' use_ema; 0: off): validation and checkpoints use "
             "the average",
     .scope = Scope::recipe, .range = ranges::momentum},
    {.flag = "--lr-schedule", .bind = member(&TrainArgs::lr_schedule),
     .help = "constant | cosine (decays towards 0 over the epochs) | step (halve every 10 epochs) | plateau (halve "
             "after 3 epochs without a better monitored value, Keras' ReduceLROnPlateau)",
     .scope = Scope::recipe, .choices = {"constant", "cosine", "step", "plateau"}},
    {.flag = "--patience", .bind = member(&TrainArgs::patience),
     .help = "early stopping: epochs without a better monitored value (0: off)", .scope = Scope::recipe,
     .range = ranges::off_or_count},
    {.flag = "--monitor", .bind = member(&TrainArgs::monitor),
     .help = "what picks the best checkpoint and drives early stopping and the plateau schedule",
     .scope = Scope::recipe, .choices = {"val_accuracy", "val_balanced_accuracy", "val_loss"}},
    {.flag = "--alert-sensitivity", .bind = member(&TrainArgs::alert_sensitivity),
     .help = "melanoma sensitivity the alert threshold is chosen for, on validation", .scope = Scope::recipe,
     .range = ranges::probability, .resume = Resume::may_change, .on_change = alert_may_change},
    {.flag = "--alert-threshold", .bind = member(&TrainArgs::alert_threshold),
     .help = "with --val-split 0: the melanoma alert threshold to store (there is no validation split to choose it on)",
     .scope = Scope::flag, .range = ranges::probability, .show_default = false, .resume = Resume::may_change,
     .on_change = alert_may_change},
    {.flag = "--strict", .bind = member(&TrainArgs::strict), .help = "a corrupt image is fatal (default: skipped with a warning)",
     .scope = Scope::flag, .resume = Resume::ignored},
    {.flag = "--resume", .bind = member(&TrainArgs::resume),
     .help = "go on from the run folder's backup.safetensors (written after each epoch) as if the run had never "
             "stopped: the same options are required (--epochs may change, not below the epochs done, except with "
             "a cosine schedule); without a backup the run starts from its first epoch",
     .scope = Scope::flag, .resume = Resume::ignored},
    {.flag = "--limit", .bind = member(&TrainArgs::limit),
     .help = "use a seeded sample of at most this many training images (quick checks; 0: every image)",
     .scope = Scope::flag, .range = ranges::limit, .show_default = false},
};

/// An entry's text in the run options.
std::string recorded_text(const TrainOption& o, const TrainArgs& a, const Resolved& r) {
    return o.recorded ? o.recorded(a, r) : o.bind.text(a);
}

}  // namespace

std::string refusal(const Range& range, const std::string& value) {
    // The text is read as C's strtod reads it ("nan", "inf", "1e400" = inf), in full; an integer is digits only,
    // so "2.5", "1e3" and "inf" are not one. What is not a number at all is refused with the rule too.
    const char* begin = value.c_str();
    char* end = nullptr;
    const double x = std::strtod(begin, &end);
    const bool number = !value.empty() && end == begin + value.size();
    const std::size_t sign = !value.empty() && (value[0] == '-' || value[0] == '+') ? 1 : 0;
    const bool integer = value.size() > sign && value.find_first_not_of("0123456789", sign) == std::string::npos;
    if (range.integer && !integer) return std::string("must be an integer ") + range.rule + ", got " + value;
    if (!number || !range.ok(x)) return std::string("must be ") + range.rule + ", got " + value;
    if (x > range.max)  // an integer's cap as digits ("100000", not exact()'s "1e+05")
        return "must be <= " + (range.integer ? std::to_string(static_cast<long long>(range.max)) : exact(range.max)) +
               ", got " + value;
    return {};
}

CLI::Option* in_range(CLI::Option* option, Range range) {
    const auto check = [range, flag = option->get_name()](const std::string& v) {
        std::string why = refusal(range, v);
        // a ParseError that is not CLI11's ValidationError leaves the validator as it is, without CLI11's prefix
        if (!why.empty() && range.sentence) throw CLI::ParseError(flag + " " + why, CLI::ExitCodes::ValidationError);
        return why;
    };
    return option->check(check, range.label);
}

const std::vector<TrainOption>& train_options() { return kTrainOptions; }

void add_train_options(CLI::App& train, TrainArgs& a) {
    for (const TrainOption& o : train_options()) {
        if (o.scope == Scope::recipe) continue;
        CLI::Option* option = o.bind.add(train, a, o.flag, o.help);
        if (o.range.ok) in_range(option, o.range);
        if (!o.choices.empty()) option->check(CLI::IsMember(o.choices));
        if (o.values > 0) option->expected(o.values);
        if (o.show_default && option->get_type_size_min() > 0) option->capture_default_str();  // a flag has no value to show
    }
}

json run_options(const TrainArgs& a, const Resolved& r) {
    json j = json::object();
    for (const TrainOption& o : train_options())
        if (o.resume != Resume::ignored) j[o.flag] = recorded_text(o, a, r);
    return j;
}

void ResumeCheck::refuse(const std::string& why) const {
    throw UsageError("--resume: " + why + "; resume with the run's options, or train into another --out folder");
}

void resume_checks(const ResumeCheck& c) {
    // First what must match, so that a refusal comes before any note on what may change.
    for (const TrainOption& o : train_options()) {
        if (o.resume == Resume::ignored) continue;
        const std::string now = c.now.at(o.flag).get<std::string>();
        if (!c.recorded.contains(o.flag)) c.refuse(c.backup.string() + " does not record " + o.flag);
        const std::string was = c.recorded.at(o.flag).get<std::string>();
        if (was == now || o.resume != Resume::must_match) continue;
        if (o.on_change) o.on_change(c, o.flag, was, now);  // a refusal that says more
        c.refuse(std::string("the run was trained with ") + o.flag + " " + was + ", this command has " + o.flag + " " + now);
    }
    for (const TrainOption& o : train_options()) {
        if (o.resume != Resume::may_change || !c.recorded.contains(o.flag)) continue;
        const std::string was = c.recorded.at(o.flag).get<std::string>(), now = c.now.at(o.flag).get<std::string>();
        if (was != now) o.on_change(c, o.flag, was, now);
    }
}

std::map<std::string, std::string> option_metadata(const TrainArgs& a, const Resolved& r) {
    std::map<std::string, std::string> meta;
    for (const TrainOption& o : train_options())
        if (o.meta_key) meta[o.meta_key] = o.meta_value ? o.meta_value(a, r) : recorded_text(o, a, r);
    return meta;
}

// ---- recipes ----------------------------------------------------------------------------------------------------

namespace {

/// A recipe's key for an option: "--lr-schedule" -> "lr_schedule".
std::string recipe_key(const char* flag) {
    std::string key = std::string(flag).substr(2);
    std::replace(key.begin(), key.end(), '-', '_');
    return key;
}

/// The option a recipe key names, or nullptr (a key of a flag-only option names none).
const TrainOption* recipe_option(const std::string& key) {
    for (const TrainOption& o : train_options())
        if (o.scope != Scope::flag && recipe_key(o.flag) == key) return &o;
    return nullptr;
}

/// The keys a recipe may hold, for the refusal of one it may not.
std::string recipe_keys() {
    std::string keys = "name, description";
    for (const TrainOption& o : train_options())
        if (o.scope != Scope::flag) keys += ", " + recipe_key(o.flag);
    return keys;
}

/// A field checked as its flag is on the command line: its type, then its range (on the value's text, so a recipe
/// and a flag are refused alike) or its choices.
void check_field(const TrainOption& o, const std::string& key, const json& value) {
    // the default, as recipe_of() records it (color_jitter []); of the same JSON type (50.0 equals 50 in JSON)
    if (const json def = o.bind.to_json(TrainArgs{}); value == def && value.type() == def.type()) return;
    TrainArgs probe;
    o.bind.from_json(probe, value, key);  // the type
    const json items = value.is_array() ? value : json::array({value});
    if (o.values > 0 && value.is_array() && static_cast<int>(value.size()) != o.values)
        throw RecipeError("\"" + key + "\" must be a list of " + std::to_string(o.values) + " numbers, got " + value.dump());
    for (const json& item : items) {
        if (o.range.ok) {
            const std::string text = item.is_number_float() ? exact(item.get<double>()) : item.dump();
            if (const std::string why = refusal(o.range, text); !why.empty())
                throw RecipeError("\"" + key + "\" " + why);
        }
        if (!o.choices.empty() && std::find(o.choices.begin(), o.choices.end(), item.get<std::string>()) == o.choices.end()) {
            std::string list;
            for (const auto& c : o.choices) list += (list.empty() ? "" : " | ") + c;
            throw RecipeError("\"" + key + "\" must be one of " + list + ", got " + item.dump());
        }
    }
}

}  // namespace

json parse_recipe(const std::string& text, const std::string& where) {
    // nesting is bounded while parsing: an object of fields, a list of numbers in a field, no deeper
    std::set<std::string> keys;  // a key given twice would silently take its last value
    const auto bounded = [&keys](int depth, json::parse_event_t event, json& parsed) {
        if (depth > 2) throw RecipeError("nested deeper than a list in a field");
        if (event == json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second)
            throw RecipeError("key " + parsed.dump() + " is given twice");
        return true;
    };
    json recipe;
    try {
        recipe = json::parse(text, bounded);
    } catch (const RecipeError& e) {
        throw RecipeError("recipe " + where + ": " + e.what());
    } catch (const json::exception& e) {
        throw RecipeError("recipe " + where + " is not valid JSON: " + e.what());
    }
    if (!recipe.is_object()) throw RecipeError("recipe " + where + " must be a JSON object of fields, got " + recipe.type_name());
    for (const auto& [key, value] : recipe.items()) {
        try {
            if (key == "name" || key == "description") {
                if (!value.is_string()) wrong_type(key, "a string", value);
                continue;
            }
            const TrainOption* o = recipe_option(key);
            if (!o) throw RecipeError("unknown key \"" + key + "\" (a recipe holds " + recipe_keys() + ")");
            check_field(*o, key, value);
        } catch (const RecipeError& e) {
            throw RecipeError("recipe " + where + ": " + e.what());
        }
    }
    return recipe;
}

void apply_recipe(TrainArgs& a, const fs::path& file) {
    const std::string where = "'" + file.string() + "'";
    std::error_code ec;
    const std::uintmax_t bytes = fs::file_size(file, ec);
    if (ec || !fs::is_regular_file(file)) throw RecipeError("recipe " + where + " is not a readable file");
    if (bytes > kMaxRecipeBytes)
        throw RecipeError("recipe " + where + " holds " + std::to_string(bytes) + " bytes; a recipe is at most " +
                          std::to_string(kMaxRecipeBytes));
    std::ifstream in(file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw RecipeError("recipe " + where + " could not be read");
    const json recipe = parse_recipe(text, where);
    for (const auto& [key, value] : recipe.items()) {
        const TrainOption* o = recipe_option(key);
        if (o && !a.given.contains(o->flag)) o->bind.from_json(a, value, key);
    }
}

void check_fold_recipe(const TrainArgs& a) {
    if (a.patience > 0 || a.lr_schedule == "plateau")
        throw UsageError(std::string("cross-validation trains each fold for its epochs: ") +
                         (a.patience > 0 ? "\"patience\"" : "\"lr_schedule\": \"plateau\"") +
                         " would choose on the held-out fold, whose scores must stay out of fold");
}

json recipe_of(const TrainArgs& a) {
    json j = json::object();
    for (const TrainOption& o : train_options())
        if (o.scope != Scope::flag) j[recipe_key(o.flag)] = o.bind.to_json(a);
    return j;
}

}  // namespace melanoma
