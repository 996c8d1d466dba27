// examples/melanoma/train_options.hpp - the options of `melanoma train`, declared once: a table with one entry per
// option (train_options.cpp), from which the command line, the run's record in backup.safetensors, the checks of
// --resume and the options' part of the checkpoint metadata are generated. Also the ranges and choices the other
// subcommands share with train.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "basics.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace melanoma {

/// The arguments of `melanoma train`. Each member's initializer is its option's default; the option table binds
/// each option to its member.
struct TrainArgs {
    fs::path recipe;  // a recipe file (recipes/*.json): its fields replace the defaults, flags given replace its fields
    fs::path data, out = "runs/melanoma";
    std::string model = "reference-cnn";
    int epochs = 50;
    long batch = 32;
    std::uint64_t seed = 123;
    double val_split = 0.2;
    std::string split = "stratified";
    std::string augment = "none";
    double rotation = 0.2;                   // flip-rotate-zoom: Keras RandomRotation's factor (of a full turn)
    std::vector<double> zoom{0.2, 0.3};      // flip-rotate-zoom: Keras RandomZoom's height_factor (lower, upper)
    std::string color_constancy = "none";
    std::vector<double> color_jitter;  // empty: off; else brightness, contrast, saturation, hue
    double stretch = 1;                // RandomAspect's largest ratio: width scaled by [1/stretch, stretch]; 1: off
    int rebalance = 0;
    bool class_weights = false;
    bool dedup = false;
    int threads = 0;
    int loader_threads = 1;  // threads that assemble and augment each training batch (beside the training threads)
    double lr = 1e-3;
    double weight_decay = 0;  // decoupled (Keras' Adam/AdamW weight_decay); 0: off
    double ema = 0;           // momentum of the weights' moving average (Keras' use_ema); 0: off
    double label_smoothing = 0;  // target (1 - e) * one_hot + e / classes; 0: off
    double global_clipnorm = 0;  // all gradients scaled together to an L2 norm of at most this (Keras'); 0: off
    std::string lr_schedule = "constant";
    int patience = 0;
    std::string monitor = "val_accuracy";
    std::set<std::string> given;  // options given on the command line (not defaulted)
    double alert_sensitivity = 0.9;
    double alert_threshold = -1;  // < 0: chosen on validation; required with --val-split 0
    bool strict = false;
    long limit = 0;  // use at most this many training images (smoke tests)
    bool resume = false;  // go on from out/backup.safetensors where it exists
    // set by `melanoma cv`, not by a flag: train on every fold of the Train folder's cross-validation but
    // `fold`, validate on that one (folds = 0: a plain run)
    int folds = 0, fold = -1;
};

// ---- checks the subcommands share -----------------------------------------------------------------------------

/// A number's range, checked on the option's text as the command line is parsed (before any file is read): `ok`
/// says whether a value lies in it (NaN lies in none, and each range says whether an infinity does), `rule` how a
/// refusal says it - "--lr: must be a finite number > 0, got inf" - and `label` how --help marks the option's type
/// (CLI11's "INT:NONNEGATIVE"; empty: not at all, the help says it).
struct Range {
    bool (*ok)(double) = nullptr;  // nullptr: no range
    const char* rule = "";
    const char* label = "";
    /// The text must be an integer ("--epochs: must be an integer > 0, got 2.5"; then the rule is checked).
    bool integer = false;
    /// A cap beyond `ok`, refused as "must be <= max, got ..." (--batch's 4096).
    double max = std::numeric_limits<double>::infinity();
    /// Refused as one sentence, "--epochs must be > 0, got 0": the wording train used for --epochs, --batch and
    /// --val-split before the table checked them, kept for the scripts that match it; else CLI11's "--lr: must ...".
    bool sentence = false;
};

/// --batch's cap: a batch of 4096 images of 180x180 already holds 1.6 GB of input and its activations several
/// times that; no CPU run wants more. (A --batch larger than the training side is capped to it: train.cpp.)
inline constexpr long kMaxBatch = 4096;

