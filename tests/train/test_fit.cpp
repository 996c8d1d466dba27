#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/optim/sgd.hpp>
#include <ember/vision/augment.hpp>
#include <ember/train/fit.hpp>

#include "helpers.hpp"
#include "train/toy_set.hpp"

using namespace ember;

namespace {
/// An in-memory batch source over generated 6x6x1 images of 2 classes (bright left or right half).
struct Toy {
    Tensor<float> x;
    std::vector<std::int32_t> y;
    index_t batch = 8, at = 0;
    Toy(index_t n, std::uint64_t seed) : x(Tensor<float>::empty({n, 6, 6, 1})), y(static_cast<std::size_t>(n)) {
        Generator gen(seed);
        for (index_t i = 0; i < n; ++i) {
            const int label = static_cast<int>(i % 2);
            y[static_cast<std::size_t>(i)] = label;
            for (index_t r = 0; r < 6; ++r)
                for (index_t c = 0; c < 6; ++c)
                    x(i, r, c, 0) = ((c < 3) == (label == 0) ? 200.f : 30.f) + static_cast<float>(gen.uniform(-25, 25));
        }
    }
    long batches_per_epoch() const { return static_cast<long>((x.size(0) + batch - 1) / batch); }
    void start_epoch(int) { at = 0; }
    bool next(train::Batch<float>& b) {
        if (at >= x.size(0)) return false;
        const index_t end = std::min(at + batch, x.size(0));
        b.images = x.slice_rows(at, end);
        b.labels.assign(y.begin() + at, y.begin() + end);
        at = end;
        return true;
    }
};

/// Options for the toy's 2 classes, without a log.
train::FitOptions quiet_options(int epochs) {
    train::FitOptions o;
    o.epochs = epochs;
    o.classes = 2;
    o.log = nullptr;
    return o;
}

nn::Sequential<float> toy_model() {
    nn::Sequential<float> m{nn::Rescaling(1.0f / 255), nn::Conv2D(2, 3, nn::same, nn::relu), nn::Flatten(), nn::Dense(2)};
    m.build({6, 6, 1}, 3);
    return m;
}
}  // namespace

TEST_CASE("fit trains, validates, records history and reports the best epoch", "[train][fit]") {
    Toy train_set(32, 1), val_set(16, 2);
    auto model = toy_model();
    optim::Adam<float> adam(model.parameters(), {.lr = 0.02});
    std::ostringstream log;
    int best_calls = 0, end_calls = 0;
    train::FitOptions o;
    o.epochs = 6;
    o.classes = 2;
    o.log = &log;
    o.interactive_progress = false;
    o.on_best = [&](const train::EpochRecord&, const train::Evaluation& ev) {
        ++best_calls;
        CHECK(ev.probabilities.shape() == Shape{16, 2});
    };
    o.on_epoch_end = [&](const train::History&) { ++end_calls; };
    o.lr_schedule = [](int epoch, double lr) { return epoch <= 3 ? lr : lr / 2; };
    auto h = train::fit(model, adam, train_set, val_set, o);
    REQUIRE(h.epochs.size() == 6);
    CHECK(end_calls == 6);
    CHECK(best_calls >= 1);
    CHECK(h.epochs.back().loss < h.epochs.front().loss);
    CHECK(h.epochs.back().val_accuracy > 0.9);
    CHECK(h.epochs[4].learning_rate == Approx(0.01));
    CHECK_THAT(log.str(), Catch::Contains("Epoch 1/6"));
    CHECK_THAT(log.str(), Catch::Contains("4/4 ["));
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
    Toy train_set(32, 1);  // 4 steps an epoch
    auto model = toy_model();
    NormRecordingSGD sgd(model.parameters(), {.lr = 0.01});
    const auto h = train::fit(model, sgd, train_set, quiet_options(2));
    REQUIRE(h.epochs.size() == 2);
    REQUIRE(sgd.squared.size() == 8);
    for (std::size_t e = 0; e < 2; ++e) {
        double sum = 0, max = 0;
        for (std::size_t s = 4 * e; s < 4 * e + 4; ++s) {
            sum += std::sqrt(sgd.squared[s]);
            max = std::max(max, std::sqrt(sgd.squared[s]));
        }
        CHECK(h.epochs[e].grad_norm_mean == Approx(sum / 4).epsilon(1e-12));
        CHECK(h.epochs[e].grad_norm_max == Approx(max).epsilon(1e-12));
        CHECK(h.epochs[e].grad_norm_max > h.epochs[e].grad_norm_mean);  // the norms differ from step to step
    }
    CHECK(sgd.last_gradient_norm() == Approx(std::sqrt(sgd.squared.back())).epsilon(1e-12));
    // ... and with clipping the record is the norm before it (the update rule gets the clipped gradients)
    auto clipped_model = toy_model();
    NormRecordingSGD clipped(clipped_model.parameters(), {.lr = 0.01, .common = {.global_clipnorm = 1e-3}});
    const auto hc = train::fit(clipped_model, clipped, train_set, quiet_options(1));
    CHECK(hc.epochs[0].grad_norm_max > 1e-2);
    for (double sq : clipped.squared) CHECK(std::sqrt(sq) == Approx(1e-3).epsilon(1e-5));
}

