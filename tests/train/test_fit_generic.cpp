// Tests of the generic training API (ember/train/fit.hpp): a custom non-Sequential Module on an in-memory
// TensorDataset in double, regression with mean squared error, a callback that stops training, and a resumed run
// that reaches bit-identical weights.
#include <catch2/catch.hpp>

#include <cmath>
#include <tuple>
#include <sstream>

#include <ember/data/dataset.hpp>
#include <ember/data/loader.hpp>
#include <ember/nn/dense.hpp>
#include <ember/nn/loss.hpp>
#include <ember/optim/adam.hpp>
#include <ember/optim/sgd.hpp>
#include <ember/train/callbacks.hpp>
#include <ember/train/checkpoint_callbacks.hpp>
#include <ember/train/fit.hpp>
#include <ember/train/training_state.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {

/// A user's own model, not a Sequential: two Dense layers with a skip connection, y = d2(relu(d1(x))) + x w.
template <Real T>
class SkipNet : public nn::Module<T> {
public:
    explicit SkipNet(index_t hidden, index_t outputs) : d1_(hidden, nn::relu), d2_(outputs), outputs_(outputs) {}
    [[nodiscard]] std::string type_name() const override { return "SkipNet"; }
    [[nodiscard]] std::string default_name() const override { return "skip_net"; }
    Tensor<T> forward(const Tensor<T>& x) override { return add(d2_(d1_(x)), matmul(x, skip_)); }
    [[nodiscard]] std::vector<nn::NamedParameter<T>> named_parameters() const override {
        std::vector<nn::NamedParameter<T>> out;
        for (auto& p : d1_.named_parameters()) out.push_back({"d1." + p.name, p.value});
        for (auto& p : d2_.named_parameters()) out.push_back({"d2." + p.name, p.value});
        if (skip_.defined()) out.push_back({"skip", skip_});
        return out;
    }

protected:
    Shape do_build(const Shape& in, Generator& gen) override {
        d2_.build(d1_.build(in, gen), gen);
        skip_ = Tensor<T>::uniform({in[0], outputs_}, T(-0.1), T(0.1), gen).requires_grad(true);
        return {outputs_};
    }

private:
    nn::Dense<T> d1_, d2_;
    index_t outputs_;
    Tensor<T> skip_;
};

/// Two interleaved half-moons-like classes in 2-D: class 1 iff x0 * x1 > 0, noise-free.
template <Real T>
data::TensorDataset<T> quadrant_set(index_t n, std::uint64_t seed) {
    Generator gen(seed);
    auto x = Tensor<T>::uniform({n, 2}, T(-1), T(1), gen);
    auto y = Tensor<T>::empty({n});
    for (index_t i = 0; i < n; ++i) y.data()[i] = x.data()[2 * i] * x.data()[2 * i + 1] > 0 ? T(1) : T(0);
    return data::TensorDataset<T>(x, y);
}

}  // namespace

TEST_CASE("fit trains a custom non-Sequential Module on a TensorDataset in double", "[train][fit][generic]") {
    const auto train_set = quadrant_set<double>(256, 1);
    const auto val_set = quadrant_set<double>(128, 2);
    data::DataLoader train(train_set, {.batch_size = 32, .shuffle = true, .seed = 3});
    data::DataLoader val(val_set, {.batch_size = 64});
    SkipNet<double> model(16, 2);
    model.build({2}, 7);
    optim::Adam<double> adam(model.parameters(), {.lr = 0.02});
    train::FitOptions<double> o{.epochs = 40, .loss = nn::SparseCategoricalCrossentropy<double>{}};
    o.metrics = {train::accuracy<double>(), train::balanced_accuracy<double>()};
    o.validation = &val;
    o.log = nullptr;
    const train::History h = train::fit(model, adam, train, o);
    REQUIRE(h.epochs.size() == 40);
    CHECK(h.columns() == std::vector<std::string>{"loss", "accuracy", "balanced_accuracy", "learning_rate",
                                                  "grad_norm_mean", "grad_norm_max", "val_loss", "val_accuracy",
                                                  "val_balanced_accuracy", "seconds"});
    CHECK(h.epochs.back().get("loss") < 0.5 * h.epochs.front().get("loss"));
    CHECK(h.epochs.back().get("val_accuracy") > 0.9);
    const auto ev = train::evaluate<double>(model, val, nn::SparseCategoricalCrossentropy<double>{},
                                            {train::accuracy<double>()}, true);
    CHECK(ev.get("accuracy") == Approx(h.epochs.back().get("val_accuracy")));
    CHECK(ev.outputs.shape() == Shape{128, 2});
    CHECK(ev.targets.shape() == Shape{128});
}