/// The ranges of the subcommands' numeric options; every numeric option has one (tests/examples/
/// test_cli_option_checks.cpp tries each kind). NaN and the infinities lie in none but where a rule says so.
namespace ranges {
// reals
inline constexpr Range rate{[](double x) { return std::isfinite(x) && x > 0; }, "a finite number > 0"};
inline constexpr Range probability{[](double x) { return x >= 0 && x <= 1; }, "in [0, 1]"};
inline constexpr Range validation{.ok = [](double x) { return x >= 0 && x < 1; },
                                  .rule = "in [0, 1) (0: train on all of Train, without validation)", .sentence = true};
inline constexpr Range strength{[](double x) { return std::isfinite(x) && x >= 0; }, "finite and >= 0 (0: off)"};
inline constexpr Range smoothing{[](double x) { return x >= 0 && x <= 1; }, "in [0, 1] (0: off)"};
inline constexpr Range momentum{[](double x) { return x >= 0 && x < 1; }, "in [0, 1) (0: off)"};
inline constexpr Range ratio{[](double x) { return std::isfinite(x) && x >= 1; }, "finite and >= 1 (1: off)"};
inline constexpr Range zoom{[](double x) { return x >= -1 && x <= 1; }, "in [-1, 1]"};
inline constexpr Range rotation{[](double x) { return x >= 0 && x <= 1; }, "in [0, 1] (of a full turn)"};
// integers
inline constexpr Range epochs{.ok = [](double x) { return x > 0; }, .rule = "> 0", .integer = true, .sentence = true};
inline constexpr Range batch{.ok = [](double x) { return x > 0; }, .rule = "> 0", .integer = true,
                             .max = kMaxBatch, .sentence = true};
/// --threads: more OpenMP threads than any machine has cores only slows a run (and may not start).
inline constexpr Range threads{.ok = [](double x) { return x >= 0; }, .rule = ">= 0 (0: all cores)",
                               .label = "NONNEGATIVE", .integer = true, .max = 1024};
inline constexpr Range count{.ok = [](double x) { return x >= 1; }, .rule = ">= 1", .label = "POSITIVE",
                             .integer = true};
inline constexpr Range off_or_count{.ok = [](double x) { return x >= 0; }, .rule = ">= 0 (0: off)", .integer = true};
/// rebalance: extra samples per class, each a full image in memory; 100,000 per class is already tens of GB.
inline constexpr Range per_class{.ok = [](double x) { return x >= 0; }, .rule = ">= 0 (0: off)", .integer = true,
                                 .max = 100000};
inline constexpr Range limit{.ok = [](double x) { return x >= 0; }, .rule = ">= 0 (0: every image)", .integer = true};
inline constexpr Range seed{.ok = [](double x) { return x >= 0; }, .rule = ">= 0", .integer = true};
}  // namespace ranges

/// Why `range` refuses the text `value` ("must be in [0, 1], got nan"), or "" where it accepts it.
std::string refusal(const Range& range, const std::string& value);

/// Adds to `option` the check of `range` (refusal(); CLI11 prefixes the option's name, a `sentence` range names
/// it itself) and returns it. Every numeric option of every subcommand has one.
CLI::Option* in_range(CLI::Option* option, Range range);

/// The choices of the recipe field "split".
inline const std::vector<std::string> kSplitKinds{"stratified", "keras"};
/// The choices of --tta (evaluate, predict).
inline const std::vector<std::string> kTtaKinds{"none", "flips"};
/// The help of --threads, every subcommand's but audit's.
inline constexpr const char* kThreadsHelp = "OpenMP threads (0: all cores; at most 1024)";

// ---- the table of train's options -----------------------------------------------------------------------------

/// How `train --resume` treats an option whose value differs from the one the run's backup recorded.
enum class Resume {
    must_match,  ///< recorded; another value makes another run: refused, naming the option and both values
    may_change,  ///< recorded; another value follows the entry's on_change rule (a note, a warning, a limit)
    ignored,     ///< not recorded: it changes no result (--loader-threads, --strict) or is the run's place (--out)
};

/// What a run resolved options to, where its records keep the value used rather than the one given.
struct Resolved {
    int threads = 0;                    ///< --threads 0: the cores counted
    std::string train_folder;           ///< --data: the Train folder's fingerprint (a folder moved is the same run)
    std::string color_jitter = "none";  ///< --color-jitter: "none" or "brightness,contrast,saturation,hue"
};

/// A --resume under check: its backup, the run options recorded there and this command's (run_options()), and
/// the epochs the run completed.
struct ResumeCheck {
    fs::path backup;
    json recorded, now;
    std::size_t done = 0;
    /// UsageError "--resume: <why>; resume with the run's options, or train into another --out folder".
    [[noreturn]] void refuse(const std::string& why) const;
};

/// How an entry reaches its TrainArgs member (member(&TrainArgs::lr) in train_options.cpp makes one).
struct Binding {
    /// Registers the option on a subcommand, bound to the member of `a` (a flag for a bool member).
    std::function<CLI::Option*(CLI::App& sub, TrainArgs& a, const std::string& flag, const std::string& help)> add;
    /// The member's value as records keep it: integers as std::to_string, doubles as exact(), words as given,
    /// flags "on" / "off".
    std::function<std::string(const TrainArgs&)> text;
    /// The member's value as a recipe writes it (a JSON boolean, number, string or list of numbers).
    std::function<json(const TrainArgs&)> to_json;
    /// Sets the member from a recipe's value; RecipeError naming `key` for a value of another JSON type.
    std::function<void(TrainArgs& a, const json& value, const std::string& key)> from_json;
};