TEST_CASE("fit stops early and refuses bad options", "[train][fit]") {
    Toy train_set(16, 1), val_set(8, 2);
    auto model = toy_model();
    optim::Adam<float> adam(model.parameters(), {.lr = 0.0});  // nothing improves
    auto o = quiet_options(10);
    o.early_stopping_patience = 2;
    CHECK(train::fit(model, adam, train_set, val_set, o).epochs.size() == 3);
    o.epochs = 0;
    CHECK(test::error_message<ValueError>([&] { train::fit(model, adam, train_set, val_set, o); }) ==
          "fit: epochs must be > 0, got 0");
}

TEST_CASE("fit without validation data takes the same steps, records NaN validation and refuses what needs it", "[train][fit]") {
    Toy train_set(32, 1), val_set(16, 2);
    // with dropout, whose generator an evaluation in training mode would advance
    const auto model = [] {
        nn::Sequential<float> m{nn::Rescaling(1.0f / 255), nn::Conv2D(2, 3, nn::same, nn::relu), nn::Dropout(0.3),
                                nn::Flatten(), nn::Dense(2)};
        m.build({6, 6, 1}, 3);
        return m;
    };
    auto validated = model(), unvalidated = model();
    optim::Adam<float> adam_a(validated.parameters(), {.lr = 0.02}), adam_b(unvalidated.parameters(), {.lr = 0.02});
    std::ostringstream log;
    auto o = quiet_options(3);
    const auto with_val = train::fit(validated, adam_a, train_set, val_set, o);
    o.log = &log;
    o.interactive_progress = false;
    int ends = 0;
    o.on_epoch_end = [&](const train::History& h) { CHECK(h.epochs.size() == static_cast<std::size_t>(++ends)); };
    const auto without = train::fit(unvalidated, adam_b, train_set, o);
    CHECK(ends == 3);
    // validation changes nothing in training: the same weights, bit for bit, and the same training figures
    for (std::size_t p = 0; p < validated.parameters().size(); ++p)
        CHECK(validated.parameters()[p].to_vector() == unvalidated.parameters()[p].to_vector());
    REQUIRE(without.epochs.size() == 3);
    CHECK(with_val.validated());
    CHECK_FALSE(without.validated());
    for (std::size_t e = 0; e < 3; ++e) {
        CHECK(without.epochs[e].loss == with_val.epochs[e].loss);
        CHECK(without.epochs[e].accuracy == with_val.epochs[e].accuracy);
        CHECK(std::isnan(without.epochs[e].val_loss));
        CHECK(std::isnan(without.epochs[e].val_accuracy));
        CHECK(std::isnan(without.epochs[e].val_balanced_accuracy));
    }
    CHECK_THAT(log.str(), Catch::Contains("Epoch 3/3") && !Catch::Contains("val_") && !Catch::Contains("best so far"));
    // history.csv leaves the unmeasured figures empty
    const auto csv = test::scratch_root() / "fit-no-validation-history.csv";
    std::filesystem::create_directories(csv.parent_path());
    without.write_csv(csv);
    std::ifstream in(csv);
    std::string header, first;
    std::getline(in, header);
    std::getline(in, first);
    CHECK(header == "epoch,loss,accuracy,val_loss,val_accuracy,val_balanced_accuracy,learning_rate,seconds,grad_norm_mean,"
                    "grad_norm_max");
    CHECK_THAT(first, Catch::StartsWith("1,") && Catch::Contains(",,,0.02,"));
    // what monitors a validation figure is refused, not silently skipped
    o.early_stopping_patience = 2;
    CHECK(test::error_message<ValueError>([&] { train::fit(unvalidated, adam_b, train_set, o); }) ==
          "fit: early stopping monitors val_accuracy, which needs validation data; none was given");
    o.early_stopping_patience = 0;
    o.monitor = train::Monitor::val_loss;
    o.on_best = [](const train::EpochRecord&, const train::Evaluation&) {};
    CHECK(test::error_message<ValueError>([&] { train::fit(unvalidated, adam_b, train_set, o); }) ==
          "fit: on_best is called when val_loss improves, which needs validation data; none was given (save in "
          "on_epoch_end instead)");
}

