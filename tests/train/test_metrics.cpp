#include <catch2/catch.hpp>

#include <ember/train/metrics.hpp>

#include "helpers.hpp"

using namespace ember;
using train::ConfusionMatrix;

TEST_CASE("confusion matrix metrics match hand counts", "[train][metrics]") {
    ConfusionMatrix cm(3);
    // truth:     0 0 0 0 1 1 2 2 2 2
    // predicted: 0 0 1 2 1 0 2 2 2 1
    const std::vector<std::int32_t> t{0, 0, 0, 0, 1, 1, 2, 2, 2, 2}, p{0, 0, 1, 2, 1, 0, 2, 2, 2, 1};
    cm.add(t, p);
    CHECK(cm.total() == 10);
    CHECK(cm.count(0, 0) == 2);
    CHECK(cm.accuracy() == Approx(0.6));
    CHECK(cm.recall(0) == Approx(0.5));
    CHECK(cm.recall(1) == Approx(0.5));
    CHECK(cm.recall(2) == Approx(0.75));
    CHECK(cm.precision(0) == Approx(2.0 / 3));
    CHECK(cm.precision(1) == Approx(1.0 / 3));
    CHECK(cm.precision(2) == Approx(0.75));
    CHECK(cm.f1(0) == Approx(2 * (2.0 / 3) * 0.5 / (2.0 / 3 + 0.5)));
    CHECK(cm.balanced_accuracy() == Approx((0.5 + 0.5 + 0.75) / 3));
    // class 2 one-vs-rest: negatives = 6, false positives = 1 -> specificity 5/6
    CHECK(cm.specificity(2) == Approx(5.0 / 6));
    CHECK_THAT(cm.to_string({"a", "b", "c"}), Catch::Contains("        a     2     1     1"));
}

TEST_CASE("balanced accuracy skips absent classes, and errors name the pair", "[train][metrics][errors]") {
    ConfusionMatrix cm(3);
    cm.add(0, 0);
    cm.add(1, 0);
    CHECK(cm.balanced_accuracy() == Approx(0.5));
    CHECK(test::error_message<ValueError>([&] { cm.add(3, 0); }) ==
          "ConfusionMatrix: pair (truth 3, predicted 0) outside [0, 3)");
}

TEST_CASE("argmax, binary rates and the alert threshold for a target sensitivity", "[train][metrics]") {
    auto scores = Tensor<float>::from_data({3, 3}, {0.1f, 0.7f, 0.2f, 0.5f, 0.2f, 0.3f, 0.3f, 0.3f, 0.4f});
    CHECK(train::argmax_rows(scores) == std::vector<std::int32_t>{1, 0, 2});
    const std::vector<double> p{0.9, 0.2, 0.6, 0.4, 0.1, 0.7};
    const std::vector<bool> pos{true, true, true, false, false, false};
    auto r = train::binary_rates(p, pos, 0.5);
    CHECK(r.tp == 2);
    CHECK(r.fn == 1);
    CHECK(r.fp == 1);
    CHECK(r.tn == 2);
    CHECK(r.sensitivity() == Approx(2.0 / 3));
    CHECK(r.specificity() == Approx(2.0 / 3));
    CHECK(train::threshold_for_sensitivity(p, pos, 1.0) == 0.2);
    CHECK(train::threshold_for_sensitivity(p, pos, 0.6) == 0.6);
    CHECK(train::binary_rates(p, pos, train::threshold_for_sensitivity(p, pos, 0.6)).sensitivity() >= 0.6);
}
