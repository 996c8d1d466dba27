// examples/melanoma/train_options.cpp - the table of `melanoma train`'s options and what is generated from it: the
// CLI11 options, the run options backup.safetensors records, the --resume checks and the checkpoint metadata.
#include "train_options.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
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

/// The binding of a TrainArgs member: a CLI11 flag for a bool, else an option of the member's type.
template <class T>
Binding member(T TrainArgs::*m) {
    return {.add = [m](CLI::App& sub, TrainArgs& a, const std::string& flag, const std::string& help) {
                if constexpr (std::is_same_v<T, bool>) return sub.add_flag(flag, a.*m, help);
                else return sub.add_option(flag, a.*m, help);
            },
            .text = [m](const TrainArgs& a) { return value_text(a.*m); }};
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

/// --data, --extra-train: recorded by what the folders held, so the refusal says that, not two fingerprints.
void other_train_folder(const ResumeCheck& c, const std::string&, const std::string&, const std::string&) {
    c.refuse("the Train folder does not hold the images (names and labels) the run in " +
             c.backup.parent_path().string() + " was trained on");
}
void other_extra_folders(const ResumeCheck& c, const std::string&, const std::string&, const std::string&) {
    c.refuse("the --extra-train folders do not hold the images (names and labels) the run was trained on");
}

// ---- the table ------------------------------------------------------------------------------------------------

/// The table, in --help's order. Every numeric option has a `range` (ranges:: in train_options.hpp); the help of
/// an option with a range or `choices` states them where they are not plain, and CLI11 refuses other values as it
/// parses, before any file is read.
const std::vector<TrainOption> kTrainOptions{
    {.flag = "--data", .bind = member(&TrainArgs::data),
     .help = "dataset folder (Train/ is used); without it the public copy is downloaded",
     .show_default = false, .meta_key = "train_folder",
     .recorded = [](const TrainArgs&, const Resolved& r) { return r.train_folder; },
     .on_change = other_train_folder},
    {.flag = "--out", .bind = member(&TrainArgs::out), .help = "run folder: checkpoint, history.csv, plots, val_metrics.json",
     .show_default = false, .resume = Resume::ignored},
    {.flag = "--epochs", .bind = member(&TrainArgs::epochs), .help = "epochs", .range = ranges::epochs,
     .resume = Resume::may_change, .on_change = epochs_may_grow},
    {.flag = "--batch", .bind = member(&TrainArgs::batch),
     .help = "batch size (at most 4096; one larger than the training side is capped to it, with a note)",
     .range = ranges::batch},
    {.flag = "--seed", .bind = member(&TrainArgs::seed),
     .help = "seed of the split, initial weights, shuffling, dropout and augmentation", .range = ranges::seed,
     .meta_key = "seed"},
    {.flag = "--split-seed", .bind = member(&TrainArgs::split_seed),
     .help = "seed of the split alone (default: --seed); runs that differ only in --seed then share a validation "
             "split, and their ensemble can be judged on it",
     .range = ranges::split_seed, .show_default = false, .meta_key = "split_seed",
     .recorded = [](const TrainArgs&, const Resolved& r) { return std::to_string(r.split_seed); }},
    {.flag = "--val-split", .bind = member(&TrainArgs::val_split),
     .help = "validation fraction; 0: train on all of Train without validation (the last epoch is the model; "
             "needs --alert-threshold)",
     .range = ranges::validation, .meta_key = "val_split"},
    {.flag = "--split", .bind = member(&TrainArgs::split), .help = "stratified | keras (Keras' image_dataset_from_directory split)",
     .choices = kSplitKinds, .meta_key = "split",
     .meta_value = [](const TrainArgs& a, const Resolved&) { return a.val_split > 0 ? a.split : std::string("none"); }},
    {.flag = "--augment", .bind = member(&TrainArgs::augment),
     .help = "none | flip-rotate-zoom (Keras RandomFlip, RandomRotation(0.2), RandomZoom(height_factor=(0.2, 0.3)), "
             "the same zoom on both axes)",
     .choices = {"none", "flip-rotate-zoom"}, .meta_key = "augment"},
    {.flag = "--color-constancy", .bind = member(&TrainArgs::color_constancy),
     .help = "none | shades-of-gray (Shades of Gray, p = 6, on every image before anything else; evaluate and "
             "predict then do the same, from the checkpoint)",
     .choices = {"none", "shades-of-gray"}, .meta_key = "color_constancy"},
    {.flag = "--color-jitter", .bind = member(&TrainArgs::color_jitter),
     .help = "training-side colour augmentation, 4 numbers: brightness contrast saturation hue (torchvision's "
             "ColorJitter; e.g. 0.2 0.2 0.2 0.02; default off)",
     .range = ranges::strength, .values = 4, .show_default = false, .meta_key = "color_jitter",
     .recorded = [](const TrainArgs&, const Resolved& r) { return r.color_jitter; }},
    {.flag = "--channel-gain", .bind = member(&TrainArgs::channel_gain),
     .help = "training-side random white balance: R, G and B each multiplied by its own gain drawn "
             "log-uniformly in [1/G, G] (a colour cast like another camera's or illuminant's; 1: off)",
     .range = ranges::ratio, .meta_key = "channel_gain", .added_later = true},
    {.flag = "--stretch", .bind = member(&TrainArgs::stretch),
     .help = "training-side random horizontal stretch: the content's width is scaled by a ratio drawn "
             "log-uniformly in [1/R, R] (torchvision RandomResizedCrop's aspect ratio; 1.3333 covers a 4:3 "
             "image squashed to a square and its centre square; 1: off); with flip-rotate-zoom it shares the "
             "zoom's resampling",
     .range = ranges::ratio, .meta_key = "stretch"},
    {.flag = "--rebalance", .bind = member(&TrainArgs::rebalance),
     .help = "extra samples per class, Augmentor style (0: off; the seed used 500)", .range = ranges::off_or_count,
     .meta_key = "rebalance"},
    {.flag = "--extra-train", .bind = member(&TrainArgs::extra_train),
     .help = "another folder of class folders (a subset of Train's classes) added to the training side only, "
             "after the split; images identical to Train images are dropped; repeatable",
     .show_default = false, .meta_key = "extra_train",
     .recorded = [](const TrainArgs&, const Resolved& r) {  // by what the folders held, as --data
         json prints = json::array();
         for (const auto& folder : r.extra_train) prints.push_back(folder.at("fingerprint"));
         return prints.dump();
     },
     .meta_value = [](const TrainArgs&, const Resolved& r) { return r.extra_train.dump(); },  // with the folders
     .on_change = other_extra_folders},
    {.flag = "--class-weights", .bind = member(&TrainArgs::class_weights),
     .help = "weight the training loss by inverse class frequency (validation stays unweighted, as in Keras)"},
    {.flag = "--dedup", .bind = member(&TrainArgs::dedup),
     .help = "before splitting, keep one copy of identical images in a class and drop images filed under several classes",
     .meta_key = "dedup",
     .meta_value = [](const TrainArgs& a, const Resolved&) { return std::string(a.dedup ? "true" : "false"); }},
    {.flag = "--threads", .bind = member(&TrainArgs::threads), .help = kThreadsHelp, .range = ranges::threads,
     .resume = Resume::may_change,
     .recorded = [](const TrainArgs&, const Resolved& r) { return std::to_string(r.threads); },
     .on_change = threads_may_change},
    {.flag = "--loader-threads", .bind = member(&TrainArgs::loader_threads),
     .help = "threads that assemble and augment the next training batch while one trains (results do not depend on it)",
     .range = ranges::count, .resume = Resume::ignored},
    {.flag = "--lr", .bind = member(&TrainArgs::lr), .help = "Adam learning rate", .range = ranges::rate},
    {.flag = "--weight-decay", .bind = member(&TrainArgs::weight_decay),
     .help = "decoupled weight decay, as Keras' AdamW (0.004 is its default; 0: off): weights shrink by lr * this "
             "each step",
     .range = ranges::strength, .meta_key = "weight_decay"},
    {.flag = "--label-smoothing", .bind = member(&TrainArgs::label_smoothing),
     .help = "label smoothing e of the loss, as Keras' CategoricalCrossentropy(label_smoothing): the target is "
             "(1 - e) * one-hot + e / classes (e.g. 0.1; 0: off)",
     .range = ranges::smoothing, .meta_key = "label_smoothing"},
    {.flag = "--global-clipnorm", .bind = member(&TrainArgs::global_clipnorm),
     .help = "gradient clipping, as Keras' global_clipnorm: all gradients scaled together to an L2 norm of at "
             "most this before each update (e.g. 1; 0: off)",
     .range = ranges::strength, .meta_key = "global_clipnorm"},
    {.flag = "--ema", .bind = member(&TrainArgs::ema),
     .help = "momentum of a moving average of the weights (Keras' use_ema, e.g. 0.99; 0: off): validation and "
             "checkpoints use the average",
     .range = ranges::momentum, .meta_key = "ema"},
    {.flag = "--lr-schedule", .bind = member(&TrainArgs::lr_schedule),
     .help = "constant | cosine (decays towards 0 over --epochs) | step (halve every 10 epochs) | plateau (halve "
             "after 3 epochs without a better --monitor value, Keras' ReduceLROnPlateau)",
     .choices = {"constant", "cosine", "step", "plateau"}},
    {.flag = "--patience", .bind = member(&TrainArgs::patience),
     .help = "early stopping: epochs without a better monitored value (0: off)", .range = ranges::off_or_count},
    {.flag = "--monitor", .bind = member(&TrainArgs::monitor),
     .help = "what picks the best checkpoint and drives early stopping and --lr-schedule plateau",
     .choices = {"val_accuracy", "val_balanced_accuracy", "val_loss"}},
    {.flag = "--alert-sensitivity", .bind = member(&TrainArgs::alert_sensitivity),
     .help = "melanoma sensitivity the alert threshold is chosen for, on validation", .range = ranges::probability,
     .resume = Resume::may_change, .on_change = alert_may_change},
    {.flag = "--alert-threshold", .bind = member(&TrainArgs::alert_threshold),
     .help = "with --val-split 0: the melanoma alert threshold to store (there is no validation split to choose it on)",
     .range = ranges::probability, .show_default = false, .resume = Resume::may_change, .on_change = alert_may_change},
    {.flag = "--strict", .bind = member(&TrainArgs::strict),
     .help = "a corrupt image is fatal (default: skipped with a warning)", .resume = Resume::ignored},
    {.flag = "--resume", .bind = member(&TrainArgs::resume),
     .help = "go on from the run folder's backup.safetensors (written after each epoch) as if the run had never "
             "stopped: the same options are required (--epochs may change, not below the epochs done, except with "
             "--lr-schedule cosine); without a backup the run starts from its first epoch",
     .resume = Resume::ignored},
    {.flag = "--limit", .bind = member(&TrainArgs::limit),
     .help = "use a seeded sample of at most this many training images (quick checks; 0: every image)",
     .range = ranges::limit, .show_default = false},
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
    if (x > range.max) return "must be <= " + exact(range.max) + ", got " + value;
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
        if (!c.recorded.contains(o.flag)) {
            if (!o.added_later) c.refuse(c.backup.string() + " does not record " + o.flag);
            const std::string off = o.bind.text(TrainArgs{});  // what the run trained with
            if (now == off) continue;
            c.refuse(c.backup.string() + " was written before " + o.flag + " existed: the run trained without it (" + o.flag +
                     " " + off + "), this command has " + o.flag + " " + now);
        }
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

}  // namespace melanoma