TEST_CASE("fit: label smoothing on the training and validation loss, class weights on training only (Keras)", "[train][fit]") {
    Toy train_set(32, 1), val_set(16, 2);
    auto o = quiet_options(2);
    auto plain = toy_model(), smoothed = toy_model(), weighted = toy_model();
    optim::Adam<float> a1(plain.parameters(), {.lr = 0.02}), a2(smoothed.parameters(), {.lr = 0.02}),
        a3(weighted.parameters(), {.lr = 0.02});
    const auto h_plain = train::fit(plain, a1, train_set, val_set, o);
    o.label_smoothing = 0.2f;
    const auto h_smoothed = train::fit(smoothed, a2, train_set, val_set, o);
    CHECK(h_smoothed.epochs[0].loss != h_plain.epochs[0].loss);
    CHECK(train::evaluate(smoothed, val_set, 2, {}, train::TestTimeAugment::none, 0.2f).loss == h_smoothed.epochs.back().val_loss);
    // The first epoch's training loss is the smoothed loss, batch by batch, of a model trained the same way.
    auto replay = toy_model();
    optim::Adam<float> a4(replay.parameters(), {.lr = 0.02});
    double first = 0;
    train_set.start_epoch(1);
    train::Batch<float> b;
    while (train_set.next(b)) {
        auto loss = sparse_categorical_crossentropy(replay(b.images), b.labels, {}, 0.2f);
        first += static_cast<double>(loss.item()) * static_cast<double>(b.labels.size()) / 32;
        a4.zero_grad();
        loss.backward();
        a4.step();
    }
    CHECK(h_smoothed.epochs[0].loss == Approx(first).epsilon(1e-12));

    // Class weights scale the training loss only: val_loss is the unweighted loss of the validated model.
    o.label_smoothing = 0;
    o.class_weights = {3.0f, 0.5f};
    const auto h_weighted = train::fit(weighted, a3, train_set, val_set, o);
    CHECK(h_weighted.epochs[0].loss != h_plain.epochs[0].loss);
    CHECK(train::evaluate(weighted, val_set, 2).loss == h_weighted.epochs.back().val_loss);

    o.class_weights.clear();
    for (float e : {-0.5f, 1.5f, std::nanf("")}) {
        CAPTURE(e);
        o.label_smoothing = e;
        CHECK_THAT(test::error_message<ValueError>([&] { train::fit(plain, a1, train_set, val_set, o); }),
                   Catch::StartsWith("fit: label_smoothing must be in [0, 1], got "));
        CHECK_THAT(test::error_message<ValueError>([&] {
                       train::evaluate(plain, val_set, 2, std::span<const float>{}, train::TestTimeAugment::none, e);
                   }),
                   Catch::StartsWith("evaluate: label_smoothing must be in [0, 1], got "));
    }
}

