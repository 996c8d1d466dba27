// Tests of ember/train/callbacks.hpp: the order of fit's hooks, EarlyStopping, BestModel and MonitorTracker,
// LearningRateScheduler, ReduceLROnPlateau (Keras' bookkeeping, in fit and replayed on resume), LambdaCallback and
// CSVLogger, and their errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/optim/sgd.hpp>
#include <ember/train/callbacks.hpp>
#include <ember/train/fit.hpp>
#include <ember/train/schedules.hpp>

#include "helpers.hpp"
#include "train/toy_set.hpp"

using namespace ember;
using test::ToySource;

namespace {
/// Writes each hook it gets, with its name, to a shared list.
struct Recorder : train::Callback<float> {
    std::string name;
    std::vector<std::string>* calls;
    Recorder(std::string n, std::vector<std::string>& c) : name(std::move(n)), calls(&c) {}
    void on_train_begin(train::TrainContext<float>& ctx) override {
        calls->push_back(name + " train_begin " + std::to_string(ctx.epochs));
    }
    void on_epoch_begin(int epoch, train::TrainContext<float>&) override {
        calls->push_back(name + " begin " + std::to_string(epoch));
    }
    void on_epoch_end(const train::EpochRecord& r, train::TrainContext<float>& ctx) override {
        CHECK(&r == &ctx.history.epochs.back());  // replaying too: the history grows as it did
        CHECK(ctx.history.epochs.size() == static_cast<std::size_t>(r.epoch));
        CHECK(ctx.validation == nullptr);  // no validation data
        calls->push_back(name + " end " + std::to_string(r.epoch) + (ctx.replaying ? " replayed" : ""));
    }
    void on_backup(train::TrainContext<float>& ctx) override {
        CHECK(ctx.validation == nullptr);
        calls->push_back(name + " backup " + std::to_string(ctx.history.epochs.size()));
    }
    void on_train_end(train::TrainContext<float>& ctx) override {
        calls->push_back(name + " train_end " + std::to_string(ctx.history.epochs.size()));
    }
};

/// An epoch record with a finite loss and the given figures.
train::EpochRecord record(int epoch, std::vector<std::pair<std::string, double>> figures) {
    train::EpochRecord r{.epoch = epoch};
    r.set("loss", 1.0);
    for (const auto& [n, v] : figures) r.set(n, v);
    return r;
}
}  // namespace

TEST_CASE("fit calls the hooks in order, each callback in turn, and replays a resumed run's epochs", "[train][callbacks]") {
    ToySource train_set(16, 1);
    auto model = test::toy_model();
    optim::SGD<float> sgd(model.parameters(), {.lr = 0.01});
    std::vector<std::string> calls;
    Recorder a("a", calls), b("b", calls);
    auto o = test::quiet_options(2);
    o.callbacks = {&a, &b};
    const auto h = train::fit(model, sgd, train_set, o);
    CHECK(calls == std::vector<std::string>{"a train_begin 2", "b train_begin 2", "a begin 1", "b begin 1", "a end 1",
                                            "b end 1", "a backup 1", "b backup 1", "a begin 2", "b begin 2", "a end 2",
                                            "b end 2", "a backup 2", "b backup 2", "a train_end 2", "b train_end 2"});
    calls.clear();
    o.epochs = 3;
    o.initial_history = h;
    REQUIRE(train::fit(model, sgd, train_set, o).epochs.size() == 3);
    CHECK(calls == std::vector<std::string>{"a train_begin 3", "b train_begin 3", "a end 1 replayed", "b end 1 replayed",
                                            "a end 2 replayed", "b end 2 replayed", "a begin 3", "b begin 3", "a end 3",
                                            "b end 3", "a backup 3", "b backup 3", "a train_end 3", "b train_end 3"});
    o.callbacks = {&a, nullptr};
    CHECK(test::error_message<ValueError>([&] { train::fit(model, sgd, train_set, o); }) == "fit: a callback is null");
    o.callbacks = {};
    o.metrics.push_back(nullptr);
    CHECK(test::error_message<ValueError>([&] { train::fit(model, sgd, train_set, o); }) == "fit: a metric is null");
}

