// Tests of ember/train/evaluate.hpp: evaluate's loss (the mean over samples, whatever the batches), its metrics,
// the outputs and targets it keeps, inference mode without autograd, and predict.
#include <catch2/catch.hpp>

#include <cmath>

#include <ember/autograd/grad_mode.hpp>
#include <ember/nn/nn.hpp>
#include <ember/train/evaluate.hpp>
#include <ember/train/metric.hpp>

#include "helpers.hpp"
#include "train/toy_set.hpp"

using namespace ember;
using test::ToySource;

TEST_CASE("evaluate: the loss is the mean over samples, the metrics by name, outputs and targets in order",
          "[train][evaluate]") {
    auto model = test::toy_model(21);
    ToySource val(13, 5);  // batches of 8 and 5
    const nn::SparseCategoricalCrossentropy<float> loss;
    const auto ev = train::evaluate<float>(model, val, loss,
                                           {train::accuracy<float>(), train::balanced_accuracy<float>()}, true);
    REQUIRE(ev.figures.size() == 3);
    CHECK(ev.figures[0].first == "loss");
    CHECK(ev.figures[1].first == "accuracy");
    CHECK(ev.figures[2].first == "balanced_accuracy");
    CHECK(std::isnan(ev.get("val_loss")));
    // Reference: the model over all 13 images at once, in inference mode.
    NoGradGuard no_grad;
    model.eval();
    const auto all = model(val.x);
    model.train();
    CHECK(ev.get("loss") == Approx(static_cast<double>(loss(all, val.targets).item())).epsilon(1e-6));
    REQUIRE(ev.outputs.shape() == Shape{13, 2});
    CHECK(test::max_rel_error(ev.outputs, all) < 1e-6);
    CHECK(ev.targets.to_vector() == val.targets.to_vector());
    int right = 0, right0 = 0, right1 = 0;
    for (index_t i = 0; i < 13; ++i) {
        const int predicted = all(i, 1) > all(i, 0) ? 1 : 0;
        const bool ok = predicted == val.y[static_cast<std::size_t>(i)];
        right += ok;
        (val.y[static_cast<std::size_t>(i)] == 0 ? right0 : right1) += ok;
    }
    CHECK(ev.get("accuracy") == Approx(right / 13.0));
    CHECK(ev.get("balanced_accuracy") == Approx((right0 / 7.0 + right1 / 6.0) / 2));
    // without keep_outputs nothing is kept; without a loss there is no loss figure
    const auto bare = train::evaluate<float>(model, val, {}, {train::accuracy<float>()});
    CHECK_FALSE(bare.outputs.defined());
    REQUIRE(bare.figures.size() == 1);
    CHECK(std::isnan(bare.get("loss")));
    CHECK(bare.get("accuracy") == ev.get("accuracy"));
}

TEST_CASE("evaluate runs in inference mode without autograd and restores the training mode; predict",
          "[train][evaluate]") {
    nn::Sequential<float> model{nn::Rescaling(1.0f / 255), nn::Conv2D(2, 3, nn::same, nn::relu), nn::Dropout(0.5),
                                nn::Flatten(), nn::Dense(2)};
    model.build({6, 6, 1}, 3);
    ToySource val(11, 5);
    const auto gen_before = model.named_generators().front().second->state();
    for (const bool training : {true, false}) {
        model.train(training);
        const auto a = train::evaluate<float>(model, val, nn::SparseCategoricalCrossentropy<float>{}, {}, true);
        const auto b = train::predict(model, val);
        CHECK(model.is_training() == training);
        CHECK_FALSE(a.outputs.requires_grad());
        CHECK(a.outputs.to_vector() == b.to_vector());  // no dropout: the same outputs every time
        CHECK(model.named_generators().front().second->state() == gen_before);
    }
    CHECK(train::predict(model, val).shape() == Shape{11, 2});
    // an empty source: no outputs, a NaN loss
    ToySource none(0, 1);
    const auto empty = train::evaluate<float>(model, none, nn::SparseCategoricalCrossentropy<float>{}, {}, true);
    CHECK(std::isnan(empty.get("loss")));
    CHECK_FALSE(empty.outputs.defined());
}
