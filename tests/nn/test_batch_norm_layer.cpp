// tests/nn/test_batch_norm_layer.cpp - the BatchNormalization layer: Keras' defaults and names, the moving
// averages (moved in training, frozen by eval()), non-trainable counts, and the statistics in checkpoints and
// training states.
#include <catch2/catch.hpp>

#include <filesystem>

#include <ember/io/checkpoint.hpp>
#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/train/training_state.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
nn::Sequential<float> conv_bn_model() {
    return nn::Sequential<float>{nn::Conv2D(4, 3, nn::same), nn::BatchNormalization(), nn::ReLU(), nn::Flatten(),
                                 nn::Dense(3), nn::BatchNormalization(0.9)};
}
}  // namespace

TEMPLATE_TEST_CASE("BatchNormalization has Keras' names and defaults", "[nn][batch_norm]", float, double) {
    nn::BatchNormalization<TestType> bn;
    CHECK(bn.type_name() == "BatchNormalization");
    CHECK(bn.momentum() == 0.99);
    CHECK(bn.epsilon() == 1e-3);
    CHECK(bn.build({5, 5, 8}, 1) == Shape{5, 5, 8});
    const auto params = bn.named_parameters();
    REQUIRE(params.size() == 2);
    CHECK(params[0].name == "gamma");
    CHECK(params[1].name == "beta");
    const auto buffers = bn.named_buffers();
    REQUIRE(buffers.size() == 2);
    CHECK(buffers[0].name == "moving_mean");
    CHECK(buffers[1].name == "moving_variance");
    for (const auto& p : params) CHECK(p.value.requires_grad());
    for (const auto& b : buffers) CHECK_FALSE(b.value.requires_grad());
    CHECK(bn.parameter_count() == 16);
    CHECK(bn.buffer_count() == 16);
    nn::BatchNormalization<TestType> plain(0.99, 1e-3, false, false);
    plain.build({3}, 1);
    CHECK(plain.named_parameters().empty());
    CHECK(plain.named_buffers().size() == 2);
}

TEST_CASE("BatchNormalization moves its averages in training and freezes them in inference", "[nn][batch_norm]") {
    nn::BatchNormalization<double> bn(0.9);
    bn.build({2}, 1);
    const auto x = Tensor<double>::from_data({4, 2}, {1, 10, 3, 10, 5, 14, 7, 14});  // means 4, 12; variances 5, 4
    const auto y = bn(x);
    CHECK(bn.moving_mean().data()[0] == Approx(0.9 * 0 + 0.1 * 4));
    CHECK(bn.moving_mean().data()[1] == Approx(0.1 * 12));
    CHECK(bn.moving_variance().data()[0] == Approx(0.9 * 1 + 0.1 * 5));  // biased variance, as Keras
    CHECK(bn.moving_variance().data()[1] == Approx(0.9 + 0.1 * 4));
    CHECK(y.data()[0] == Approx((1 - 4) / std::sqrt(5 + 1e-3)));
    bn.eval();
    const auto mean = bn.moving_mean().clone();
    const auto z = bn(x);
    CHECK(bn.moving_mean().data()[0] == mean.data()[0]);
    CHECK(z.data()[0] == Approx((1 - 0.4) / std::sqrt(1.4 + 1e-3)));
    // A batch of one sample is fine in inference mode, refused in training mode.
    CHECK(bn(Tensor<double>::ones({1, 2})).shape() == Shape{1, 2});
    bn.train();
    CHECK(test::error_message<ValueError>([&] { (void)bn(Tensor<double>::ones({1, 2})); })
              .starts_with("BatchNormalization 'batch_normalization': cannot normalize input [1, 2] in training mode"));
    CHECK(test::error_message<ShapeError>([&] { (void)bn(Tensor<double>::ones({4, 3})); }) ==
          "BatchNormalization 'batch_normalization': expected input [N, 2], got [4, 3]");
}