TEST_CASE("EarlyStopping ends training after `patience` epochs without improvement", "[train][callbacks]") {
    ToySource train_set(16, 1), val_set(8, 2);
    auto model = test::toy_model();
    optim::Adam<float> adam(model.parameters(), {.lr = 0.0});  // nothing improves
    auto o = test::quiet_options(10);
    o.validation = &val_set;
    train::EarlyStopping<float> early("val_loss", 2);
    o.callbacks = {&early};
    CHECK(train::fit(model, adam, train_set, o).epochs.size() == 3);
    CHECK(early.stopped_epoch() == 3);
    // patience 0 stops at the first epoch that does not improve; the log says why
    train::EarlyStopping<float> at_once("val_accuracy");
    std::ostringstream log;
    o.log = &log;
    o.interactive_progress = false;
    o.callbacks = {&at_once};
    CHECK(train::fit(model, adam, train_set, o).epochs.size() == 2);
    CHECK(at_once.stopped_epoch() == 2);
    CHECK_THAT(log.str(), Catch::Contains("Early stopping: no better val_accuracy for 1 epoch\n"));
    // an improvement by less than min_delta is none
    auto learning = test::toy_model();
    optim::Adam<float> moving(learning.parameters(), {.lr = 0.02});
    train::EarlyStopping<float> demanding("loss", 1, 10.0);
    o.log = nullptr;
    o.callbacks = {&demanding};
    CHECK(train::fit(learning, moving, train_set, o).epochs.size() == 2);
    CHECK(test::error_message<ValueError>([] { train::EarlyStopping<float>("val_loss", -1); }) ==
          "EarlyStopping: patience must be >= 0, got -1");
}

TEST_CASE("BestModel calls its hook at the epochs that beat every earlier one (balanced accuracy, loss)",
          "[train][callbacks]") {
    for (const std::string monitor : {"val_balanced_accuracy", "val_loss"}) {
        CAPTURE(monitor);
        ToySource train_set(16, 1), val_set(8, 2);
        auto model = test::toy_model();
        optim::Adam<float> adam(model.parameters(), {.lr = 0.05});
        auto o = test::quiet_options(5);
        o.validation = &val_set;
        std::vector<int> best_epochs;
        train::BestModel<float> best(monitor, [&](const train::EpochRecord& r, train::TrainContext<float>&) {
            best_epochs.push_back(r.epoch);
        });
        o.callbacks = {&best};
        const auto h = train::fit(model, adam, train_set, o);
        const double sign = train::higher_is_better(monitor) ? 1 : -1;
        std::vector<int> expected;
        double top = -1e300;
        for (const auto& r : h.epochs)
            if (sign * r.get(monitor) > top) {
                top = sign * r.get(monitor);
                expected.push_back(r.epoch);
            }
        CHECK(best_epochs == expected);
        CHECK(best.best().epoch == expected.back());
        CHECK(best.tracker().best() == h.epochs[static_cast<std::size_t>(expected.back() - 1)].get(monitor));
    }
}

TEST_CASE("MonitorTracker: Keras' direction, min_delta, never an epoch with a non-finite loss, and its errors",
          "[train][callbacks]") {
    CHECK(train::higher_is_better("val_accuracy"));
    CHECK(train::higher_is_better("balanced_accuracy"));
    CHECK(train::higher_is_better("val_auc"));
    CHECK_FALSE(train::higher_is_better("val_loss"));
    CHECK_FALSE(train::higher_is_better("mae"));
    CHECK(train::higher_is_better("val_precision"));
    CHECK_FALSE(train::higher_is_better("val_mean_error"));
    // a figure whose name says nothing must say its direction, never be optimised the wrong way silently
    CHECK(test::error_message<ValueError>([] { train::EarlyStopping<float>("val_iou", 2); }) ==
          "EarlyStopping: cannot tell whether val_iou is better higher or lower; give Mode::min or Mode::max");
    CHECK(train::higher_is_better("val_iou", train::Mode::max));
    CHECK_FALSE(train::higher_is_better("val_accuracy", train::Mode::min));

    train::MonitorTracker acc("val_accuracy", 0.05);
    CHECK(acc.best() == -std::numeric_limits<double>::infinity());
    CHECK(acc.update(record(1, {{"val_loss", 1.0}, {"val_accuracy", 0.5}})));
    CHECK_FALSE(acc.update(record(2, {{"val_loss", 1.0}, {"val_accuracy", 0.54}})));  // by less than min_delta
    CHECK(acc.since_best() == 1);
    // an epoch whose validation loss is not finite is never the best, whatever its accuracy
    CHECK_FALSE(acc.update(record(3, {{"val_loss", std::nan("")}, {"val_accuracy", 1.0}})));
    CHECK_FALSE(acc.update(record(4, {{"val_loss", std::numeric_limits<double>::infinity()}, {"val_accuracy", 1.0}})));
    CHECK(acc.update(record(5, {{"val_loss", 1.0}, {"val_accuracy", 0.6}})));
    CHECK(acc.best() == 0.6);
    CHECK(acc.since_best() == 0);

    train::MonitorTracker loss("loss");  // without validation the training loss decides
    CHECK(loss.update(record(1, {})));
    CHECK(loss.best() == 1.0);
    train::EpochRecord worse = record(2, {});
    worse.set("loss", 1.5);
    CHECK_FALSE(loss.update(worse));

    CHECK(test::error_message<ValueError>([] { train::MonitorTracker(""); }) ==
          "MonitorTracker: the monitor must name a figure, e.g. val_loss");
    CHECK(test::error_message<ValueError>([] { train::MonitorTracker("val_loss", -1); }) ==
          "MonitorTracker: min_delta must be finite and >= 0, got -1");
    CHECK_THROWS_AS(train::MonitorTracker("val_loss", std::numeric_limits<double>::infinity()), ValueError);
    train::MonitorTracker auc("val_auc");
    CHECK(test::error_message<ValueError>([&] { auc.update(record(7, {{"accuracy", 0.5}})); }) ==
          "MonitorTracker: monitor 'val_auc' is not a figure of epoch 7 (it has: loss, accuracy); fit needs validation "
          "data for it");
}