TEST_CASE("fit with a moving average of the weights validates and keeps the average", "[train][fit][ema]") {
    Toy train_set(32, 1), val_set(16, 2);
    auto o = quiet_options(3);
    const auto same = [](nn::Sequential<float>& a, nn::Sequential<float>& b) {
        for (std::size_t p = 0; p < a.parameters().size(); ++p)
            if (a.parameters()[p].to_vector() != b.parameters()[p].to_vector()) return false;
        return true;
    };
    auto plain = toy_model(), copy = toy_model(), averaged = toy_model();
    optim::Adam<float> adam(plain.parameters(), {.lr = 0.02});
    const auto h_plain = train::fit(plain, adam, train_set, val_set, o);
    // Momentum 0 makes the average the weights themselves: the same model and figures as without it.
    optim::Adam<float> adam0(copy.parameters(), {.lr = 0.02, .common = {.use_ema = true, .ema_momentum = 0}});
    const auto h_copy = train::fit(copy, adam0, train_set, val_set, o);
    CHECK(same(plain, copy));
    for (std::size_t e = 0; e < 3; ++e) CHECK(h_copy.epochs[e].val_loss == h_plain.epochs[e].val_loss);

    // Momentum 0.9: the same training steps (same training figures), validation of the average, which the
    // model holds at the end (Keras' finalize_variable_values) and the optimizer still holds as its average.
    std::ostringstream log;
    o.log = &log;
    o.interactive_progress = false;
    optim::Adam<float> ema(averaged.parameters(), {.lr = 0.02, .common = {.use_ema = true, .ema_momentum = 0.9}});
    const auto h = train::fit(averaged, ema, train_set, val_set, o);
    CHECK_THAT(log.str(), Catch::Contains("Weights averaged (EMA, momentum 0.9)"));
    for (std::size_t e = 0; e < 3; ++e) CHECK(h.epochs[e].loss == h_plain.epochs[e].loss);
    CHECK_FALSE(same(plain, averaged));
    for (std::size_t p = 0; p < averaged.parameters().size(); ++p)
        CHECK(averaged.parameters()[p].to_vector() == ema.averages()[p].to_vector());
    CHECK(train::evaluate(averaged, val_set, 2).loss == h.epochs.back().val_loss);
    CHECK(h.epochs.back().val_loss != h_plain.epochs.back().val_loss);

    // Callbacks see the validated (averaged) model; early stopping ends with the average too; a callback that
    // throws leaves the raw weights in the model and the optimizer usable.
    auto stopped = toy_model();
    optim::Adam<float> ema2(stopped.parameters(), {.lr = 0.02, .common = {.use_ema = true, .ema_momentum = 0.9}});
    o.log = nullptr;
    o.epochs = 20;
    o.early_stopping_patience = 1;
    o.monitor = train::Monitor::val_loss;
    int seen = 0;
    o.on_epoch_end = [&](const train::History& hist) {
        ++seen;
        CHECK(ema2.averages_swapped_in());
        CHECK(train::evaluate(stopped, val_set, 2).loss == hist.epochs.back().val_loss);
    };
    const auto hs = train::fit(stopped, ema2, train_set, val_set, o);
    CHECK(static_cast<int>(hs.epochs.size()) == seen);
    CHECK_FALSE(ema2.averages_swapped_in());
    for (std::size_t p = 0; p < stopped.parameters().size(); ++p)
        CHECK(stopped.parameters()[p].to_vector() == ema2.averages()[p].to_vector());
    o.early_stopping_patience = 0;
    o.epochs = 2;
    o.on_epoch_end = [](const train::History&) { throw std::runtime_error("disk full"); };
    const auto before = ema2.iterations();
    CHECK_THROWS_WITH(train::fit(stopped, ema2, train_set, val_set, o), "disk full");
    CHECK_FALSE(ema2.averages_swapped_in());
    CHECK(ema2.iterations() == before + 4);  // one epoch of 4 batches
    for (std::size_t p = 0; p < stopped.parameters().size(); ++p)  // the raw weights, not the average
        CHECK(stopped.parameters()[p].to_vector() != ema2.averages()[p].to_vector());
    ema2.swap_averages();
    CHECK(test::error_message<StateError>([&] { ema2.step(); }) ==
          "Adam: step() while the moving averages are swapped into the parameters (call swap_averages() again first)");
}

