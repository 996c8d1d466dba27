// A run stopped after any epoch and resumed from its training state ends exactly as the run that never stopped:
// weights, history, best epochs and early stopping, with dropout, augmentation, a moving average, weight decay
// and both kinds of rate schedule; a state that does not fit is refused before anything changes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <numeric>

#include <ember/vision/augment.hpp>
#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/optim/sgd.hpp>
#include <ember/train/fit.hpp>
#include <ember/train/training_state.hpp>

#include "helpers.hpp"
#include "train/toy_set.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
vision::ImageSet toy_set() { return test::toy_image_set(); }

nn::Sequential<float> dropout_model(std::uint64_t seed) {
    nn::Sequential<float> m{nn::Rescaling(1.0f / 255), nn::Conv2D(3, 3, nn::same, nn::relu), nn::Dropout(0.3),
                            nn::Flatten(), nn::Dense(2)};
    m.build({6, 6, 3}, seed);
    return m;
}

struct Recipe {
    const char* name;
    optim::AdamOptions adam;
    bool plateau = false;  // ReduceLROnPlateau, else a cosine schedule
    int patience = 0;
};

/// What a run ended with: the weights, the history (without the times) and the epochs on_best saw.
struct Outcome {
    std::vector<std::vector<float>> weights;
    std::vector<std::vector<double>> history;
    std::vector<int> best_epochs;
};

std::vector<double> figures(const train::EpochRecord& r) {
    return {static_cast<double>(r.epoch), r.loss, r.accuracy, r.val_loss, r.val_accuracy, r.val_balanced_accuracy,
            r.learning_rate, r.grad_norm_mean, r.grad_norm_max};
}

/// Trains the recipe up to `epochs` of 6 (a schedule over 6 epochs whatever `epochs` is, as a run stopped
/// early has), resuming from `resume_from` when given, saving its training state to `backup` after each epoch.
Outcome run(const Recipe& r, int epochs, const fs::path& backup, const fs::path* resume_from, std::vector<int> best_before = {}) {
    static const vision::ImageSet set = toy_set();
    test::ToyLoaders loaders(set);
    auto& train_loader = loaders.train;
    auto& val_loader = loaders.val;
    auto m = dropout_model(resume_from ? 77 : 4);  // a resumed run's initial weights are overwritten
    optim::Adam<float> adam(m.parameters(), r.adam);
    train::FitOptions o;
    o.epochs = epochs;
    o.classes = 2;
    o.log = nullptr;
    o.monitor = train::Monitor::val_loss;  // improves often, and not at every epoch
    o.early_stopping_patience = r.patience;
    if (r.plateau)
        o.reduce_lr_on_plateau = train::ReduceLROnPlateau{.monitor = train::Monitor::val_loss, .factor = 0.5, .patience = 1};
    else
        o.lr_schedule = train::cosine_decay(6);
    if (resume_from) o.initial_history = train::load_training_state(*resume_from, m, adam).history;
    Outcome out;
    out.best_epochs = std::move(best_before);
    o.on_best = [&](const train::EpochRecord& rec, const train::Evaluation&) { out.best_epochs.push_back(rec.epoch); };
    o.on_backup = [&](const train::History& h) { train::save_training_state(backup, m, adam, h); };
    const auto h = train::fit(m, adam, train_loader, val_loader, o);
    for (const auto& p : m.parameters()) out.weights.push_back(p.to_vector());
    for (const auto& e : h.epochs) out.history.push_back(figures(e));
    return out;
}
}  // namespace

TEST_CASE("a run resumed from its training state after any epoch ends as the uninterrupted run, bit for bit", "[train][resume]") {
    const Recipe recipe = GENERATE(
        Recipe{"dropout, augmentation, cosine schedule", {.lr = 0.01}},
        Recipe{"+ moving average, weight decay, ReduceLROnPlateau",
               {.lr = 0.03, .common = {.weight_decay = 0.1, .use_ema = true, .ema_momentum = 0.5}}, true},
        Recipe{"+ early stopping", {.lr = 0.05}, false, 1});
    INFO(recipe.name);
    const fs::path dir = test::scratch_root() / "resume";
    fs::create_directories(dir);
    const Outcome whole = run(recipe, 6, dir / "whole.safetensors", nullptr);
    for (auto& h : whole.history) UNSCOPED_INFO(h[0] << " val_loss " << h[3] << " lr " << h[6]);
    REQUIRE(whole.best_epochs.size() >= 2);  // the replay of the best value matters
    if (recipe.plateau) CHECK(whole.history.back()[6] < whole.history.front()[6]);  // the rate was lowered
    if (recipe.patience > 0) CHECK(whole.history.size() < 6);  // it stopped early
    for (int stop = 1; stop < static_cast<int>(whole.history.size()); ++stop) {
        INFO("stopped after epoch " << stop);
        const fs::path backup = dir / ("stop" + std::to_string(stop) + ".safetensors");
        const Outcome first = run(recipe, stop, backup, nullptr);
        const Outcome resumed = run(recipe, 6, dir / "resumed.safetensors", &backup, first.best_epochs);
        CHECK(resumed.weights == whole.weights);
        CHECK(resumed.history == whole.history);
        CHECK(resumed.best_epochs == whole.best_epochs);
    }
    // Resuming a run that had finished (or stopped early) trains nothing and ends with the same model.
    const fs::path done = dir / "whole.safetensors";
    const Outcome again = run(recipe, 6, dir / "again.safetensors", &done, whole.best_epochs);
    CHECK(again.weights == whole.weights);
    CHECK(again.history == whole.history);
    CHECK(again.best_epochs == whole.best_epochs);
}