TEST_CASE("fit does regression with mean squared error", "[train][fit][generic]") {
    // y = 2 x0 - 3 x1 + 0.5: a Dense layer must find it.
    Generator gen(5);
    auto x = Tensor<double>::uniform({200, 2}, -1, 1, gen);
    auto y = Tensor<double>::empty({200, 1});
    for (index_t i = 0; i < 200; ++i) y.data()[i] = 2 * x.data()[2 * i] - 3 * x.data()[2 * i + 1] + 0.5;
    const data::TensorDataset<double> set(x, y);
    nn::Dense<double> model(1);
    model.build({2}, 1);
    optim::SGD<double> sgd(model.parameters(), {.lr = 0.1});
    train::FitOptions<double> o{.epochs = 60, .loss = nn::MeanSquaredError<double>{}};
    o.metrics = {train::mean_absolute_error<double>()};
    o.log = nullptr;
    const auto h = train::fit(model, sgd, set, o, /*batch_size=*/20, /*seed=*/4);
    CHECK(h.epochs.back().get("loss") < 1e-6);
    CHECK(h.epochs.back().get("mae") < 1e-3);
    CHECK(model.kernel().data()[0] == Approx(2).margin(1e-3));
    CHECK(model.kernel().data()[1] == Approx(-3).margin(1e-3));
    CHECK(model.bias().data()[0] == Approx(0.5).margin(1e-3));
}

TEST_CASE("a callback can stop training; EarlyStopping does on its monitor", "[train][fit][callbacks]") {
    const auto set = quadrant_set<double>(64, 1);
    data::DataLoader loader(set, {.batch_size = 16});
    struct StopAfter : train::Callback<double> {
        int at;
        explicit StopAfter(int e) : at(e) {}
        void on_epoch_end(const train::EpochRecord& r, train::TrainContext<double>& ctx) override {
            if (r.epoch == at) ctx.stop_training = true;
        }
    } stop(3);
    nn::Dense<double> model(2);
    model.build({2}, 1);
    optim::SGD<double> sgd(model.parameters(), {.lr = 0.1});
    train::FitOptions<double> o{.epochs = 10, .loss = nn::SparseCategoricalCrossentropy<double>{}, .callbacks = {&stop}};
    o.log = nullptr;
    CHECK(train::fit(model, sgd, loader, o).epochs.size() == 3);

    // A learning rate of 0 never improves the loss after the first epoch: patience 2 stops after epoch 3.
    optim::SGD<double> frozen(model.parameters(), {.lr = 0});
    train::EarlyStopping<double> early("loss", 2);
    o.callbacks = {&early};
    std::ostringstream log;
    o.log = &log;
    o.interactive_progress = false;
    CHECK(train::fit(model, frozen, loader, o).epochs.size() == 3);
    CHECK(early.stopped_epoch() == 3);
    CHECK_THAT(log.str(), Catch::Contains("Early stopping: no better loss for 2 epochs"));
}