TEST_CASE("a NaN loss stops training and names the batch", "[train][fit][errors]") {
    Toy train_set(16, 1), val_set(8, 2);
    train_set.x(9, 0, 0, 0) = std::numeric_limits<float>::quiet_NaN();  // in batch 2
    auto model = toy_model();
    optim::Adam<float> adam(model.parameters());
    auto o = quiet_options(2);
    CHECK(test::error_message<train::NonFiniteLossError>([&] { train::fit(model, adam, train_set, val_set, o); }) ==
          "fit: the loss became nan at epoch 1, batch 2 of 2; training stopped after 0 complete epochs");
    CHECK(test::error_message<train::NonFiniteLossError>([&] { train::fit(model, adam, train_set, o); }) ==
          "fit: the loss became nan at epoch 1, batch 2 of 2; training stopped after 0 complete epochs");
    // in a later epoch: on_best has seen the complete one
    struct PoisonedLater : Toy {
        using Toy::Toy;
        void start_epoch(int epoch) {
            at = 0;
            x(9, 0, 0, 0) = epoch == 2 ? std::numeric_limits<float>::quiet_NaN() : 100.f;
        }
    } later(16, 1);
    auto fresh = toy_model();
    optim::Adam<float> adam2(fresh.parameters());
    std::vector<int> best_epochs;
    o.epochs = 3;
    o.on_best = [&](const train::EpochRecord& r, const train::Evaluation&) { best_epochs.push_back(r.epoch); };
    CHECK(test::error_message<train::NonFiniteLossError>([&] { train::fit(fresh, adam2, later, val_set, o); }) ==
          "fit: the loss became nan at epoch 2, batch 2 of 2; training stopped after 1 complete epoch");
    CHECK(best_epochs == std::vector<int>{1});
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
        auto& train_loader = loaders.train;
        auto& val_loader = loaders.val;
        nn::Sequential<float> m{nn::Rescaling(1.0f / 255), nn::Conv2D(3, 3, nn::same, nn::relu), nn::Dropout(0.3),
                                nn::Flatten(), nn::Dense(2)};
        m.build({6, 6, 3}, 4);
        optim::Adam<float> adam(m.parameters(), {.lr = 0.01});
        auto o = quiet_options(3);
        train::fit(m, adam, train_loader, val_loader, o);
        return m.parameters()[0].to_vector();
    };
    CHECK(run() == run());
}

TEST_CASE("fit keeps the best epoch by the monitored value (balanced accuracy, loss)", "[train][fit]") {
    for (const auto monitor : {train::Monitor::val_balanced_accuracy, train::Monitor::val_loss}) {
        CAPTURE(train::monitor_name(monitor));
        Toy train_set(16, 1), val_set(8, 2);
        auto model = toy_model();
        optim::Adam<float> adam(model.parameters(), {.lr = 0.05});
        auto o = quiet_options(5);
        o.monitor = monitor;
        std::vector<int> best_epochs;
        o.on_best = [&](const train::EpochRecord& r, const train::Evaluation&) { best_epochs.push_back(r.epoch); };
        const auto h = train::fit(model, adam, train_set, val_set, o);
        auto value = [&](int epoch) {
            const auto& r = h.epochs[static_cast<std::size_t>(epoch - 1)];
            return monitor == train::Monitor::val_loss ? -r.val_loss : r.val_balanced_accuracy;
        };
        // on_best fires exactly at the epochs that beat every earlier one.
        std::vector<int> expected;
        double best = -1e300;
        for (int e = 1; e <= static_cast<int>(h.epochs.size()); ++e)
            if (value(e) > best) {
                best = value(e);
                expected.push_back(e);
            }
        CHECK(best_epochs == expected);
    }
    CHECK(train::parse_monitor("val_balanced_accuracy") == train::Monitor::val_balanced_accuracy);
    CHECK(test::error_message<ValueError>([] { train::parse_monitor("accuracy"); }) ==
          "unknown monitor 'accuracy': expected val_accuracy, val_balanced_accuracy or val_loss");
}

