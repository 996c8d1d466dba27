#include <catch2/catch.hpp>

#include <sstream>

#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/train/fit.hpp>

#include "helpers.hpp"

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

TEST_CASE("fit stops early and refuses bad options", "[train][fit]") {
    Toy train_set(16, 1), val_set(8, 2);
    auto model = toy_model();
    optim::Adam<float> adam(model.parameters(), {.lr = 0.0});  // nothing improves
    train::FitOptions o;
    o.epochs = 10;
    o.classes = 2;
    o.log = nullptr;
    o.early_stopping_patience = 2;
    CHECK(train::fit(model, adam, train_set, val_set, o).epochs.size() == 3);
    o.epochs = 0;
    CHECK(test::error_message<ValueError>([&] { train::fit(model, adam, train_set, val_set, o); }) ==
          "fit: epochs must be > 0, got 0");
}

TEST_CASE("a NaN loss stops training and names the batch", "[train][fit][errors]") {
    Toy train_set(16, 1), val_set(8, 2);
    train_set.x(9, 0, 0, 0) = std::numeric_limits<float>::quiet_NaN();  // in batch 2
    auto model = toy_model();
    optim::Adam<float> adam(model.parameters());
    train::FitOptions o;
    o.epochs = 2;
    o.classes = 2;
    o.log = nullptr;
    CHECK(test::error_message<train::NonFiniteLossError>([&] { train::fit(model, adam, train_set, val_set, o); }) ==
          "fit: the loss became nan at epoch 1, batch 2 of 2; training stopped (the best checkpoint so far is kept)");
}