TEST_CASE("a training state that does not fit is refused, naming what differs, and changes nothing", "[train][resume][errors]") {
    const fs::path dir = test::scratch_root() / "resume-errors";
    fs::create_directories(dir);
    auto m = dropout_model(1);
    optim::Adam<float> adam(m.parameters(), {.common = {.use_ema = true}});
    Tensor<float> x = Tensor<float>::full({2, 6, 6, 3}, 100.f);
    sum(m(x)).backward();
    adam.step();
    train::History h;
    h.epochs.push_back({.epoch = 1, .loss = 0.5});
    const fs::path path = dir / "state.safetensors";
    train::save_training_state(path, m, adam, h, {{"run", "mine"}});

    auto fresh = dropout_model(2);
    optim::Adam<float> fresh_adam(fresh.parameters(), {.common = {.use_ema = true}});
    const auto before = fresh.parameters()[1].to_vector();
    const auto gen_before = fresh.named_generators().front().second->state();
    const auto unchanged = [&] {
        CHECK(fresh.parameters()[1].to_vector() == before);
        CHECK(fresh.named_generators().front().second->state() == gen_before);
        CHECK(fresh_adam.iterations() == 0);
    };
    SECTION("another architecture") {
        nn::Sequential<float> other{nn::Rescaling(1.0f / 255), nn::Conv2D(4, 3, nn::same, nn::relu), nn::Dropout(0.3),
                                    nn::Flatten(), nn::Dense(2)};
        other.build({6, 6, 3}, 1);
        optim::Adam<float> other_adam(other.parameters());
        CHECK_THROWS_WITH(train::load_training_state(path, other, other_adam),
                          Catch::Contains("another architecture") && Catch::Contains("layer 2"));
    }
    SECTION("another optimizer") {
        optim::SGD<float> sgd(fresh.parameters());
        CHECK_THROWS_WITH(train::load_training_state(path, fresh, sgd),
                          Catch::Contains("optimizer Adam, not of SGD"));
        unchanged();
    }
    SECTION("an optimizer without the run's moving average") {
        optim::Adam<float> plain(fresh.parameters());
        CHECK_THROWS_WITH(train::load_training_state(path, fresh, plain),
                          Catch::Contains("'optimizer/ema/0' that the model and optimizer do not have"));
        unchanged();
    }
    SECTION("a model checkpoint is not a training state") {
        const fs::path ckpt = dir / "model.safetensors";
        io::save_checkpoint(ckpt, m);
        CHECK_THROWS_WITH(train::load_training_state(ckpt, fresh, fresh_adam),
                          Catch::Contains("is not an ember training state (format: ember-checkpoint)"));
        unchanged();
    }
    SECTION("a truncated file") {
        const fs::path cut = dir / "cut.safetensors";
        fs::copy_file(path, cut, fs::copy_options::overwrite_existing);
        fs::resize_file(cut, fs::file_size(cut) - 100);
        CHECK_THROWS_AS(train::load_training_state(cut, fresh, fresh_adam), IoError);
        unchanged();
    }
    SECTION("a history that is not epochs 1, 2, ...") {
        const auto st = train::load_training_state(path, fresh, fresh_adam);
        CHECK(st.metadata.at("run") == "mine");
        CHECK(fresh_adam.iterations() == 1);
        CHECK(fresh.parameters()[1].to_vector() == m.parameters()[1].to_vector());
        CHECK(fresh_adam.named_state().back().second.to_vector() == adam.named_state().back().second.to_vector());
        vision::ImageSet set = toy_set();
        std::vector<std::size_t> idx(8);
        std::iota(idx.begin(), idx.end(), 0);
        vision::BatchLoader loader(set, idx, {.batch_size = 4});
        train::FitOptions o;
        o.epochs = 3;
        o.classes = 2;
        o.log = nullptr;
        o.initial_history.epochs.push_back({.epoch = 2});
        CHECK_THROWS_WITH(train::fit(fresh, fresh_adam, loader, o),
                          Catch::Contains("initial_history must hold epochs 1, 2, ... in order; record 1 is epoch 2"));
    }
}

TEST_CASE("a training state keeps a history's NaN and infinite figures as they were", "[train][resume]") {
    const fs::path dir = test::scratch_root() / "resume-nonfinite";
    fs::create_directories(dir);
    auto m = dropout_model(1);
    optim::Adam<float> adam(m.parameters());
    const double inf = std::numeric_limits<double>::infinity();
    train::History h;
    h.epochs.push_back({.epoch = 1, .loss = 0.25, .val_loss = inf, .grad_norm_max = -inf});  // the rest NaN or 0
    train::save_training_state(dir / "state.safetensors", m, adam, h);
    const auto back = train::load_training_state(dir / "state.safetensors", m, adam).history;
    REQUIRE(back.epochs.size() == 1);
    const auto& r = back.epochs[0];
    CHECK(r.loss == 0.25);
    CHECK(r.val_loss == inf);
    CHECK(r.grad_norm_max == -inf);
    CHECK(std::isnan(r.val_accuracy));
    CHECK(std::isnan(r.grad_norm_mean));
}