TEST_CASE("evaluate with test-time flips averages the four flipped copies' probabilities", "[train][fit]") {
    auto model = toy_model();
    Toy val(13, 21);
    const auto plain = train::evaluate(model, val, 2);
    const auto tta = train::evaluate(model, val, 2, {}, train::TestTimeAugment::flips);
    REQUIRE(tta.labels == plain.labels);
    // Reference: each flip made with vision::flip on a copy of the images, the model run on each.
    NoGradGuard no_grad;
    model.eval();
    auto expected = Tensor<float>::zeros({13, 2});
    for (const auto& [h, v] : {std::pair{false, false}, std::pair{true, false}, std::pair{false, true}, std::pair{true, true}}) {
        auto x = val.x.clone();
        for (index_t i = 0; i < 13; ++i) vision::flip(x.data() + i * 36, 6, 6, 1, h, v);
        const auto p = softmax(model(x));
        for (index_t i = 0; i < p.numel(); ++i) expected.data()[i] += p.data()[i] / 4;
    }
    double loss = 0;
    for (index_t i = 0; i < 13; ++i) {
        for (index_t c = 0; c < 2; ++c) CHECK(tta.probabilities(i, c) == Approx(expected(i, c)).epsilon(1e-5));
        loss -= std::log(expected(i, val.y[static_cast<std::size_t>(i)])) / 13;
    }
    CHECK(tta.loss == Approx(loss).epsilon(1e-5));
    // With label smoothing the loss of the mean probabilities is taken against the smoothed target.
    const auto smoothed = train::evaluate(model, val, 2, {}, train::TestTimeAugment::flips, 0.2);  // a double literal converts
    double smoothed_loss = 0;
    for (index_t i = 0; i < 13; ++i)
        for (index_t c = 0; c < 2; ++c)
            smoothed_loss -= (0.8 * (c == val.y[static_cast<std::size_t>(i)]) + 0.1) * std::log(expected(i, c)) / 13;
    CHECK(smoothed.loss == Approx(smoothed_loss).epsilon(1e-5));
    CHECK(smoothed.probabilities.to_vector() == tta.probabilities.to_vector());
    // Class weights scale each image's smoothed term by w[y], and the sum is still divided by the image count.
    const std::vector<float> w{3.0f, 0.5f};
    const auto weighted = train::evaluate(model, val, 2, std::span<const float>(w), train::TestTimeAugment::flips, 0.2);
    double weighted_loss = 0;
    for (index_t i = 0; i < 13; ++i) {
        const auto y = val.y[static_cast<std::size_t>(i)];
        for (index_t c = 0; c < 2; ++c)
            weighted_loss -= w[static_cast<std::size_t>(y)] * (0.8 * (c == y) + 0.1) * std::log(expected(i, c)) / 13;
    }
    CHECK(weighted.loss == Approx(weighted_loss).epsilon(1e-5));
    CHECK(weighted.loss != Approx(smoothed.loss).epsilon(1e-3));
    // The flips change this (asymmetric, untrained) model's answers, so the test is not vacuous.
    double moved = 0;
    for (index_t i = 0; i < 26; ++i) moved = std::max(moved, std::abs(static_cast<double>(tta.probabilities.data()[i] - plain.probabilities.data()[i])));
    CHECK(moved > 1e-4);
    CHECK(train::parse_test_time_augment("flips") == train::TestTimeAugment::flips);
    CHECK_THROWS_WITH(train::parse_test_time_augment("rot90"), Catch::Contains("expected none or flips"));
}

