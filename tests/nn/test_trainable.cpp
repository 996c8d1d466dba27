// tests/nn/test_trainable.cpp - set_trainable(false), Keras' layer.trainable = False: frozen parameters get no
// gradient and stay out of trainable_parameters(), a frozen BatchNormalization normalizes with its moving
// statistics even in training mode, and containers pass the setting on.
#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
nn::Sequential<float> conv_bn_dense() {
    return nn::Sequential<float>{nn::Conv2D(3, 3, nn::same), nn::BatchNormalization(), nn::ReLU(), nn::Flatten(),
                                 nn::Dense(2)};
}
}  // namespace

TEST_CASE("a frozen layer gets no gradient, and the optimizer is given the trainable parameters", "[nn][trainable]") {
    auto model = conv_bn_dense();
    model.build({4, 4, 2}, 1);
    model[0].set_trainable(false);
    CHECK_FALSE(model[0].trainable());
    CHECK(model.trainable_parameters().size() == 4);  // gamma, beta, dense kernel and bias
    CHECK(model.trainable_parameter_count() == 3 + 3 + 48 * 2 + 2);
    const std::string summary = model.summary();
    CHECK(summary.find("Trainable params: 104") != std::string::npos);
    CHECK(summary.find("Non-trainable params: " + std::to_string(3 * 3 * 2 * 3 + 3 + 6)) != std::string::npos);
    CHECK_THROWS_AS(optim::Adam<float>(model.parameters()), ValueError);
    optim::Adam<float> adam(model.trainable_parameters(), {.lr = 0.1});
    const auto kernel = model[0].named_parameters()[0].value.clone();
    Generator gen(3);
    auto loss = mean(model(Tensor<float>::uniform({4, 4, 4, 2}, -1, 1, gen)));
    adam.zero_grad();
    loss.backward();
    CHECK_FALSE(model[0].named_parameters()[0].value.grad().defined());
    adam.step();
    CHECK(test::max_rel_error(model[0].named_parameters()[0].value, kernel) == 0);
    model[0].set_trainable(true);
    CHECK(model.trainable_parameters().size() == 6);
}

TEST_CASE("a frozen BatchNormalization normalizes with its moving statistics while the model trains",
          "[nn][trainable][batch_norm]") {
    auto model = conv_bn_dense();
    model.build({4, 4, 2}, 1);
    Generator gen(4);
    const auto x = Tensor<float>::uniform({5, 4, 4, 2}, -1, 3, gen);
    (void)model(x);  // move the statistics away from 0 and 1
    auto& bn = dynamic_cast<nn::BatchNormalization<float>&>(model[1]);
    const auto mean = bn.moving_mean().clone();
    bn.set_trainable(false);
    model.train();
    const auto frozen = model(x);
    CHECK(test::max_rel_error(bn.moving_mean(), mean) == 0);
    model.eval();
    CHECK(test::max_rel_error(model(x), frozen) == 0);  // the same as inference
}

TEST_CASE("set_trainable reaches every layer of a container, also before it is built", "[nn][trainable]") {
    auto model = conv_bn_dense();
    model.set_trainable(false);
    model.build({4, 4, 2}, 1);
    CHECK(model.trainable_parameters().empty());
    for (std::size_t i = 0; i < model.size(); ++i) CHECK_FALSE(model[i].trainable());
    model.set_trainable(true);
    CHECK(model.trainable_parameters().size() == 6);
    // a functional Model too
    auto in = nn::Input<float>({4, 4, 2});
    auto out = nn::call(nn::Dense(2), nn::call(nn::Flatten(), nn::call(nn::BatchNormalization(), in)));
    nn::Model<float> graph(in, out);
    graph.set_trainable(false);
    CHECK(graph.trainable_parameters().empty());
    CHECK(graph.summary().find("Trainable params: 0") != std::string::npos);
}