/// Where an option may be given: on the command line, in a recipe file, or both (a flag then overrides the
/// recipe's field). The run's folders, threads and switches are the command line's; what makes the recipe the
/// recipe is the file's, so that `train` keeps a short --help.
enum class Scope { flag, recipe, both };

/// A rule for a recorded option whose value differs on --resume (`was` recorded, `now` given).
using ResumeRule = void (*)(const ResumeCheck& c, const std::string& flag, const std::string& was, const std::string& now);
/// A value as a record keeps it, where it is not the member's own text (a resolved value, an older spelling).
using RecordedText = std::string (*)(const TrainArgs& a, const Resolved& r);

/// One option of `melanoma train`: its name, member, check, help and records, declared in this one place.
struct TrainOption {
    const char* flag;           ///< "--lr"; a recipe's key is the name without "--", with '_' for '-' ("lr")
    Binding bind;               ///< its member, whose initializer is the default
    const char* help;
    Scope scope = Scope::both;
    Range range{};              ///< checked as the command line is parsed; none where range.ok is null
    std::vector<std::string> choices{};  ///< the words it accepts (CLI11's IsMember); empty: any
    int values = 0;             ///< how many values one use takes (--color-jitter's 4); 0: CLI11's default
    bool show_default = true;   ///< --help shows the default (never for flags)
    Resume resume = Resume::must_match;
    const char* meta_key = nullptr;  ///< the checkpoint metadata entry that records it; nullptr: none
    RecordedText recorded = nullptr;    ///< its text in the run options (and the metadata); null: bind.text
    RecordedText meta_value = nullptr;  ///< its text in the metadata, where that differs; null: as recorded
    /// What --resume does with another value: a note or warning (may_change), or a refusal that says more than
    /// the plain "the run was trained with ..." (must_match, where null gives that one).
    ResumeRule on_change = nullptr;
};

/// The table: every option of `melanoma train`, in --help's order.
const std::vector<TrainOption>& train_options();

/// Registers every option of the table that the command line takes (scope flag or both) on `train`.
void add_train_options(CLI::App& train, TrainArgs& a);

/// A recipe file refused: its path, the key and why ("recipe 'r.json': \"lr\" must be a finite number > 0,
/// got -1").
struct RecipeError : UsageError {
    using UsageError::UsageError;
};

/// The largest recipe file read (a recipe is a few hundred bytes; an untrusted file is not read whole beyond this).
inline constexpr std::uintmax_t kMaxRecipeBytes = 64 * 1024;

/// Parses recipe text (a JSON object of fields; "name" and "description" are free text): each key must name an
/// option of scope recipe or both, with a value of its type in its range or among its choices; nesting deeper
/// than a list of numbers is refused. `where` names the source in errors. Returns the fields, by key.
json parse_recipe(const std::string& text, const std::string& where);

/// Reads a recipe file (at most kMaxRecipeBytes) and applies its fields to `a`, except those whose flag the
/// command line gave (a.given). RecipeError for a missing, unreadable, oversized or invalid file.
void apply_recipe(TrainArgs& a, const fs::path& file);

/// UsageError when a recipe would choose on a cross-validation fold's held-out images (early stopping, a plateau
/// schedule): cv scores each fold's last epoch, so that every held-out score stays out of fold.
void check_fold_recipe(const TrainArgs& a);

/// The recipe a run trained with: every field of scope recipe or both, at its value, by key (the checkpoint
/// records it whole, so that `cv`, `release` and a reader know exactly what made a model).
json recipe_of(const TrainArgs& a);

/// What makes a run the run it is (every option whose `resume` is not `ignored`, by flag, at its recorded text):
/// stored in backup.safetensors, and a --resume must give the same.
json run_options(const TrainArgs& a, const Resolved& r);

/// Whether a --resume may go on with the run its backup recorded: refuses (UsageError) an option that is not
/// recorded (unless added later and at its default) or that differs and must match, then applies the rules of
/// those that may change. std::logic_error where a recorded number is not one.
void resume_checks(const ResumeCheck& c);

/// The options' entries of a checkpoint's metadata (those with a meta_key), by key.
std::map<std::string, std::string> option_metadata(const TrainArgs& a, const Resolved& r);

}  // namespace melanoma