TEST_CASE("an ensemble's evaluation averages its members' probabilities", "[train][fit]") {
    auto a = toy_model();
    nn::Sequential<float> b{nn::Rescaling(1.0f / 255), nn::Conv2D(2, 3, nn::same, nn::relu), nn::Flatten(), nn::Dense(2)};
    b.build({6, 6, 1}, 99);
    Toy val(11, 5);
    const auto ea = train::evaluate(a, val, 2), eb = train::evaluate(b, val, 2);
    const auto ens = train::ensemble({ea, eb});
    REQUIRE(ens.labels == ea.labels);
    double loss = 0;
    for (index_t i = 0; i < 11; ++i) {
        float p[2];
        for (index_t c = 0; c < 2; ++c) {
            p[c] = (ea.probabilities(i, c) + eb.probabilities(i, c)) / 2;
            CHECK(ens.probabilities(i, c) == Approx(p[c]).epsilon(1e-6));
        }
        const int y = val.y[static_cast<std::size_t>(i)];
        loss -= std::log(p[y]) / 11;
        CHECK(ens.confusion.count(y, p[1] > p[0] ? 1 : 0) >= 1);
    }
    CHECK(ens.loss == Approx(loss).epsilon(1e-5));
    CHECK(ens.confusion.total() == 11);
    // One member is itself; members over other images are refused.
    CHECK(train::ensemble({ea}).confusion.accuracy() == Approx(ea.confusion.accuracy()));
    Toy other(7, 5);
    CHECK_THROWS_WITH(train::ensemble({ea, train::evaluate(b, other, 2)}), Catch::Contains("different images"));
}

TEST_CASE("learning-rate schedules follow Keras' CosineDecay and ExponentialDecay, counted in epochs", "[train][schedule]") {
    const double pi = 3.14159265358979323846;
    const auto cosine = train::cosine_decay(24);
    CHECK(cosine(1, 3e-4) == 3e-4);
    for (int e = 1; e <= 24; ++e)  // the formula the melanoma runs 6-17 used, bit for bit
        CHECK(cosine(e, 3e-4) == 0.5 * 3e-4 * (1 + std::cos(pi * (e - 1) / 24)));
    CHECK(cosine(25, 3e-4) == 0.0);
    CHECK(cosine(40, 3e-4) == 0.0);  // stays at alpha * initial after decay_epochs
    const auto floor = train::cosine_decay(10, 0.1);
    CHECK(floor(6, 1.0) == Approx(0.9 * 0.5 + 0.1).epsilon(1e-15));
    CHECK(floor(11, 1.0) == Approx(0.1).epsilon(1e-15));
    CHECK(floor(99, 1.0) == Approx(0.1).epsilon(1e-15));

    const auto smooth = train::exponential_decay(10, 0.5);
    CHECK(smooth(1, 0.1) == 0.1);
    CHECK(smooth(6, 0.1) == Approx(0.1 * std::pow(0.5, 0.5)).epsilon(1e-15));
    const auto stairs = train::exponential_decay(10, 0.5, true);
    CHECK(stairs(10, 0.1) == 0.1);
    CHECK(stairs(11, 0.1) == 0.05);
    CHECK(stairs(21, 0.1) == 0.025);

    CHECK(test::error_message<ValueError>([] { train::cosine_decay(0); }) == "cosine_decay: decay_epochs must be > 0, got 0");
    CHECK(test::error_message<ValueError>([] { train::cosine_decay(5, 1.5); }) == "cosine_decay: alpha must lie in [0, 1], got 1.5");
    CHECK(test::error_message<ValueError>([] { train::exponential_decay(5, 0); }) ==
          "exponential_decay: decay_rate must be finite and > 0, got 0");
}

