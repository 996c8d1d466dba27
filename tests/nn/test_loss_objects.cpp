// tests/nn/test_loss_objects.cpp - the Keras-named loss objects of nn/loss.hpp for binary and focal losses: that
// each calls its op with its fields, accepts Keras' target shapes, refuses what it cannot honour, and trains.
#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>

#include <vector>

#include "helpers.hpp"

using namespace ember;

TEMPLATE_TEST_CASE("BinaryCrossentropy and BinaryFocalCrossentropy call their ops with their fields", "[nn][loss]",
                   float, double) {
    using T = TestType;
    Generator gen(21);
    const auto z = Tensor<T>::uniform({5, 1}, -3, 3, gen);
    const auto t = Tensor<T>::from_data({5, 1}, {0, 1, 1, 0, 1});
    const std::vector<T> w{T(0.5), T(2)};
    const nn::BinaryCrossentropy<T> bce{true, T(0.1), w};
    CHECK(bce(z, t).item() == binary_crossentropy_from_logits(z, t, w, T(0.1)).item());
    const nn::BinaryFocalCrossentropy<T> focal{T(1.5), T(0.4), true, w, T(0.05)};
    CHECK(focal(z, t).item() ==
          binary_focal_crossentropy_from_logits(z, t, w, BinaryFocalOptions<T>{T(1.5), T(0.4), true, T(0.05)}).item());
    // Keras' defaults: gamma 2, alpha 0.25, no balancing, no smoothing, no weights.
    CHECK(nn::BinaryFocalCrossentropy<T>{}(z, t).item() == binary_focal_crossentropy_from_logits(z, t).item());
    // Class-index targets [N] against one output [N, 1], as Keras accepts them.
    const auto flat = Tensor<T>::from_data({5}, {0, 1, 1, 0, 1});
    CHECK(bce(z, flat).item() == bce(z, t).item());
    CHECK(focal(z, flat).item() == focal(z, t).item());
}

TEMPLATE_TEST_CASE("SparseCategoricalFocalCrossentropy takes class indices as T", "[nn][loss]", float, double) {
    using T = TestType;
    Generator gen(22);
    const auto z = Tensor<T>::uniform({4, 3}, -3, 3, gen);
    const std::vector<T> w{T(1), T(2), T(0.5)};
    const nn::SparseCategoricalFocalCrossentropy<T> loss{T(1), T(0.5), w};
    const std::vector<std::int32_t> labels{2, 0, 1, 1};
    CHECK(loss(z, Tensor<T>::from_data({4}, {2, 0, 1, 1})).item() ==
          sparse_categorical_focal_crossentropy(z, labels, w, CategoricalFocalOptions<T>{T(1), T(0.5)}).item());
    CHECK(loss(z, Tensor<T>::from_data({4, 1}, {2, 0, 1, 1})).item() == loss(z, Tensor<T>::from_data({4}, {2, 0, 1, 1})).item());
}

TEST_CASE("the loss objects refuse from_logits=false, mismatched shapes and non-class targets", "[nn][loss][errors]") {
    const auto z = Tensor<float>::zeros({4, 1});
    nn::BinaryCrossentropy<float> probabilities;
    probabilities.from_logits = false;
    CHECK(test::error_message<ValueError>([&] { probabilities(z, z); }) ==
          "BinaryCrossentropy: from_logits=false is not supported: ember trains on logits (end the model in a linear "
          "layer; the loss applies the sigmoid stably, and ember::sigmoid turns outputs into probabilities)");
    CHECK(test::error_message<ShapeError>([&] {
              nn::BinaryCrossentropy<float>{}(Tensor<float>::zeros({4, 2}), Tensor<float>::zeros({4}));
          }) == "binary_crossentropy_from_logits: logits [4, 2] and targets [4] differ (give targets the logits' "
                "shape, e.g. [N, 1] for a model with one output)");
    CHECK(test::error_message<ShapeError>([&] { nn::BinaryFocalCrossentropy<float>{}(z, Tensor<float>::zeros({3})); }) ==
          "binary_focal_crossentropy_from_logits: logits [4, 1] and targets [3] differ (give targets the logits' "
          "shape, e.g. [N, 1] for a model with one output)");
    CHECK(test::error_message<ValueError>([&] {
              nn::SparseCategoricalFocalCrossentropy<float>{}(Tensor<float>::zeros({2, 3}),
                                                              Tensor<float>::from_data({2}, {0, 0.5f}));
          }) == "class_indices: target 0.5 at row 1 is not a class index");
    CHECK(test::error_message<ShapeError>([&] {
              nn::SparseCategoricalFocalCrossentropy<float>{2, 0.25f, {1, 1}}(Tensor<float>::zeros({2, 3}),
                                                                             Tensor<float>::zeros({2}));
          }) == "sparse_categorical_focal_crossentropy: 2 class weights for logits [2, 3]");
}

TEST_CASE("a Dense(1) logistic model learns a separable rule with BinaryFocalCrossentropy and class weights",
          "[nn][loss]") {
    Generator gen(23);
    nn::Sequential<double> model{nn::Dense<double>(8), nn::Swish<double>(), nn::Dense<double>(1)};
    model.build({2}, 3);
    auto x = Tensor<double>::uniform({64, 2}, -1, 1, gen);
    auto t = Tensor<double>::empty({64});
    for (index_t i = 0; i < 64; ++i) t.data()[i] = x.data()[2 * i] + x.data()[2 * i + 1] > 0 ? 1 : 0;
    const nn::BinaryFocalCrossentropy<double> loss{2, 0.25, true, {1, 2}};
    double first = 0, last = 0;
    for (int step = 0; step < 300; ++step) {
        for (auto& p : model.parameters()) p.zero_grad();
        auto l = loss(model(x), t);
        l.backward();
        (step == 0 ? first : last) = l.item();
        NoGradGuard no_grad;
        for (auto& p : model.parameters())
            for (index_t i = 0; i < p.numel(); ++i) p.data()[i] -= 2.0 * p.grad().data()[i];
    }
    CHECK(last < first / 4);
    NoGradGuard no_grad;
    const auto y = model(x);
    int right = 0;
    for (index_t i = 0; i < 64; ++i) right += (y.data()[i] > 0) == (t.data()[i] == 1);
    CHECK(right >= 60);
}
