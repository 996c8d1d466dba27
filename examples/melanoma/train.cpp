// examples/melanoma/train.cpp - `melanoma train`: split first, augment and rebalance only the training side, fit
// the reference CNN, keep the best checkpoint by validation and choose the melanoma alert threshold on it.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <utility>

#include <ember/vision/augment.hpp>
#include <ember/vision/dedup.hpp>
#include <ember/vision/batch_loader.hpp>
#include <ember/data/split.hpp>
#include <ember/core/parallel.hpp>
#include <ember/optim/adam.hpp>
#include <ember/io/checkpoint.hpp>
#include <ember/train/training_state.hpp>

#include "commands.hpp"
#include "model.hpp"
#include "plots.hpp"

using namespace ember;

namespace melanoma {

namespace {

/// --extra-train: more labelled images for the training side only (another collection), appended to `set` after
/// the split so that the validation split stays the one the Train folder alone gives. Images identical to an image
/// already in `set` (the Train folder or an earlier folder) or in `dropped` (what --dedup took out of Train: a
/// contradictory image must not come back through another folder) are dropped. Returns each folder and the
/// fingerprint of what it added, for the checkpoint.
json add_extra_training_images(const TrainArgs& a, vision::ImageSet& set, data::Split& split, const vision::ImageSet& dropped) {
    const auto& names = set.class_names;
    json added = json::array();
    for (const auto& dir : a.extra_train) {
        const bool earlier = added.size() > 0;  // a folder before this one was added
        const auto index = vision::index_image_folder(dir, names, /*allow_empty_classes=*/true);
        if (!index.extra_classes.empty())
            throw UsageError("--extra-train " + dir.string() + ": class folder '" + index.extra_classes.front() +
                             "' is not one of the Train folder's " + std::to_string(names.size()) + " classes");
        if (index.files.empty()) throw UsageError("--extra-train " + dir.string() + ": no images in its class folders");
        warn_not_indexed(index, "the Train folder's");  // the files that are not images; extra classes threw above
        vision::ImageSet extra = load_indexed(index, a.strict, a.color_constancy);
        // An image already in the Train folder would count twice, or leak into validation.
        const auto copies = vision::copies_in(extra, set);
        const auto deduplicated = dropped.size() > 0 ? vision::copies_in(extra, dropped) : std::vector<bool>(extra.size());
        std::vector<std::size_t> keep;
        std::size_t n_copies = 0, n_deduplicated = 0;
        for (std::size_t i = 0; i < extra.size(); ++i) {
            if (copies[i]) ++n_copies;
            else if (deduplicated[i]) ++n_deduplicated;
            else keep.push_back(i);
        }
        if (n_copies > 0)
            std::cerr << "warning: --extra-train " << dir.string() << ": dropped " << n_copies
                      << " image(s) identical to images of the Train folder" << (earlier ? " or an earlier --extra-train folder" : "")
                      << "\n";
        if (n_deduplicated > 0)
            std::cerr << "warning: --extra-train " << dir.string() << ": dropped " << n_deduplicated
                      << " image(s) identical to images --dedup dropped from the Train folder\n";
        if (keep.size() < extra.size()) extra = vision::subset(extra, keep);
        added.push_back({{"folder", dir.string()}, {"fingerprint", folder_fingerprint(extra)}});
        const std::size_t first = set.size();
        set.append(extra);
        for (std::size_t i = first; i < set.size(); ++i) split.train.push_back(i);
        std::cout << "Extra training images from " << dir << ": " << extra.size();
        if (extra.size() == 0) std::cout << " (all were copies)";
        const auto counts = extra.counts();
        const char* sep = " (";
        for (std::size_t c = 0; c < counts.size(); ++c)
            if (counts[c] > 0) std::cout << std::exchange(sep, ", ") << names[c] << " " << counts[c];
        std::cout << (extra.size() > 0 ? ")\n" : "\n");
    }
    return added;
}

/// What makes a run the run it is, by the options that set it and the values this command resolves them to (the
/// split seed as used, the data folders by fingerprint rather than path): stored in backup.safetensors, and a
/// --resume must give the same. --epochs and --threads are recorded too, but checked apart, and the alert's
/// options may change (resume_checks).
json run_options(const TrainArgs& a, std::uint64_t split_seed, const std::string& jitter, const std::string& train_folder,
                 const json& extra) {
    return {{"--epochs", std::to_string(a.epochs)},
            {"--threads", std::to_string(ember::max_threads())},
            {"--data", train_folder},
            {"--extra-train", [&] {  // by what the folders held, as --data: a folder moved is the same run
                 json prints = json::array();
                 for (const auto& folder : extra) prints.push_back(folder.at("fingerprint"));
                 return prints.dump();
             }()},
            {"--batch", std::to_string(a.batch)},
            {"--seed", std::to_string(a.seed)},
            {"--split-seed", std::to_string(split_seed)},
            {"--val-split", exact(a.val_split)},
            {"--split", a.split},
            {"--dedup", a.dedup ? "on" : "off"},
            {"--limit", std::to_string(a.limit)},
            {"--augment", a.augment},
            {"--color-constancy", a.color_constancy},
            {"--color-jitter", jitter},
            {"--channel-gain", exact(a.channel_gain)},
            {"--stretch", exact(a.stretch)},
            {"--rebalance", std::to_string(a.rebalance)},
            {"--class-weights", a.class_weights ? "on" : "off"},
            {"--lr", exact(a.lr)},
            {"--weight-decay", exact(a.weight_decay)},
            {"--ema", exact(a.ema)},
            {"--label-smoothing", exact(a.label_smoothing)},
            {"--global-clipnorm", exact(a.global_clipnorm)},
            {"--lr-schedule", a.lr_schedule},
            {"--patience", std::to_string(a.patience)},
            {"--monitor", a.monitor},
            {"--alert-sensitivity", exact(a.alert_sensitivity)},
            {"--alert-threshold", exact(a.alert_threshold)}};
}

/// Whether a --resume may go on with the run `backup` recorded as `recorded` (run_options() then) under this
/// command's `now`, given the `done` epochs it completed; UsageError naming the first option that differs.
void resume_checks(const fs::path& backup, const json& recorded, const json& now, std::size_t done) {
    const auto refuse = [&](const std::string& why) {
        throw UsageError("--resume: " + why + "; resume with the run's options, or train into another --out folder");
    };
    // Options added after a backup was written, with their "off" value: a run that does not record one trained
    // without it.
    static const std::map<std::string, std::string> added_later = {{"--channel-gain", "1"}};
    for (const auto& [option, value] : now.items()) {
        if (option == "--epochs" || option == "--threads") continue;
        if (!recorded.contains(option)) {
            const auto d = added_later.find(option);
            if (d == added_later.end()) refuse(backup.string() + " does not record " + option);
            if (value.get<std::string>() == d->second) continue;
            refuse(backup.string() + " was written before " + option + " existed: the run trained without it (" + option +
                   " " + d->second + "), this command has " + option + " " + value.get<std::string>());
        }
        const std::string was = recorded.at(option).get<std::string>();
        if (was == value.get<std::string>()) continue;
        // The alert threshold changes no weight: it is chosen (or given) again when the run ends, for the model
        // the run keeps, so a resumed run may ask for another one.
        if (option == "--alert-sensitivity" || option == "--alert-threshold") {
            std::cout << "The run was started with " << option << " " << was << "; its model's alert threshold will follow "
                      << option << " " << value.get<std::string>() << "\n";
            continue;
        }
        if (option == "--data")
            refuse("the Train folder does not hold the images (names and labels) the run in " + backup.parent_path().string() +
                   " was trained on");
        if (option == "--extra-train")
            refuse("the --extra-train folders do not hold the images (names and labels) the run was trained on");
        refuse("the run was trained with " + option + " " + was + ", this command has " + option + " " + value.get<std::string>());
    }
    const int epochs = std::stoi(now.at("--epochs").get<std::string>());
    const int was_epochs = std::stoi(recorded.at("--epochs").get<std::string>());
    if (epochs != was_epochs) {
        if (now.at("--lr-schedule").get<std::string>() == "cosine")
            refuse("--lr-schedule cosine decays over --epochs, and the run's " + std::to_string(done) +
                   " epochs followed the curve of --epochs " + std::to_string(was_epochs) + ", not " + std::to_string(epochs));
        if (static_cast<std::size_t>(epochs) < done)
            refuse("--epochs " + std::to_string(epochs) + " is fewer than the " + std::to_string(done) + " epochs the run has done");
        std::cout << "The run was started for " << was_epochs << (was_epochs == 1 ? " epoch" : " epochs")
                  << "; it goes on to --epochs " << epochs << " (from the epoch after those done)\n";
    }
    const std::string threads = now.at("--threads").get<std::string>(), was_threads = recorded.at("--threads").get<std::string>();
    if (threads != was_threads)
        std::cerr << "warning: --resume: the run trained on " << was_threads << " thread(s), this command uses " << threads
                  << ": sums may be taken in another order, so the result can differ in its last bits from an "
                     "uninterrupted run\n";
}

/// The epoch a best checkpoint of this program records; UsageError where it records none or not a number.
int checkpoint_epoch(const fs::path& ckpt) {
    const auto meta = io::read_checkpoint_metadata(ckpt);
    const auto it = meta.find("epoch");
    if (it == meta.end()) throw UsageError("--resume: " + ckpt.string() + " records no epoch: it is not this run's best checkpoint");
    try {
        return std::stoi(it->second);
    } catch (const std::logic_error&) {
        throw UsageError("--resume: " + ckpt.string() + ": its epoch '" + it->second + "' is not a number");
    }
}

}  // namespace

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
    vision::ColorJitter jitter;
    if (!a.color_jitter.empty()) {
        if (a.color_jitter.size() != 4) throw UsageError("--color-jitter takes 4 numbers: brightness contrast saturation hue");
        try {
            jitter = vision::ColorJitter(a.color_jitter[0], a.color_jitter[1], a.color_jitter[2], a.color_jitter[3]);
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
    if (a.threads > 0) ember::set_num_threads(a.threads);
    if (a.data.empty()) a.data = default_data_dir();

    const fs::path train_dir = split_dir(a.data, "Train");
    vision::ImageSet set = load_folder(train_dir, a.strict, a.color_constancy);
    const std::string fingerprint = folder_fingerprint(set);
    vision::ImageSet dedup_dropped;  // the images --dedup takes out, for --extra-train's copy check
    if (a.dedup) {  // before the split, so no image has a copy on the other side
        const auto d = vision::deduplicate(set);
        std::cout << "Deduplicated: dropped " << d.same_class_copies << " same-class copies and " << d.contradictory
                  << " images filed under two or more classes (" << d.contradictory_groups << " distinct); "
                  << d.keep.size() << " of " << set.size() << " images remain\n";
        if (!a.extra_train.empty()) {  // only the dropped images are needed to check --extra-train's against
            std::vector<bool> kept(set.size());
            for (auto i : d.keep) kept[i] = true;
            std::vector<std::size_t> gone;
            for (std::size_t i = 0; i < set.size(); ++i)
                if (!kept[i]) gone.push_back(i);
            dedup_dropped = vision::subset(set, gone);
        }
        set = vision::subset(set, d.keep);
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
    if (a.limit > 0 && static_cast<long>(split.train.size()) > a.limit) {
        // A seeded sample, not the first N: the split lists the training side class by class, so its head is
        // one or two classes.
        Generator gen(split_seed + 2);
        for (std::size_t i = split.train.size() - 1; i > 0; --i) std::swap(split.train[i], split.train[gen.below(i + 1)]);
        split.train.resize(static_cast<std::size_t>(a.limit));
        std::sort(split.train.begin(), split.train.end());
    }
    const int mel = find_class(names, kMelanoma);
    if (mel < 0)
        std::cerr << "warning: no class folder is named '" << kMelanoma << "' (the names are matched exactly): there "
                  << "will be no melanoma alert\n";
    if (validate) {  // what is chosen on validation needs images there: say so now, not after hours of training
        if (split.validation.empty())
            throw UsageError("the validation split is empty (" + std::to_string(set.size()) + " images, --val-split " +
                             exact(a.val_split) + ", " + a.split + "): nothing to choose the best epoch or the alert "
                             "threshold on; use more images, a larger --val-split, or --val-split 0 with --alert-threshold");
        const auto has_melanoma = [&](std::size_t i) { return set.labels[i] == mel; };
        if (mel >= 0 && std::none_of(split.validation.begin(), split.validation.end(), has_melanoma))
            throw UsageError("the validation split (" + std::to_string(split.validation.size()) +
                             " images) holds no melanoma image: the alert threshold cannot be chosen on it; use more "
                             "melanoma images or a larger --val-split, or --val-split 0 with --alert-threshold");
    }
    const json extra_json = add_extra_training_images(a, set, split, dedup_dropped);
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
        vision::rebalance(set, split.train, a.rebalance, a.seed + 1);
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

    vision::LoaderOptions train_opts{.batch_size = a.batch, .shuffle = true, .seed = a.seed, .workers = a.loader_threads};
    // Geometry first (Keras' layers), then colour: the white balance a camera or illuminant would give, then
    // torchvision's ColorJitter, as the usual pipelines order them.
    const bool geometric = a.augment == "flip-rotate-zoom";
    const vision::RandomAspect stretch(a.stretch);              // the options' checks keep both >= 1
    const vision::RandomChannelGain gain(a.channel_gain);
    if (geometric || stretch.max_ratio != 1 || gain.enabled() || jitter.enabled()) {
        train_opts.augment = [geometric, stretch, gain, jitter](float* img, int h, int w, int c, Generator& gen) {
            if (geometric)
                vision::random_augment(img, h, w, c, vision::AugmentOptions{.max_aspect = stretch.max_ratio}, gen);
            else
                stretch(img, h, w, c, gen);  // draws nothing when off
            gain(img, h, w, c, gen);         // nor does this
            if (jitter.enabled()) jitter(img, h, w, c, gen);
        };
    }
    if (stretch.max_ratio != 1)
        std::cout << "Random horizontal stretch on the training side: width x [" << 1 / stretch.max_ratio << ", "
                  << stretch.max_ratio << "], log-uniform\n";
    if (gain.enabled()) {
        if (a.color_constancy != "none")
            std::cerr << "warning: --channel-gain puts casts on images after --color-constancy " << a.color_constancy
                      << " has taken theirs away; evaluate and predict will see none\n";
        std::cout << "Random white balance on the training side: R, G, B each x [" << 1 / gain.max_gain << ", "
                  << gain.max_gain << "], log-uniform\n";
    }
    if (jitter.enabled())
        std::cout << "Colour jitter on the training side: brightness " << jitter.brightness << ", contrast "
                  << jitter.contrast << ", saturation " << jitter.saturation << ", hue " << jitter.hue << "\n";
    vision::BatchLoader train_loader(set, split.train, train_opts);
    std::optional<vision::BatchLoader> val_loader;
    if (validate) val_loader.emplace(set, split.validation, vision::LoaderOptions{.batch_size = a.batch});

    auto model = reference_model(classes);
    model.build({kImageSize, kImageSize, 3}, a.seed);
    std::cout << model.summary();
    const optim::CommonOptions common{.weight_decay = a.weight_decay, .global_clipnorm = a.global_clipnorm,
                                      .use_ema = a.ema > 0, .ema_momentum = a.ema > 0 ? a.ema : 0.99};
    optim::Adam<float> adam(model.parameters(), {.lr = a.lr, .common = common});
    if (const double wd = adam.common_options().weight_decay; wd > 0)
        std::cout << "Decoupled weight decay " << wd << " (AdamW: weights shrink by lr * " << wd << " each step)\n";
    if (const double clip = adam.common_options().global_clipnorm; clip > 0)
        std::cout << "Gradients clipped to a global L2 norm of at most " << exact(clip) << " (Keras' global_clipnorm)\n";

    train::FitOptions fo;
    fo.epochs = a.epochs;
    fo.classes = classes;
    fo.early_stopping_patience = a.patience;
    fo.monitor = train::parse_monitor(a.monitor);
    fo.label_smoothing = static_cast<float>(a.label_smoothing);
    if (a.label_smoothing > 0)
        std::cout << "Label smoothing " << a.label_smoothing << " (target (1 - e) * one-hot + e / " << classes
                  << (validate ? "; training and validation loss, not the reports' loss" : "; training loss") << ")\n";
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
    const json names_json(names);
    std::string jitter_text = "none";
    if (jitter.enabled()) {
        std::ostringstream t;
        t << exact(jitter.brightness) << "," << exact(jitter.contrast) << "," << exact(jitter.saturation) << ","
          << exact(jitter.hue);
        jitter_text = t.str();
    }
    // `from` says where the threshold came from.
    auto metadata = [&](double threshold, const train::EpochRecord& rec, const char* from) {
        return std::map<std::string, std::string>{
            {"class_names", names_json.dump()},
            {"alert_class", kMelanoma},
            // exactly: checkpoints before session 6 stored one validation image's score, and rounding it up
            // (to_string keeps 6 decimals) dropped that image from the alert; the threshold is now half-way to
            // the next lower score, but what was chosen is what is stored
            {"alert_threshold", exact(threshold)},
            {"alert_threshold_from", from},
            // train scores validation without test-time augmentation; a threshold given by hand has no such scores
            {"alert_threshold_tta", std::string(from) == "validation" ? "none" : ""},
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
            {"channel_gain", exact(a.channel_gain)},
            {"stretch", exact(a.stretch)},
            {"weight_decay", exact(a.weight_decay)},
            {"ema", exact(a.ema)},
            {"label_smoothing", exact(a.label_smoothing)},
            {"global_clipnorm", exact(a.global_clipnorm)},
            {"train_folder", fingerprint},
            {"extra_train", extra_json.dump()}};
    };
    const fs::path last = a.out / "last.safetensors";
    train::EpochRecord best_record;
    // The alert threshold for the model's validation scores: chosen each time a best epoch is saved, so that the
    // checkpoint of a run stopped early (Ctrl-C after epoch 30 of 50) carries a real one, not a placeholder.
    const auto choose_threshold = [&](const train::Evaluation& ev) {
        if (mel < 0) return 0.5;  // no melanoma class: nothing to alert on, whatever is stored
        const auto [p, pos] = melanoma_scores(ev, mel);
        return train::threshold_for_sensitivity(p, pos, a.alert_sensitivity);
    };
    if (validate)
        fo.on_best = [&](const train::EpochRecord& rec, const train::Evaluation& ev) {
            best_record = rec;
            io::save_checkpoint(best, model, metadata(choose_threshold(ev), rec, "validation"));
            std::cout << "  saved " << best << "\n";
        };
    int last_epoch = 0;   // the epoch this run last saved in last.safetensors (without validation)
    bool curves = false;  // whether the last epoch's curves.png was drawn (else none is left, not even an older run's)
    fo.on_epoch_end = [&](const train::History& h) {
        h.write_csv(a.out / "history.csv");
        curves = h.epochs.size() >= 2 && plots::training_curves(a.out, validate);
        if (!curves) {
            std::error_code ignored;
            fs::remove(a.out / "curves.png", ignored);
        }
        if (!validate) {  // every epoch, so a stopped run keeps its last complete one
            io::save_checkpoint(last, model, metadata(a.alert_threshold, h.epochs.back(), "--alert-threshold"));
            std::cout << "  saved " << last << "\n";
            last_epoch = h.epochs.back().epoch;
        }
    };
    // backup.safetensors: the training state after each epoch (weights, Adam's moments, dropout's generator,
    // the history), which --resume goes on from as if the run had never stopped.
    const fs::path backup = a.out / "backup.safetensors";
    const json options = run_options(a, split_seed, jitter_text, fingerprint, extra_json);
    fo.on_backup = [&](const train::History& h) {
        train::save_training_state(backup, model, adam, h, {{"run_options", options.dump()}});
    };
    if (a.resume && fs::exists(backup)) {
        json recorded;
        std::size_t done = 0;
        {
            const auto meta = io::read_checkpoint_metadata(backup);
            if (!meta.count("run_options") || !meta.count("history"))
                throw UsageError("--resume: " + backup.string() + " is not a training state written by melanoma train");
            try {
                recorded = json::parse(meta.at("run_options"));
                done = json::parse(meta.at("history")).size();
                resume_checks(backup, recorded, options, done);  // before the state: a changed option is likelier news
            } catch (const json::exception& e) {
                throw UsageError("--resume: " + backup.string() + ": its run options or history cannot be read (" +
                                 e.what() + ")");
            } catch (const std::logic_error& e) {  // stoi of a recorded number
                throw UsageError("--resume: " + backup.string() + ": a recorded --epochs or --threads is not a number");
            }
        }
        const auto state = train::load_training_state(backup, model, adam);  // checks it all before changing anything
        if (validate) {  // the best epoch's checkpoint must be the one this history kept
            if (const auto kept = train::best_epoch(state.history, fo.monitor)) {
                if (!fs::exists(best))
                    throw UsageError("--resume: " + best.string() + " is missing: the run's best epoch " +
                                     std::to_string(kept->epoch) + " was saved there");
                const int saved = checkpoint_epoch(best);
                const auto done = static_cast<int>(state.history.epochs.size());
                if (saved != kept->epoch && saved <= done)  // (a later epoch: saved before an interruption, retrained)
                    throw UsageError("--resume: " + best.string() + " holds epoch " + std::to_string(saved) +
                                     ", but the run's best epoch by " + a.monitor + " is " + std::to_string(kept->epoch) +
                                     ": the run folder was changed since");
                best_record = *kept;
            }
        } else {
            last_epoch = static_cast<int>(state.history.epochs.size());
        }
        std::cout << "Resuming the run in " << a.out << " from " << backup.filename() << " (" << state.history.epochs.size()
                  << " of " << a.epochs << " epochs done)\n";
        fo.initial_history = state.history;
        // what the files say is the history's, not that of an epoch begun after the backup and cut short
        state.history.write_csv(a.out / "history.csv");
        curves = state.history.epochs.size() >= 2 && plots::training_curves(a.out, validate);
    } else if (a.resume) {
        std::cout << "No " << backup << " to resume from: starting the run from its first epoch\n";
    } else if (fs::exists(backup)) {
        std::cerr << "warning: " << backup << " is from an earlier run; this run replaces it (--resume goes on with it)\n";
    }
    train::History history;
    bool diverged = false;  // the loss stopped being finite: what the run kept is still finished below, exit 3
    try {
        history = validate ? train::fit(model, adam, train_loader, *val_loader, fo) : train::fit(model, adam, train_loader, fo);
    } catch (const train::NonFiniteLossError& e) {
        std::cerr << "error: " << e.what() << "\n";
        // (an existing file may be an earlier run's: whether this run saved one is in best_record / last_epoch)
        if ((validate ? best_record.epoch : last_epoch) == 0) {
            std::cerr << "no epoch was saved: no checkpoint written by this run\n";
            return 3;
        }
        if (!validate) {
            std::cerr << "kept " << last.string() << ", the last complete epoch (" << last_epoch << ")\n";
            return 3;
        }
        std::cerr << "kept " << best.string() << ", the best epoch before that (" << best_record.epoch
                  << "); its alert threshold is chosen on validation as usual\n";
        diverged = true;
    }
    const bool resumed_only = !fo.initial_history.epochs.empty() && history.epochs.size() == fo.initial_history.epochs.size();
    if (!validate) {
        if (resumed_only)  // last.safetensors may hold an epoch begun after the backup: the backup's is the model
            io::save_checkpoint(last, model, metadata(a.alert_threshold, history.epochs.back(), "--alert-threshold"));
        std::cout << "\nTrained on all " << split.train.size() << " training images for " << history.epochs.size()
                  << " epochs, without validation; melanoma alert threshold p(melanoma) >= " << a.alert_threshold
                  << " (given)\nWrote in " << a.out << ": " << last.filename() << " (the last epoch), " << backup.filename()
                  << " (for --resume), history.csv"
                  << (curves ? ", curves.png" : "") << "\n";
        return 0;
    }

    // Reload the best epoch, choose the alert threshold on the validation split, store it in the checkpoint.
    if (best_record.epoch > 0) {
        // A resumed run accepted a best.safetensors of an epoch begun after the backup (saved before the run was
        // cut short), expecting that epoch to be trained and saved again: it must have been.
        if (const int saved = checkpoint_epoch(best); saved != best_record.epoch)
            throw UsageError(best.string() + " holds epoch " + std::to_string(saved) + ", saved before the run was interrupted, but the "
                             "resumed run's best epoch is " + std::to_string(best_record.epoch) + ", which no file "
                             "keeps: train this run again without --resume");
    }
    io::load_checkpoint(best, model);
    auto ev = train::evaluate(model, *val_loader, classes);
    const double threshold = choose_threshold(ev);  // as on_best chose it: the same model and images
    io::save_checkpoint(best, model, metadata(threshold, best_record, "validation"));
    std::cout << "\nBest epoch " << best_record.epoch << " by " << a.monitor << " (val_accuracy "
              << best_record.val_accuracy << ", val_balanced_accuracy " << best_record.val_balanced_accuracy << "); melanoma alert threshold chosen on validation for sensitivity >= " << a.alert_sensitivity << ": "
              << threshold << "\n\nValidation split, best checkpoint:\n";
    json j = report(ev, names, threshold, std::cout);
    j["best_epoch"] = best_record.epoch;
    write_json(a.out / "val_metrics.json", j);
    const bool drawn = plots::confusion_matrix(a.out, ev.confusion, names);
    std::vector<fs::path> val_paths;
    for (const auto i : split.validation) val_paths.push_back(set.paths[i]);
    const auto roc_files = write_details(a.out, ev, names, threshold, val_paths);
    std::cout << "\nWrote in " << a.out << ": " << best.filename() << ", " << backup.filename() << " (for --resume), history.csv" << (curves ? ", curves.png" : "")
              << "; on the validation split val_metrics.json, predictions.csv" << (drawn ? ", confusion_matrix.png" : "");
    for (const auto& f : roc_files) std::cout << ", " << f;
    std::cout << "\n";
    return diverged ? 3 : 0;
}

}  // namespace melanoma
