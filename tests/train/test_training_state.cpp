// Tests of ember/train/training_state.hpp: a run stopped after any epoch and resumed from its training state ends
// exactly as the run that never stopped - weights, history, best epochs and early stopping, with dropout,
// augmentation, a moving average, weight decay and both kinds of rate schedule, with and without validation data;
// a state that does not fit is refused before anything changes.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <numeric>

#include <ember/io/checkpoint.hpp>
#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/optim/sgd.hpp>
#include <ember/train/callbacks.hpp>
#include <ember/train/fit.hpp>
#include <ember/train/training_state.hpp>

#include "helpers.hpp"
#include "train/toy_set.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
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
    int patience = 0;      // early stopping (0: none)
    bool validated = true;
};

/// What a run ended with: the weights, the history (without the times) and the epochs BestModel saw.
struct Outcome {
    std::vector<std::vector<float>> weights;
    std::vector<std::vector<std::pair<std::string, double>>> history;
    std::vector<int> best_epochs;
};

/// Trains the recipe up to `epochs` of 6 (a schedule over 6 epochs whatever `epochs` is, as a run stopped
/// early has), resuming from `resume_from` when given, saving its training state to `backup` after each epoch.
/// The monitor is val_loss (the training loss without validation): it improves often, and not at every epoch.
Outcome run(const Recipe& r, int epochs, const fs::path& backup, const fs::path* resume_from, std::vector<int> best_before = {}) {
    static const vision::ImageSet set = test::toy_image_set();
    test::ToyLoaders loaders(set);
    auto m = dropout_model(resume_from ? 77 : 4);  // a resumed run's initial weights are overwritten
    optim::Adam<float> adam(m.parameters(), r.adam);
    auto o = test::quiet_options(epochs);
    if (r.validated) o.validation = &loaders.val;
    const std::string monitor = r.validated ? "val_loss" : "loss";
    if (resume_from) o.initial_history = train::load_training_state(*resume_from, m, adam).history;
    Outcome out;
    out.best_epochs = std::move(best_before);
    train::BestModel<float> best(monitor, [&](const train::EpochRecord& rec, train::TrainContext<float>&) {
        out.best_epochs.push_back(rec.epoch);
    });
    train::LambdaCallback<float> save;
    save.backup = [&](train::TrainContext<float>& ctx) {
        train::save_training_state(backup, ctx.model, ctx.optimizer, ctx.history);
    };
    train::LearningRateScheduler<float> cosine(train::cosine_decay(6));
    train::ReduceLROnPlateau<float> plateau({.monitor = monitor, .factor = 0.5, .patience = 1});
    train::EarlyStopping<float> early(monitor, r.patience);
    o.callbacks = {&best};
    o.callbacks.push_back(r.plateau ? static_cast<train::Callback<float>*>(&plateau) : &cosine);
    if (r.patience > 0) o.callbacks.push_back(&early);
    o.callbacks.push_back(&save);
    const auto h = train::fit(m, adam, loaders.train, o);
    for (const auto& p : m.parameters()) out.weights.push_back(p.to_vector());
    for (auto e : h.epochs) {
        std::erase_if(e.values, [](const auto& v) { return v.first == "seconds"; });
        e.values.emplace_back("epoch", e.epoch);
        out.history.push_back(e.values);
    }
    return out;
}
}  // namespace