TEST_CASE("a resumed fit reaches bit-identical weights", "[train][fit][resume]") {
    const auto set = quadrant_set<double>(96, 1);
    const auto val_set = quadrant_set<double>(32, 2);
    const auto dir = test::scratch_root() / "generic-resume";
    std::filesystem::create_directories(dir);
    // Cosine rates, plateau halvings and the best epoch all depend on the epochs before: a resumed run must replay
    // them to reach the uninterrupted run's weights and best checkpoint.
    auto run = [&](int epochs, const std::string& name) {
        data::DataLoader train(set, {.batch_size = 16, .shuffle = true, .seed = 11});
        data::DataLoader val(val_set, {.batch_size = 32});
        SkipNet<double> model(8, 2);
        model.build({2}, 3);
        optim::Adam<double> adam(model.parameters(), {.lr = 0.01});
        train::BackupAndRestore<double> backup(dir / (name + "-backup.safetensors"));
        train::LearningRateScheduler<double> schedule(train::cosine_decay(6));
        train::ReduceLROnPlateau<double> plateau({.monitor = "val_loss", .factor = 0.5, .patience = 1});
        train::ModelCheckpoint<double> best(dir / (name + "-best.safetensors"), "val_accuracy");
        train::FitOptions<double> o{.epochs = epochs, .loss = nn::SparseCategoricalCrossentropy<double>{}};
        o.metrics = {train::accuracy<double>()};
        o.validation = &val;
        o.log = nullptr;
        o.initial_history = backup.restore(model, adam);
        o.callbacks = {&schedule, &plateau, &best, &backup};
        const auto h = train::fit(model, adam, train, o);
        return std::tuple{model.parameters(), h, best.saved_epoch()};
    };
    const auto [straight, straight_history, straight_best] = run(6, "a");
    run(3, "b");  // stops after epoch 3, as an interrupted run would
    const auto [resumed, resumed_history, resumed_best] = run(6, "b");
    REQUIRE(straight.size() == resumed.size());
    for (std::size_t i = 0; i < straight.size(); ++i)
        for (index_t k = 0; k < straight[i].numel(); ++k) REQUIRE(straight[i].data()[k] == resumed[i].data()[k]);
    CHECK(straight_best == resumed_best);
    CHECK(straight_best > 0);
    CHECK(resumed_history.column("learning_rate") == straight_history.column("learning_rate"));
    CHECK(resumed_history.column("val_loss") == straight_history.column("val_loss"));
}

TEST_CASE("fit refuses options it cannot honour", "[train][fit][errors]") {
    const auto set = quadrant_set<double>(8, 1);
    data::DataLoader loader(set, {.batch_size = 4});
    nn::Dense<double> model(2);
    model.build({2}, 1);
    optim::SGD<double> sgd(model.parameters(), {.lr = 0.1});
    train::FitOptions<double> o;
    o.log = nullptr;
    CHECK(test::error_message<ValueError>([&] { train::fit(model, sgd, loader, o); }) ==
          "fit: no loss given (FitOptions::loss)");
    o.loss = nn::SparseCategoricalCrossentropy<double>{};
    o.epochs = 0;
    CHECK(test::error_message<ValueError>([&] { train::fit(model, sgd, loader, o); }) == "fit: epochs must be > 0, got 0");
    o.epochs = 1;
    train::EarlyStopping<double> early("val_accuracy", 1);
    o.callbacks = {&early};
    CHECK(test::error_message<ValueError>([&] { train::fit(model, sgd, loader, o); }) ==
          "EarlyStopping monitors val_accuracy, which needs validation data (FitOptions::validation); none was given");
}

TEST_CASE("callbacks start afresh in every fit; metric names must be distinct", "[train][fit][callbacks]") {
    const auto set = quadrant_set<double>(64, 1);
    data::DataLoader loader(set, {.batch_size = 16});
    nn::Dense<double> model(2);
    model.build({2}, 1);
    optim::SGD<double> frozen(model.parameters(), {.lr = 0});  // the loss never improves after epoch 1
    train::EarlyStopping<double> early("loss", 2);
    train::FitOptions<double> o{.epochs = 10, .loss = nn::SparseCategoricalCrossentropy<double>{}};
    o.callbacks = {&early};
    o.log = nullptr;
    // Reused for a second fit (a second stage, another fold), it must not carry the first fit's best value and
    // patience over (it would stop after one epoch): the same fit twice gives the same history.
    const auto first = train::fit(model, frozen, loader, o);
    const auto second = train::fit(model, frozen, loader, o);
    CHECK(first.epochs.size() == 3);
    CHECK(second.epochs.size() == 3);
    CHECK(second.column("loss") == first.column("loss"));

    o.callbacks = {};
    o.metrics = {train::accuracy<double>(), train::accuracy<double>()};
    CHECK(test::error_message<ValueError>([&] { train::fit(model, frozen, loader, o); }) ==
          "fit: two figures would be named 'accuracy' (metrics must have distinct names, other than loss, "
          "learning_rate, seconds and grad_norm_*)");
}