TEST_CASE("LearningRateScheduler sets each epoch's rate from the rate fit began with", "[train][callbacks][schedule]") {
    ToySource train_set(16, 1);
    auto model = test::toy_model();
    optim::SGD<float> sgd(model.parameters(), {.lr = 0.5});
    train::LearningRateScheduler<float> schedule(train::exponential_decay(1, 0.5));
    auto o = test::quiet_options(4);
    o.callbacks = {&schedule};
    CHECK(train::fit(model, sgd, train_set, o).column("learning_rate") == std::vector<double>{0.5, 0.25, 0.125, 0.0625});
    // a resumed run starts the schedule from the original run's rate, not from the optimizer's last one
    optim::SGD<float> resumed(model.parameters(), {.lr = 0.0625});
    train::LearningRateScheduler<float> again(train::exponential_decay(1, 0.5));
    again.set_initial_rate(0.5);
    o.callbacks = {&again};
    o.epochs = 2;
    CHECK(train::fit(model, resumed, train_set, o).column("learning_rate") == std::vector<double>{0.5, 0.25});
    CHECK(test::error_message<ValueError>([] { train::LearningRateScheduler<float>(train::LrSchedule{}); }) ==
          "LearningRateScheduler: no schedule given");
}

TEST_CASE("ReduceLROnPlateau's bookkeeping follows Keras' (patience, min_delta, cooldown, min_lr)", "[train][callbacks][schedule]") {
    auto model = test::toy_model();
    optim::SGD<float> sgd(model.parameters());
    train::History history;
    train::TrainContext<float> ctx{model, sgd, history, 10};
    int epoch = 0;
    // One epoch of the monitored score (val_accuracy: higher is better) at the optimizer's current rate.
    const auto next = [&](train::ReduceLROnPlateau<float>& p, double score) {
        p.on_epoch_end(record(++epoch, {{"learning_rate", sgd.learning_rate()}, {"val_accuracy", score}}), ctx);
        return sgd.learning_rate();
    };
    train::ReduceLROnPlateau<float> t({.monitor = "val_accuracy", .factor = 0.5, .patience = 2, .min_delta = 0.01});
    sgd.set_learning_rate(1.0);
    // improves, improves, flat, flat -> reduced; a gain below min_delta is no improvement
    for (const double s : {0.5, 0.6, 0.6, 0.605}) next(t, s);
    CHECK(sgd.learning_rate() == 0.5);
    CHECK(t.reduced());
    CHECK(t.waited() == 2);
    next(t, 0.7);  // an improvement resets the count
    CHECK_FALSE(t.reduced());
    next(t, 0.7);
    CHECK_FALSE(t.reduced());
    CHECK(next(t, 0.69) == 0.25);

    // cooldown: after a reduction, `cooldown` epochs pass before the count resumes; min_lr is a floor
    train::ReduceLROnPlateau<float> c({.monitor = "val_accuracy", .factor = 0.5, .patience = 1, .cooldown = 2, .min_lr = 0.3});
    sgd.set_learning_rate(1.0);
    std::vector<double> rates;
    for (int e = 0; e < 7; ++e) rates.push_back(next(c, e == 0 ? 1.0 : 0.0));
    // epoch 1 improves; 2 reduces to 0.5; 3 cools down; 4 ends the cooldown and, with patience 1, counts and
    // reduces again, to max(0.25, 0.3) = 0.3 (as Keras: the counter is decremented before it is tested); then
    // 0.3 is the floor
    CHECK(rates == std::vector<double>{1.0, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3});

    // a rate that has reached min_lr is not "reduced" to it again (1e-6 is not a float32: Keras' comparison with
    // float32(min_lr) would reduce 1e-6 to 1e-6 every `patience` epochs)
    train::ReduceLROnPlateau<float> f({.monitor = "val_accuracy", .factor = 0.5, .patience = 1, .min_lr = 1e-6});
    sgd.set_learning_rate(4e-6);
    int reductions = 0;
    for (int e = 0; e < 8; ++e) {
        next(f, e == 0 ? 1.0 : 0.0);
        reductions += f.reduced();
    }
    CHECK(sgd.learning_rate() == 1e-6);
    CHECK(reductions == 2);
    // patience 0: every epoch without improvement reduces
    train::ReduceLROnPlateau<float> z({.monitor = "val_accuracy", .factor = 0.5, .patience = 0});
    sgd.set_learning_rate(1.0);
    next(z, 1.0);
    CHECK_FALSE(z.reduced());
    CHECK(next(z, 1.0) == 0.5);
    CHECK(z.reduced());
    CHECK(z.waited() == 1);

    CHECK(test::error_message<ValueError>([] { train::ReduceLROnPlateau<float>({.factor = 1}); }) ==
          "ReduceLROnPlateau: factor must lie in (0, 1), got 1");
    CHECK(test::error_message<ValueError>([] { train::ReduceLROnPlateau<float>({.cooldown = -1}); }) ==
          "ReduceLROnPlateau: patience, cooldown and min_lr must be finite and >= 0, got 10, -1, 0");
    CHECK_THAT(test::error_message<ValueError>([] { train::ReduceLROnPlateau<float>({.min_delta = -1}); }),
               Catch::Contains("ReduceLROnPlateau: min_delta must be finite and >= 0, got -1"));
    CHECK_THROWS_AS(train::ReduceLROnPlateau<float>({.min_delta = std::numeric_limits<double>::infinity()}), ValueError);
}

