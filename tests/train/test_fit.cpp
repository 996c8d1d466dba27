// Tests of ember/train/fit.hpp on a Sequential image classifier: training, validation and the history's figures,
// gradient norms, training without validation data, label smoothing and class weights given by the loss object,
// a moving average of the weights, a NaN loss, and reproducibility.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/optim/sgd.hpp>
#include <ember/train/callbacks.hpp>
#include <ember/train/evaluate.hpp>
#include <ember/train/fit.hpp>

#include "helpers.hpp"
#include "train/toy_set.hpp"

using namespace ember;
using test::ToySource;

TEST_CASE("fit trains, validates, records history and reports the best epoch", "[train][fit]") {
    ToySource train_set(32, 1), val_set(16, 2);
    auto model = test::toy_model();
    optim::Adam<float> adam(model.parameters(), {.lr = 0.02});
    std::ostringstream log;
    int best_calls = 0, end_calls = 0;
    auto o = test::quiet_options(6);
    o.validation = &val_set;
    o.keep_validation_outputs = true;
    o.log = &log;
    o.interactive_progress = false;
    // the best epoch's hook sees the validation pass: every output and target, and its figures
    train::BestModel<float> best("val_accuracy", [&](const train::EpochRecord& r, train::TrainContext<float>& ctx) {
        ++best_calls;
        REQUIRE(ctx.validation != nullptr);
        CHECK(ctx.validation->outputs.shape() == Shape{16, 2});
        CHECK(ctx.validation->targets.to_vector() == val_set.targets.to_vector());
        CHECK(ctx.validation->get("loss") == r.get("val_loss"));
        CHECK(ctx.validation->outputs.to_vector() == train::predict(ctx.model, val_set).to_vector());
    });
    train::LambdaCallback<float> ends;
    ends.epoch_end = [&](const train::EpochRecord&, train::TrainContext<float>&) { ++end_calls; };
    train::LearningRateScheduler<float> schedule([](int epoch, double lr) { return epoch <= 3 ? lr : lr / 2; });
    o.callbacks = {&schedule, &best, &ends};
    const auto h = train::fit(model, adam, train_set, o);
    REQUIRE(h.epochs.size() == 6);
    CHECK(h.columns() == std::vector<std::string>{"loss", "accuracy", "balanced_accuracy", "learning_rate",
                                                  "grad_norm_mean", "grad_norm_max", "val_loss", "val_accuracy",
                                                  "val_balanced_accuracy", "seconds"});
    CHECK(end_calls == 6);
    CHECK(best_calls >= 1);
    CHECK(best.best().epoch >= 1);
    CHECK(h.epochs.back().get("loss") < h.epochs.front().get("loss"));
    CHECK(h.epochs.back().get("val_accuracy") > 0.9);
    CHECK(h.epochs[2].get("learning_rate") == Approx(0.02));
    CHECK(h.epochs[4].get("learning_rate") == Approx(0.01));
    CHECK_THAT(log.str(), Catch::Contains("Epoch 1/6 (lr 0.02)") && Catch::Contains("Epoch 4/6 (lr 0.01)"));
    CHECK_THAT(log.str(), Catch::Contains("4/4 ["));
    CHECK_THAT(log.str(), Catch::Contains(" | val_loss "));
    CHECK(model.is_training());
}

namespace {
/// SGD that records, per step, the global norm of the gradients its update rule receives.
struct NormRecordingSGD : optim::SGD<float> {
    using optim::SGD<float>::SGD;
    std::vector<double> squared;  // per step: the sum of the squared gradient elements
    void update(std::size_t i, std::span<const float> g, std::int64_t t) override {
        if (static_cast<std::size_t>(t) > squared.size()) squared.push_back(0);
        for (float v : g) squared.back() += static_cast<double>(v) * v;
        optim::SGD<float>::update(i, g, t);
    }
};
}  // namespace