TEST_CASE("a Sequential with batch normalization counts non-trainable weights and trains", "[nn][batch_norm]") {
    auto model = conv_bn_model();
    model.build({6, 6, 2}, 3);
    CHECK(model.buffer_count() == 2 * 4 + 2 * 3);
    const auto names = model.named_buffers();
    REQUIRE(names.size() == 4);
    CHECK(names[0].name == "batch_normalization.moving_mean");
    CHECK(names[3].name == "batch_normalization_1.moving_variance");
    const std::string summary = model.summary();
    const index_t trainable = 2 * 3 * 3 * 4 + 4 + 8 + 144 * 3 + 3 + 6;
    CHECK(model.parameter_count() == trainable);
    CHECK(summary.find("Trainable params: " + nn::Sequential<float>::with_commas(trainable)) != std::string::npos);
    CHECK(summary.find("Non-trainable params: 14") != std::string::npos);
    CHECK(summary.find("Total params: " + nn::Sequential<float>::with_commas(trainable + 14)) != std::string::npos);
    // The optimizer sees the parameters only: a step leaves the moving statistics alone.
    optim::Adam<float> opt(model.parameters(), {.lr = 1e-2});
    Generator gen(9);
    const auto x = Tensor<float>::uniform({8, 6, 6, 2}, -1, 1, gen);
    const auto before = model.named_buffers()[0].value.clone();
    auto loss = mean(model(x));
    opt.zero_grad();
    loss.backward();
    opt.step();
    CHECK(test::max_rel_error(model.named_buffers()[0].value, before) > 0);  // moved by the forward pass
}

TEST_CASE("checkpoints and training states carry the moving statistics", "[nn][batch_norm][io]") {
    const auto dir = test::scratch_root();
    auto a = conv_bn_model();
    a.build({6, 6, 2}, 3);
    Generator gen(2);
    (void)a(Tensor<float>::uniform({5, 6, 6, 2}, 0, 3, gen));  // move the statistics away from 0 and 1
    io::save_checkpoint(dir / "bn.safetensors", a);
    auto b = conv_bn_model();
    b.build({6, 6, 2}, 4);
    io::load_checkpoint(dir / "bn.safetensors", b);
    for (std::size_t i = 0; i < a.named_buffers().size(); ++i)
        CHECK(test::max_rel_error(b.named_buffers()[i].value, a.named_buffers()[i].value) == 0);
    a.eval();
    b.eval();
    const auto x = Tensor<float>::uniform({2, 6, 6, 2}, 0, 3, gen);
    CHECK(test::max_rel_error(b(x), a(x)) == 0);
    // A training state too.
    optim::Adam<float> opt_a(a.parameters()), opt_b(b.parameters());
    train::save_training_state(dir / "bn-state.safetensors", a, opt_a, train::History{});
    auto c = conv_bn_model();
    c.build({6, 6, 2}, 5);
    optim::Adam<float> opt_c(c.parameters());
    (void)train::load_training_state(dir / "bn-state.safetensors", c, opt_c);
    c.eval();
    CHECK(test::max_rel_error(c(x), a(x)) == 0);
    // A checkpoint without the moving statistics (a model without batch normalization) is refused by architecture.
    nn::Sequential<float> plain{nn::Conv2D(4, 3, nn::same), nn::ReLU(), nn::Flatten(), nn::Dense(3)};
    plain.build({6, 6, 2}, 1);
    io::save_checkpoint(dir / "plain.safetensors", plain);
    CHECK_THROWS_AS(io::load_checkpoint(dir / "plain.safetensors", b), ValueError);
}

TEST_CASE("a checkpoint of another dilation or epsilon is refused by its architecture", "[nn][batch_norm][io]") {
    const auto dir = test::scratch_root();
    nn::Sequential<float> a{nn::Conv2D(2, 3, nn::same, nn::linear, 1, 2), nn::BatchNormalization(0.99, 1e-5)};
    a.build({5, 5, 1}, 1);
    CHECK(a.architecture() == "conv2d:Conv2D(dilation=2x2):[5, 5, 2];batch_normalization:BatchNormalization(epsilon=1e-05):"
                              "[5, 5, 2]");
    io::save_checkpoint(dir / "dilated.safetensors", a);
    nn::Sequential<float> b{nn::Conv2D(2, 3, nn::same), nn::BatchNormalization()};
    b.build({5, 5, 1}, 1);
    CHECK(b.architecture() == "conv2d:Conv2D:[5, 5, 2];batch_normalization:BatchNormalization:[5, 5, 2]");
    CHECK_THROWS_AS(io::load_checkpoint(dir / "dilated.safetensors", b), ValueError);
}