TEST_CASE("fit lowers the rate on a plateau of the monitored value, and a resumed run replays the reductions",
          "[train][callbacks][schedule]") {
    ToySource train_set(16, 1), val_set(8, 2);
    auto model = test::toy_model();
    // rates that are powers of two, so that every halving is exact
    const double a = std::ldexp(1.0, -20), b = a / 2, c = a / 4;
    optim::Adam<float> adam(model.parameters(), {.lr = a});
    std::ostringstream log;
    auto o = test::quiet_options(8);
    o.validation = &val_set;
    o.log = &log;
    o.interactive_progress = false;
    // nothing improves by 10 after the first epoch
    const train::PlateauOptions plateau{.monitor = "val_accuracy", .factor = 0.5, .patience = 2, .min_delta = 10,
                                        .cooldown = 1, .min_lr = c};
    train::ReduceLROnPlateau<float> reduce(plateau);
    o.callbacks = {&reduce};
    const auto h = train::fit(model, adam, train_set, o);
    CHECK(h.column("learning_rate") == std::vector<double>{a, a, a, b, b, c, c, c});
    CHECK(adam.learning_rate() == c);  // as Keras, the lowered rate stays in the optimizer
    CHECK_THAT(log.str(), Catch::Contains("Epoch 3: ReduceLROnPlateau reducing learning rate to ") &&
                              Catch::Contains("(no better val_accuracy for 2 epochs)") &&
                              Catch::Contains("Epoch 5: ReduceLROnPlateau") && !Catch::Contains("Epoch 7: ReduceLROnPlateau"));

    // Resumed after epoch 4 with an optimizer at the initial rate: the replay lowers it silently as the run
    // did, so epochs 5 to 8 train at the same rates.
    train::History first4;
    first4.epochs.assign(h.epochs.begin(), h.epochs.begin() + 4);
    optim::Adam<float> fresh(model.parameters(), {.lr = a});
    train::ReduceLROnPlateau<float> replayed(plateau);
    std::ostringstream resumed_log;
    o.log = &resumed_log;
    o.initial_history = first4;
    o.callbacks = {&replayed};
    CHECK(train::fit(model, fresh, train_set, o).column("learning_rate") == h.column("learning_rate"));
    CHECK_THAT(resumed_log.str(), Catch::StartsWith("Resuming after epoch 4 of 8\nEpoch 5/8") &&
                                      !Catch::Contains("Epoch 3: ReduceLROnPlateau") &&
                                      Catch::Contains("Epoch 5: ReduceLROnPlateau"));
}