TEST_CASE("ReduceLROnPlateau's bookkeeping follows Keras' (patience, min_delta, cooldown, min_lr)", "[train][schedule]") {
    train::PlateauTracker t({.factor = 0.5, .patience = 2, .min_delta = 0.01});
    double lr = 1.0;
    // improves, improves, flat, flat -> reduced; a gain below min_delta is no improvement
    for (const double s : {0.5, 0.6, 0.6, 0.605}) lr = t.next_rate(s, lr);
    CHECK(lr == 0.5);
    CHECK(t.reduced());
    lr = t.next_rate(0.7, lr);  // an improvement resets the count
    CHECK_FALSE(t.reduced());
    lr = t.next_rate(0.7, lr);
    CHECK(t.wait() == 1);
    lr = t.next_rate(0.69, lr);
    CHECK(lr == 0.25);

    // cooldown: after a reduction, `cooldown` epochs pass before the count resumes; min_lr is a floor
    train::PlateauTracker c({.factor = 0.5, .patience = 1, .cooldown = 2, .min_lr = 0.3});
    lr = 1.0;
    std::vector<double> rates;
    for (int e = 0; e < 7; ++e) rates.push_back(lr = c.next_rate(e == 0 ? 1.0 : 0.0, lr));
    // epoch 1 improves; 2 reduces to 0.5; 3 cools down; 4 ends the cooldown and, with patience 1, counts and
    // reduces again, to max(0.25, 0.3) = 0.3 (as Keras: the counter is decremented before it is tested); then
    // 0.3 is the floor
    CHECK(rates == std::vector<double>{1.0, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3});

    // a rate that has reached min_lr is not "reduced" to it again (1e-6 is not a float32: Keras' comparison with
    // float32(min_lr) would reduce 1e-6 to 1e-6 every `patience` epochs)
    train::PlateauTracker f({.factor = 0.5, .patience = 1, .min_lr = 1e-6});
    lr = 4e-6;
    int reductions = 0;
    for (int e = 0; e < 8; ++e) {
        lr = f.next_rate(e == 0 ? 1.0 : 0.0, lr);
        reductions += f.reduced();
    }
    CHECK(lr == 1e-6);
    CHECK(reductions == 2);
    // patience 0: every epoch without improvement reduces
    train::PlateauTracker z({.factor = 0.5, .patience = 0});
    lr = z.next_rate(1.0, 1.0);
    CHECK_FALSE(z.reduced());
    lr = z.next_rate(1.0, lr);
    CHECK(z.reduced());
    CHECK(z.waited() == 1);
    CHECK(lr == 0.5);
}

TEST_CASE("fit lowers the rate on a plateau of the monitored value, and refuses what cannot work", "[train][fit][schedule]") {
    Toy train_set(16, 1), val_set(8, 2);
    auto model = toy_model();
    // rates that are powers of two, so that every halving is exact
    optim::Adam<float> adam(model.parameters(), {.lr = std::ldexp(1.0, -20)});
    std::ostringstream log;
    train::FitOptions o;
    o.epochs = 8;
    o.classes = 2;
    o.log = &log;
    o.interactive_progress = false;
    // nothing improves by 10 after the first epoch
    o.reduce_lr_on_plateau = train::ReduceLROnPlateau{.monitor = train::Monitor::val_accuracy, .factor = 0.5,
                                                      .patience = 2, .min_delta = 10, .cooldown = 1,
                                                      .min_lr = std::ldexp(1.0, -22)};
    const auto h = train::fit(model, adam, train_set, val_set, o);
    std::vector<double> rates;
    for (const auto& r : h.epochs) rates.push_back(r.learning_rate);
    const double a = std::ldexp(1.0, -20), b = a / 2, c = a / 4;
    CHECK(rates == std::vector<double>{a, a, a, b, b, c, c, c});
    CHECK_THAT(log.str(), Catch::Contains("Epoch 3: ReduceLROnPlateau reducing learning rate to ") &&
                              Catch::Contains("(no better val_accuracy for 2 epochs)") &&
                              Catch::Contains("Epoch 5: ReduceLROnPlateau") && !Catch::Contains("Epoch 7: ReduceLROnPlateau"));

    o.log = nullptr;
    o.lr_schedule = train::cosine_decay(8);
    CHECK(test::error_message<ValueError>([&] { train::fit(model, adam, train_set, val_set, o); }) ==
          "fit: lr_schedule and reduce_lr_on_plateau both set the learning rate; give one of them");
    o.lr_schedule = nullptr;
    CHECK(test::error_message<ValueError>([&] { train::fit(model, adam, train_set, o); }) ==
          "fit: reduce_lr_on_plateau monitors val_accuracy, which needs validation data; none was given");
    o.reduce_lr_on_plateau->factor = 1;
    CHECK(test::error_message<ValueError>([&] { train::fit(model, adam, train_set, val_set, o); }) ==
          "ReduceLROnPlateau: factor must lie in (0, 1), got 1");
    CHECK(test::error_message<ValueError>([] { train::PlateauTracker({.min_delta = -1}); }) ==
          "ReduceLROnPlateau: patience, cooldown, min_delta and min_lr must be finite and >= 0, got 10, 0, -1, 0");
    CHECK_THROWS_AS(train::PlateauTracker({.min_delta = std::numeric_limits<double>::infinity()}), ValueError);
}