TEST_CASE("fit records the mean and maximum gradient norm of each epoch in the history", "[train][fit]") {
    ToySource train_set(32, 1);  // 4 steps an epoch
    auto model = test::toy_model();
    NormRecordingSGD sgd(model.parameters(), {.lr = 0.01});
    const auto h = train::fit(model, sgd, train_set, test::quiet_options(2));
    REQUIRE(h.epochs.size() == 2);
    REQUIRE(sgd.squared.size() == 8);
    for (std::size_t e = 0; e < 2; ++e) {
        double sum = 0, max = 0;
        for (std::size_t s = 4 * e; s < 4 * e + 4; ++s) {
            sum += std::sqrt(sgd.squared[s]);
            max = std::max(max, std::sqrt(sgd.squared[s]));
        }
        CHECK(h.epochs[e].get("grad_norm_mean") == Approx(sum / 4).epsilon(1e-12));
        CHECK(h.epochs[e].get("grad_norm_max") == Approx(max).epsilon(1e-12));
        CHECK(h.epochs[e].get("grad_norm_max") > h.epochs[e].get("grad_norm_mean"));  // the norms differ per step
    }
    CHECK(sgd.last_gradient_norm() == Approx(std::sqrt(sgd.squared.back())).epsilon(1e-12));
    // ... and with clipping the record is the norm before it (the update rule gets the clipped gradients)
    auto clipped_model = test::toy_model();
    NormRecordingSGD clipped(clipped_model.parameters(), {.lr = 0.01, .common = {.global_clipnorm = 1e-3}});
    const auto hc = train::fit(clipped_model, clipped, train_set, test::quiet_options(1));
    CHECK(hc.epochs[0].get("grad_norm_max") > 1e-2);
    for (double sq : clipped.squared) CHECK(std::sqrt(sq) == Approx(1e-3).epsilon(1e-5));
}

TEST_CASE("fit without validation data takes the same steps, records no val_ figures and refuses what needs them",
          "[train][fit]") {
    ToySource train_set(32, 1), val_set(16, 2);
    // with dropout, whose generator an evaluation in training mode would advance
    const auto model = [] {
        nn::Sequential<float> m{nn::Rescaling(1.0f / 255), nn::Conv2D(2, 3, nn::same, nn::relu), nn::Dropout(0.3),
                                nn::Flatten(), nn::Dense(2)};
        m.build({6, 6, 1}, 3);
        return m;
    };
    auto validated = model(), unvalidated = model();
    optim::Adam<float> adam_a(validated.parameters(), {.lr = 0.02}), adam_b(unvalidated.parameters(), {.lr = 0.02});
    auto o = test::quiet_options(3);
    o.validation = &val_set;
    const auto with_val = train::fit(validated, adam_a, train_set, o);
    std::ostringstream log;
    o.validation = nullptr;
    o.log = &log;
    o.interactive_progress = false;
    int ends = 0;
    train::LambdaCallback<float> count;
    count.epoch_end = [&](const train::EpochRecord& r, train::TrainContext<float>& ctx) {
        CHECK(ctx.history.epochs.size() == static_cast<std::size_t>(++ends));
        CHECK(ctx.history.epochs.back().epoch == r.epoch);
    };
    o.callbacks = {&count};
    const auto without = train::fit(unvalidated, adam_b, train_set, o);
    CHECK(ends == 3);
    // validation changes nothing in training: the same weights, bit for bit, and the same training figures
    CHECK(test::same_weights(validated, unvalidated));
    REQUIRE(without.epochs.size() == 3);
    CHECK(with_val.validated());
    CHECK_FALSE(without.validated());
    CHECK(without.columns() == std::vector<std::string>{"loss", "accuracy", "balanced_accuracy", "learning_rate",
                                                        "grad_norm_mean", "grad_norm_max", "seconds"});
    for (std::size_t e = 0; e < 3; ++e) {
        CHECK(without.epochs[e].get("loss") == with_val.epochs[e].get("loss"));
        CHECK(without.epochs[e].get("accuracy") == with_val.epochs[e].get("accuracy"));
        CHECK_FALSE(without.epochs[e].has("val_loss"));
        CHECK(std::isnan(without.epochs[e].get("val_accuracy")));
    }
    CHECK_THAT(log.str(), Catch::Contains("Epoch 3/3") && !Catch::Contains("val_"));
    // history.csv has no val_ columns
    const auto csv = test::scratch_root() / "fit-no-validation-history.csv";
    without.write_csv(csv);
    std::ifstream in(csv);
    std::string header, first;
    std::getline(in, header);
    std::getline(in, first);
    CHECK(header == "epoch,loss,accuracy,balanced_accuracy,learning_rate,grad_norm_mean,grad_norm_max,seconds");
    CHECK_THAT(first, Catch::StartsWith("1,") && Catch::Contains(",0.02,"));
    // what monitors a validation figure is refused before any epoch trains, not skipped
    o.log = nullptr;
    train::EarlyStopping<float> early("val_accuracy", 2);
    train::BestModel<float> best("val_loss", {});
    train::ReduceLROnPlateau<float> plateau({.monitor = "val_balanced_accuracy"});
    for (train::Callback<float>* c : std::initializer_list<train::Callback<float>*>{&early, &best, &plateau}) {
        o.callbacks = {c};
        const std::string message = test::error_message<ValueError>([&] { train::fit(unvalidated, adam_b, train_set, o); });
        CHECK_THAT(message, Catch::Contains(" monitors val_") &&
                                Catch::EndsWith(", which needs validation data (FitOptions::validation); none was given"));
    }
}