TEST_CASE("a resumed run's replay restores every callback's state and saves nothing", "[train][callbacks][resume]") {
    ToySource train_set(16, 1);
    auto model = test::toy_model();
    optim::SGD<float> sgd(model.parameters(), {.lr = 0.01});
    // Three completed epochs whose loss improved only at the first.
    train::History done;
    for (int e = 1; e <= 3; ++e) done.epochs.push_back(record(e, {{"learning_rate", 0.01}}));
    done.epochs[0].set("loss", 0.01);
    const auto csv = test::scratch_root() / "replay-history.csv";
    std::filesystem::remove(csv);
    int hooks = 0, lambdas = 0;
    train::BestModel<float> best("loss", [&](const train::EpochRecord&, train::TrainContext<float>&) { ++hooks; });
    train::LambdaCallback<float> lambda;
    lambda.epoch_end = [&](const train::EpochRecord&, train::TrainContext<float>&) { ++lambdas; };
    train::CSVLogger<float> logger(csv);
    train::EarlyStopping<float> early("loss", 2);
    auto o = test::quiet_options(5);
    o.initial_history = done;
    std::ostringstream log;
    o.log = &log;
    o.callbacks = {&best, &lambda, &logger};
    SECTION("early stopping had ended the run: nothing left to train") {
        o.callbacks.push_back(&early);
        const auto h = train::fit(model, sgd, train_set, o);
        CHECK(h.epochs.size() == 3);
        CHECK(sgd.iterations() == 0);
        CHECK(early.stopped_epoch() == 3);
        CHECK(log.str() == "Resuming after epoch 3 of 5; it had stopped early, nothing left to train\n");
        CHECK(hooks == 0);
        CHECK(lambdas == 0);
        CHECK(best.best().epoch == 1);
        CHECK_FALSE(std::filesystem::exists(csv));
    }
    SECTION("the run goes on from epoch 4") {
        const auto h = train::fit(model, sgd, train_set, o);
        CHECK(h.epochs.size() == 5);
        CHECK(lambdas == 2);
        CHECK(hooks == 0);  // the new epochs' losses do not beat the replayed 0.01
        CHECK(best.best().epoch == 1);
        std::ifstream in(csv);
        std::string line;
        int rows = 0;
        while (std::getline(in, line)) ++rows;
        CHECK(rows == 6);  // the header and all five epochs
    }
    SECTION("a history longer than the run asked for: nothing left to train") {
        o.epochs = 2;
        CHECK(train::fit(model, sgd, train_set, o).epochs.size() == 3);
        CHECK(log.str() == "Resuming after epoch 3 of 2; nothing left to train\n");
        CHECK(sgd.iterations() == 0);
    }
}

TEST_CASE("CSVLogger writes the history after every epoch", "[train][callbacks]") {
    ToySource train_set(16, 1), val_set(8, 2);
    auto model = test::toy_model();
    optim::SGD<float> sgd(model.parameters(), {.lr = 0.01});
    const auto csv = test::scratch_root() / "csv-logger.csv";
    train::CSVLogger<float> logger(csv);
    std::vector<std::string> seen;  // the file as the next epoch begins
    train::LambdaCallback<float> read;
    read.backup = [&](train::TrainContext<float>&) {
        std::ifstream in(csv);
        seen.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    };
    auto o = test::quiet_options(2);
    o.validation = &val_set;
    o.callbacks = {&logger, &read};
    const auto h = train::fit(model, sgd, train_set, o);
    REQUIRE(seen.size() == 2);
    CHECK_THAT(seen[0], Catch::StartsWith("epoch,loss,accuracy,balanced_accuracy,learning_rate,grad_norm_mean,"
                                          "grad_norm_max,val_loss,val_accuracy,val_balanced_accuracy,seconds\n1,"));
    CHECK(std::count(seen[0].begin(), seen[0].end(), '\n') == 2);
    CHECK(std::count(seen[1].begin(), seen[1].end(), '\n') == 3);
    const auto again = test::scratch_root() / "csv-again.csv";
    h.write_csv(again);
    std::ifstream in(again);
    CHECK(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) == seen[1]);
}