TEST_CASE("a run resumed from its training state after any epoch ends as the uninterrupted run, bit for bit", "[train][resume]") {
    const Recipe recipe = GENERATE(
        Recipe{"dropout, augmentation, cosine schedule", {.lr = 0.01}},
        Recipe{"+ moving average, weight decay, ReduceLROnPlateau",
               {.lr = 0.03, .common = {.weight_decay = 0.1, .use_ema = true, .ema_momentum = 0.5}}, true},
        Recipe{"+ early stopping", {.lr = 0.05}, false, 1},
        Recipe{"without validation data: moving average, ReduceLROnPlateau and early stopping on the training loss",
               {.lr = 0.2, .common = {.use_ema = true, .ema_momentum = 0.5}}, true, 2, false});
    INFO(recipe.name);
    const fs::path dir = test::scratch_root() / "resume";
    fs::create_directories(dir);
    const Outcome whole = run(recipe, 6, dir / "whole.safetensors", nullptr);
    for (auto& h : whole.history)
        for (auto& [name, v] : h) UNSCOPED_INFO(name << " " << v);
    REQUIRE(whole.best_epochs.size() >= 2);  // the replay of the best value matters
    const auto rate = [](const std::vector<std::pair<std::string, double>>& epoch) {
        for (const auto& [name, v] : epoch)
            if (name == "learning_rate") return v;
        return std::nan("");
    };
    if (recipe.plateau) CHECK(rate(whole.history.back()) < rate(whole.history.front()));  // the rate was lowered
    if (recipe.patience > 0 && recipe.validated) CHECK(whole.history.size() < 6);  // it stopped early
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
    h.epochs.push_back({.epoch = 1, .values = {{"loss", 0.5}}});
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
    SECTION("a weight or an optimizer moment that is NaN or infinite (a corrupt file, or a diverged run)") {
        const fs::path poisoned = dir / "poisoned.safetensors";
        const auto poison = [&](const Tensor<float>& t, index_t at, float value) {
            Tensor<float> shared = t;
            const float kept = shared.data()[at];
            shared.data()[at] = value;
            train::save_training_state(poisoned, m, adam, h);
            shared.data()[at] = kept;
            return test::error_message<ValueError>([&] { train::load_training_state(poisoned, fresh, fresh_adam); });
        };
        const std::string where = "training state '" + poisoned.string() + "': tensor '";
        const std::string tail = "): the training state is corrupt or was written by a diverged run";
        const auto named = m.named_parameters();
        CHECK(poison(named[0].value, 17, std::numeric_limits<float>::infinity()) ==
              where + "model/" + named[0].name + "' holds a NaN or infinite value (first at index 17" + tail);
        unchanged();
        CHECK(poison(named[1].value, 1, std::numeric_limits<float>::quiet_NaN()) ==
              where + "model/" + named[1].name + "' holds a NaN or infinite value (first at index 1" + tail);
        unchanged();
        const auto [moment, state] = adam.named_state().back();
        CHECK(poison(state, 0, std::numeric_limits<float>::quiet_NaN()) ==
              where + "optimizer/" + moment + "' holds a NaN or infinite value (first at index 0" + tail);
        unchanged();
    }
    SECTION("a truncated file") {
        const fs::path cut = dir / "cut.safetensors";
        fs::copy_file(path, cut, fs::copy_options::overwrite_existing);
        fs::resize_file(cut, fs::file_size(cut) - 100);
        CHECK_THROWS_AS(train::load_training_state(cut, fresh, fresh_adam), IoError);
        unchanged();
    }
    SECTION("an unbuilt model") {
        auto unbuilt = nn::Sequential<float>{nn::Flatten(), nn::Dense(2)};
        optim::SGD<float> none(std::vector<Tensor<float>>{});
        CHECK_THAT(test::error_message<StateError>([&] { train::load_training_state(path, unbuilt, none); }),
                   Catch::StartsWith("load_training_state: build the model before loading '"));
        CHECK(test::error_message<StateError>([&] { train::save_training_state(path, unbuilt, none, h); }) ==
              "save_training_state: the model is not built");
    }
    SECTION("a history that is not epochs 1, 2, ...") {
        const auto st = train::load_training_state(path, fresh, fresh_adam);
        CHECK(st.metadata.at("run") == "mine");
        CHECK(st.history.epochs.size() == 1);
        CHECK(fresh_adam.iterations() == 1);
        CHECK(fresh.parameters()[1].to_vector() == m.parameters()[1].to_vector());
        CHECK(fresh_adam.named_state().back().second.to_vector() == adam.named_state().back().second.to_vector());
        const vision::ImageSet set = test::toy_image_set();
        const vision::ImageDataset images(set);
        data::DataLoader loader(images, test::ToyLoaders::range(0, 8), {.batch_size = 4});
        auto o = test::quiet_options(3);
        o.initial_history.epochs.push_back({.epoch = 2});
        CHECK_THROWS_WITH(train::fit(fresh, fresh_adam, loader, o),
                          Catch::Contains("initial_history must hold epochs 1, 2, ... in order; record 1 is epoch 2"));
    }
}

TEST_CASE("a training state keeps a history's figures in order, NaN and infinite ones as they were", "[train][resume]") {
    const fs::path dir = test::scratch_root() / "resume-nonfinite";
    fs::create_directories(dir);
    auto m = dropout_model(1);
    optim::Adam<float> adam(m.parameters());
    const double inf = std::numeric_limits<double>::infinity();
    train::History h;
    h.epochs.push_back({.epoch = 1,
                        .values = {{"loss", 0.25}, {"val_loss", inf}, {"val_accuracy", std::nan("")}, {"grad_norm_max", -inf}}});
    h.epochs.push_back({.epoch = 2, .values = {{"loss", 0.125}, {"zeta", 1.0}, {"alpha", 0.1}}});
    train::save_training_state(dir / "state.safetensors", m, adam, h);
    const auto back = train::load_training_state(dir / "state.safetensors", m, adam).history;
    REQUIRE(back.epochs.size() == 2);
    CHECK(back.columns() == h.columns());  // not sorted by name
    const auto& r = back.epochs[0];
    CHECK(r.get("loss") == 0.25);
    CHECK(r.get("val_loss") == inf);
    CHECK(r.get("grad_norm_max") == -inf);
    CHECK(r.has("val_accuracy"));
    CHECK(std::isnan(r.get("val_accuracy")));
    CHECK(back.epochs[1].get("alpha") == 0.1);
}