TEST_CASE("fit: label smoothing on the training and validation loss, class weights on training only (Keras)",
          "[train][fit][loss]") {
    ToySource train_set(32, 1), val_set(16, 2);
    auto o = test::quiet_options(2);
    o.validation = &val_set;
    auto plain = test::toy_model(), smoothed = test::toy_model(), weighted = test::toy_model();
    optim::Adam<float> a1(plain.parameters(), {.lr = 0.02}), a2(smoothed.parameters(), {.lr = 0.02}),
        a3(weighted.parameters(), {.lr = 0.02});
    const auto h_plain = train::fit(plain, a1, train_set, o);
    const nn::SparseCategoricalCrossentropy<float> smooth{.label_smoothing = 0.2f};
    o.loss = smooth;
    const auto h_smoothed = train::fit(smoothed, a2, train_set, o);
    CHECK(h_smoothed.epochs[0].get("loss") != h_plain.epochs[0].get("loss"));
    // without a validation_loss, validation uses the training loss: smoothed
    CHECK(train::evaluate<float>(smoothed, val_set, smooth).get("loss") == h_smoothed.epochs.back().get("val_loss"));
    // The first epoch's training loss is the smoothed loss, batch by batch, of a model trained the same way.
    auto replay = test::toy_model();
    optim::Adam<float> a4(replay.parameters(), {.lr = 0.02});
    double first = 0;
    train_set.start_epoch(1);
    data::Batch<float> b;
    while (train_set.next(b)) {
        auto loss = smooth(replay(b.inputs), b.targets);
        first += static_cast<double>(loss.item()) * static_cast<double>(b.size()) / 32;
        a4.zero_grad();
        loss.backward();
        a4.step();
    }
    CHECK(h_smoothed.epochs[0].get("loss") == Approx(first).epsilon(1e-12));

    // Class weights scale the training loss only when validation_loss is the unweighted loss: val_loss is then
    // the unweighted loss of the validated model.
    const nn::SparseCategoricalCrossentropy<float> weighted_loss{.class_weights = {3.0f, 0.5f}};
    o.loss = weighted_loss;
    o.validation_loss = nn::SparseCategoricalCrossentropy<float>{};
    const auto h_weighted = train::fit(weighted, a3, train_set, o);
    CHECK(h_weighted.epochs[0].get("loss") != h_plain.epochs[0].get("loss"));
    const double val_loss = h_weighted.epochs.back().get("val_loss");
    CHECK(train::evaluate<float>(weighted, val_set, nn::SparseCategoricalCrossentropy<float>{}).get("loss") == val_loss);
    CHECK(train::evaluate<float>(weighted, val_set, weighted_loss).get("loss") != Approx(val_loss).epsilon(1e-3));

    // what the loss refuses stops fit at the first batch
    o.validation_loss = {};
    for (float e : {-0.5f, 1.5f, std::nanf("")}) {
        CAPTURE(e);
        o.loss = nn::SparseCategoricalCrossentropy<float>{.label_smoothing = e};
        CHECK_THAT(test::error_message<ValueError>([&] { train::fit(plain, a1, train_set, o); }),
                   Catch::StartsWith("sparse_categorical_crossentropy: label_smoothing must be in [0, 1], got "));
    }
    o.loss = nn::SparseCategoricalCrossentropy<float>{.class_weights = {1, 2, 3}};
    CHECK(test::error_message<ShapeError>([&] { train::fit(plain, a1, train_set, o); }) ==
          "sparse_categorical_crossentropy: 3 class weights for 2 classes");
}

TEST_CASE("fit with a moving average of the weights validates and keeps the average", "[train][fit][ema]") {
    ToySource train_set(32, 1), val_set(16, 2);
    const nn::SparseCategoricalCrossentropy<float> loss;
    auto o = test::quiet_options(3);
    o.validation = &val_set;
    auto plain = test::toy_model(), copy = test::toy_model(), averaged = test::toy_model();
    optim::Adam<float> adam(plain.parameters(), {.lr = 0.02});
    const auto h_plain = train::fit(plain, adam, train_set, o);
    // Momentum 0 makes the average the weights themselves: the same model and figures as without it.
    optim::Adam<float> adam0(copy.parameters(), {.lr = 0.02, .common = {.use_ema = true, .ema_momentum = 0}});
    const auto h_copy = train::fit(copy, adam0, train_set, o);
    CHECK(test::same_weights(plain, copy));
    for (std::size_t e = 0; e < 3; ++e) CHECK(h_copy.epochs[e].get("val_loss") == h_plain.epochs[e].get("val_loss"));

    // Momentum 0.9: the same training steps (same training figures), validation of the average, which the
    // model holds at the end (Keras' finalize_variable_values) and the optimizer still holds as its average.
    optim::Adam<float> ema(averaged.parameters(), {.lr = 0.02, .common = {.use_ema = true, .ema_momentum = 0.9}});
    const auto h = train::fit(averaged, ema, train_set, o);
    for (std::size_t e = 0; e < 3; ++e) CHECK(h.epochs[e].get("loss") == h_plain.epochs[e].get("loss"));
    CHECK_FALSE(test::same_weights(plain, averaged));
    for (std::size_t p = 0; p < averaged.parameters().size(); ++p)
        CHECK(averaged.parameters()[p].to_vector() == ema.averages()[p].to_vector());
    CHECK(train::evaluate<float>(averaged, val_set, loss).get("loss") == h.epochs.back().get("val_loss"));
    CHECK(h.epochs.back().get("val_loss") != h_plain.epochs.back().get("val_loss"));

    // on_epoch_end sees the validated (averaged) model, on_backup the raw weights; early stopping ends with the
    // average too.
    auto stopped = test::toy_model();
    optim::Adam<float> ema2(stopped.parameters(), {.lr = 0.02, .common = {.use_ema = true, .ema_momentum = 0.9}});
    o.epochs = 20;
    train::EarlyStopping<float> early("val_loss", 1);
    int seen = 0, backups = 0;
    train::LambdaCallback<float> check;
    check.epoch_end = [&](const train::EpochRecord& r, train::TrainContext<float>& ctx) {
        ++seen;
        CHECK(ctx.optimizer.averages_swapped_in());
        CHECK(train::evaluate<float>(ctx.model, val_set, loss).get("loss") == r.get("val_loss"));
    };
    check.backup = [&](train::TrainContext<float>& ctx) {
        ++backups;
        CHECK_FALSE(ctx.optimizer.averages_swapped_in());
        for (std::size_t p = 0; p < ema2.averages().size(); ++p)
            CHECK(ctx.model.parameters()[p].to_vector() != ema2.averages()[p].to_vector());
    };
    o.callbacks = {&early, &check};
    const auto hs = train::fit(stopped, ema2, train_set, o);
    CHECK(static_cast<int>(hs.epochs.size()) == seen);
    CHECK(backups == seen);
    CHECK_FALSE(ema2.averages_swapped_in());
    for (std::size_t p = 0; p < stopped.parameters().size(); ++p)
        CHECK(stopped.parameters()[p].to_vector() == ema2.averages()[p].to_vector());

    // A callback that throws leaves the raw weights in the model and the optimizer usable.
    train::LambdaCallback<float> boom;
    boom.epoch_end = [](const train::EpochRecord&, train::TrainContext<float>&) { throw std::runtime_error("disk full"); };
    o.callbacks = {&boom};
    o.epochs = 2;
    const auto before = ema2.iterations();
    CHECK_THROWS_WITH(train::fit(stopped, ema2, train_set, o), "disk full");
    CHECK_FALSE(ema2.averages_swapped_in());
    CHECK(ema2.iterations() == before + 4);  // one epoch of 4 batches
    for (std::size_t p = 0; p < stopped.parameters().size(); ++p)  // the raw weights, not the average
        CHECK(stopped.parameters()[p].to_vector() != ema2.averages()[p].to_vector());
    ema2.swap_averages();
    CHECK(test::error_message<StateError>([&] { ema2.step(); }) ==
          "Adam: step() while the moving averages are swapped into the parameters (call swap_averages() again first)");
}

namespace {
/// The toy source whose sample 9 (in batch 2) is NaN in epoch `poisoned` and 100 in the others; with `cut`, that
/// epoch ends after its first batch instead.
struct PoisonedLater : ToySource {
    int poisoned, epoch = 0;
    bool cut;
    PoisonedLater(int poisoned_epoch, bool cut_there) : ToySource(16, 1), poisoned(poisoned_epoch), cut(cut_there) {}
    void start_epoch(int e) override {
        at = 0;
        epoch = e;
        x(9, 0, 0, 0) = e == poisoned && !cut ? std::numeric_limits<float>::quiet_NaN() : 100.f;
    }
    bool next(data::Batch<float>& b) override { return !(cut && epoch == poisoned && at > 0) && ToySource::next(b); }
};
}  // namespace

TEST_CASE("a NaN loss stops training, names the batch and leaves the raw weights in the model", "[train][fit][errors]") {
    ToySource train_set(16, 1), val_set(8, 2);
    train_set.x(9, 0, 0, 0) = std::numeric_limits<float>::quiet_NaN();  // in batch 2
    auto model = test::toy_model();
    optim::Adam<float> adam(model.parameters());
    auto o = test::quiet_options(2);
    CHECK(test::error_message<train::NonFiniteLossError>([&] { train::fit(model, adam, train_set, o); }) ==
          "fit: the loss became nan at epoch 1, batch 2 of 2; training stopped after 0 complete epochs");
    o.validation = &val_set;
    CHECK(test::error_message<train::NonFiniteLossError>([&] { train::fit(model, adam, train_set, o); }) ==
          "fit: the loss became nan at epoch 1, batch 2 of 2; training stopped after 0 complete epochs");

    // In a later epoch, with a moving average: the callbacks have seen the complete epoch, and the model holds
    // the raw weights of the last step, those of a run whose epoch 2 ends before the poisoned batch.
    const optim::AdamOptions ema{.common = {.use_ema = true, .ema_momentum = 0.9}};
    PoisonedLater later(2, false), cut(2, true);
    auto fresh = test::toy_model(), reference = test::toy_model();
    optim::Adam<float> adam2(fresh.parameters(), ema), adam3(reference.parameters(), ema);
    std::vector<int> best_epochs;
    train::BestModel<float> best("val_accuracy",
                                 [&](const train::EpochRecord& r, train::TrainContext<float>&) { best_epochs.push_back(r.epoch); });
    o.epochs = 3;
    o.callbacks = {&best};
    CHECK(test::error_message<train::NonFiniteLossError>([&] { train::fit(fresh, adam2, later, o); }) ==
          "fit: the loss became nan at epoch 2, batch 2 of 2; training stopped after 1 complete epoch");
    CHECK(best_epochs == std::vector<int>{1});
    CHECK_FALSE(adam2.averages_swapped_in());
    CHECK(adam2.iterations() == 3);
    std::vector<std::vector<float>> raw;
    train::LambdaCallback<float> keep_raw;
    keep_raw.backup = [&](train::TrainContext<float>& ctx) {
        raw.clear();
        for (const auto& p : ctx.model.parameters()) raw.push_back(p.to_vector());
    };
    o.epochs = 2;
    o.callbacks = {&keep_raw};
    train::fit(reference, adam3, cut, o);
    REQUIRE(adam3.iterations() == 3);
    REQUIRE(raw.size() == fresh.parameters().size());
    for (std::size_t p = 0; p < raw.size(); ++p) CHECK(fresh.parameters()[p].to_vector() == raw[p]);

    // a NaN with its sign bit set reads "nan" in messages and the log, never "-nan"
    for (double v : {std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::quiet_NaN()}) {
        std::ostringstream os;
        os << train::fit_detail::LossValue{v};
        CHECK(os.str() == "nan");
    }
    std::ostringstream os;
    os << train::fit_detail::LossValue{-std::numeric_limits<double>::infinity()} << ' ' << train::fit_detail::LossValue{0.5};
    CHECK(os.str() == "-inf 0.5");
}

TEST_CASE("the same seed and thread count reproduce a run exactly (shuffling, dropout, augmentation)", "[train][fit]") {
    // An ImageSet of 24 noisy 6x6 images of 2 classes, a shuffling and augmenting loader, and a model with dropout.
    const vision::ImageSet set = test::toy_image_set();
    auto run = [&] {
        test::ToyLoaders loaders(set);
        nn::Sequential<float> m{nn::Rescaling(1.0f / 255), nn::Conv2D(3, 3, nn::same, nn::relu), nn::Dropout(0.3),
                                nn::Flatten(), nn::Dense(2)};
        m.build({6, 6, 3}, 4);
        optim::Adam<float> adam(m.parameters(), {.lr = 0.01});
        auto o = test::quiet_options(3);
        o.validation = &loaders.val;
        const auto h = train::fit(m, adam, loaders.train, o);
        std::vector<double> losses = h.column("loss"), val = h.column("val_loss");
        losses.insert(losses.end(), val.begin(), val.end());
        return std::pair{m.parameters()[0].to_vector(), losses};
    };
    const auto a = run(), b = run();
    CHECK(a.first == b.first);
    CHECK(a.second == b.second);
}
