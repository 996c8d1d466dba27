// The pooling layers (MaxPool2D with 'same', AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D) and the
// depthwise layers (DepthwiseConv2D, SeparableConv2D): Keras' shapes, parameter names and counts, initialisers,
// float and double, a model that trains, and error messages naming the layer.
#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>
#include <ember/optim/sgd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace ember;

namespace {
template <Real T>
std::vector<std::string> names(const nn::Module<T>& m) {
    std::vector<std::string> out;
    for (const auto& p : m.named_parameters()) out.push_back(p.name);
    return out;
}
}  // namespace

TEMPLATE_TEST_CASE("pooling layers: Keras' output shapes, 'same' padding, no parameters", "[nn][pooling]", float,
                   double) {
    using T = TestType;
    Generator gen(1);
    CHECK(nn::MaxPool2D<T>(2).build({45, 45, 8}, gen) == Shape{22, 22, 8});
    CHECK(nn::MaxPool2D<T>(2, std::nullopt, nn::same).build({45, 45, 8}, gen) == Shape{23, 23, 8});
    CHECK(nn::MaxPool2D<T>(3, nn::Size2{1, 2}, nn::same).build({7, 9, 2}, gen) == Shape{7, 5, 2});
    CHECK(nn::AveragePooling2D<T>().build({45, 45, 8}, gen) == Shape{22, 22, 8});
    CHECK(nn::AveragePooling2D<T>({3, 2}, nn::Size2{2, 1}).build({9, 7, 4}, gen) == Shape{4, 6, 4});
    CHECK(nn::AveragePooling2D<T>(2, std::nullopt, nn::same).build({9, 7, 4}, gen) == Shape{5, 4, 4});
    CHECK(nn::GlobalAveragePooling2D<T>().build({7, 7, 32}, gen) == Shape{32});
    CHECK(nn::GlobalAveragePooling2D<T>(true).build({7, 7, 32}, gen) == Shape{1, 1, 32});
    CHECK(nn::GlobalMaxPooling2D<T>().build({3, 5, 6}, gen) == Shape{6});
    CHECK(nn::GlobalMaxPooling2D<T>(true).build({3, 5, 6}, gen) == Shape{1, 1, 6});

    auto x = Tensor<T>::uniform({2, 5, 7, 3}, -1, 1, gen);
    nn::AveragePooling2D<T> avg(2, std::nullopt, nn::same);
    CHECK(avg(x).to_vector() == avg_pool2d(x, {2, 2, 2, 2, Padding::same}).to_vector());
    nn::MaxPool2D<T> mx(2, std::nullopt, nn::same);
    CHECK(mx(x).to_vector() == max_pool2d(x, {2, 2, 2, 2, Padding::same}).to_vector());
    nn::GlobalAveragePooling2D<T> gap;
    CHECK(gap(x).to_vector() == global_avg_pool2d(x).to_vector());
    nn::GlobalMaxPooling2D<T> gmp(true);
    CHECK(gmp(x).shape() == Shape{2, 1, 1, 3});
    for (const nn::Module<T>* m : std::initializer_list<const nn::Module<T>*>{&avg, &mx, &gap, &gmp})
        CHECK(m->parameter_count() == 0);
    CHECK(avg.type_name() == "AveragePooling2D");
    CHECK(gap.default_name() == "global_average_pooling2d");
    CHECK(gmp.type_name() == "GlobalMaxPooling2D");
    CHECK(gmp.default_name() == "global_max_pooling2d");
}

TEMPLATE_TEST_CASE("DepthwiseConv2D: Keras' kernel [KH, KW, C, M], names, initialisers, op", "[nn][depthwise]", float,
                   double) {
    using T = TestType;
    Generator gen(2);
    nn::DepthwiseConv2D<T> dw(3, nn::same, nn::relu, 2, 2);
    CHECK(dw.build({9, 8, 4}, gen) == Shape{5, 4, 8});
    CHECK(names(dw) == std::vector<std::string>{"depthwise_kernel", "bias"});
    CHECK(dw.depthwise_kernel().shape() == Shape{3, 3, 4, 2});
    CHECK(dw.bias().shape() == Shape{8});
    CHECK(dw.parameter_count() == 3 * 3 * 4 * 2 + 8);
    for (T b : dw.bias().span()) CHECK(b == 0);
    // glorot_uniform with Keras' fans: 3*3*4 in, 3*3*2 out.
    const double limit = std::sqrt(6.0 / (36 + 18));
    for (T v : dw.depthwise_kernel().span()) CHECK(std::abs(static_cast<double>(v)) <= limit);
    auto x = Tensor<T>::uniform({2, 9, 8, 4}, -1, 1, gen);
    CHECK(dw(x).to_vector() ==
          depthwise_conv2d(x, dw.depthwise_kernel(), dw.bias(), {2, 2, Padding::same, true}).to_vector());
    CHECK(dw.type_name() == "DepthwiseConv2D");
    CHECK(dw.default_name() == "depthwise_conv2d");

    nn::DepthwiseConv2D<T> plain({3, 2});  // Keras' defaults: 'valid', stride 1, multiplier 1, a bias
    CHECK(plain.build({5, 5, 3}, gen) == Shape{3, 4, 3});
    CHECK(plain.parameter_count() == 3 * 2 * 3 + 3);
    nn::DepthwiseConv2D<T> no_bias(3, nn::valid, nn::linear, 1, 1, false);
    no_bias.build({5, 5, 3}, gen);
    CHECK(names(no_bias) == std::vector<std::string>{"depthwise_kernel"});
    CHECK(!no_bias.bias().defined());
    CHECK(no_bias(Tensor<T>::ones({1, 5, 5, 3})).shape() == Shape{1, 3, 3, 3});
}

TEMPLATE_TEST_CASE("SeparableConv2D: depthwise then a 1x1 conv with the bias, Keras' names and counts",
                   "[nn][depthwise]", float, double) {
    using T = TestType;
    Generator gen(3);
    nn::SeparableConv2D<T> sep(8, 3, nn::same, nn::relu, 2, 2);
    CHECK(sep.build({7, 6, 4}, gen) == Shape{4, 3, 8});
    CHECK(names(sep) == std::vector<std::string>{"depthwise_kernel", "pointwise_kernel", "bias"});
    CHECK(sep.depthwise_kernel().shape() == Shape{3, 3, 4, 2});
    CHECK(sep.pointwise_kernel().shape() == Shape{1, 1, 8, 8});
    CHECK(sep.parameter_count() == 3 * 3 * 4 * 2 + 8 * 8 + 8);  // Keras' count for SeparableConv2D(8, 3, ...)
    const double pointwise_limit = std::sqrt(6.0 / (8 + 8));
    for (T v : sep.pointwise_kernel().span()) CHECK(std::abs(static_cast<double>(v)) <= pointwise_limit);
    auto x = Tensor<T>::uniform({2, 7, 6, 4}, -1, 1, gen);
    const auto mid = depthwise_conv2d(x, sep.depthwise_kernel(), Tensor<T>(), {2, 2, Padding::same, false});
    CHECK(sep(x).to_vector() ==
          conv2d(mid, sep.pointwise_kernel(), sep.bias(), {1, 1, Padding::valid, true}).to_vector());
    CHECK(sep.type_name() == "SeparableConv2D");
    CHECK(sep.default_name() == "separable_conv2d");
    nn::SeparableConv2D<T> no_bias(5, 3, nn::valid, nn::linear, 1, 1, false);
    no_bias.build({5, 5, 3}, gen);
    CHECK(names(no_bias) == std::vector<std::string>{"depthwise_kernel", "pointwise_kernel"});
    CHECK(no_bias.parameter_count() == 3 * 3 * 3 + 3 * 5);
}

TEST_CASE("a depthwise-separable model with global pooling builds, summarises and trains", "[nn][depthwise]") {
    nn::Sequential<double> model{nn::Conv2D<double>(4, 3, nn::same, nn::relu),
                                 nn::DepthwiseConv2D<double>(3, nn::same, nn::relu),
                                 nn::SeparableConv2D<double>(6, 3, nn::same, nn::relu, 2),
                                 nn::AveragePooling2D<double>(2, std::nullopt, nn::same),
                                 nn::GlobalAveragePooling2D<double>(), nn::Dense<double>(2)};
    CHECK(model.build({9, 9, 3}, 7) == Shape{2});
    const std::string s = model.summary();
    CHECK_THAT(s, Catch::Contains("depthwise_conv2d (DepthwiseConv2D)"));
    CHECK_THAT(s, Catch::Contains("separable_conv2d (SeparableConv2D)"));
    CHECK_THAT(s, Catch::Contains("(None, 3, 3, 6)"));  // 9 -> 5 (stride 2, 'same') -> 3 (pool, 'same')
    const auto params = model.named_parameters();
    CHECK(std::any_of(params.begin(), params.end(),
                      [](const auto& p) { return p.name == "separable_conv2d.pointwise_kernel"; }));
    Generator gen(8);
    auto x = Tensor<double>::uniform({4, 9, 9, 3}, -1, 1, gen);
    const std::vector<std::int32_t> labels{0, 1, 1, 0};
    optim::SGD<double> opt(model.parameters(), {.lr = 0.1});
    const auto loss_of = [&] { return sparse_categorical_crossentropy(model(x), labels); };
    const double before = loss_of().item();
    for (int step = 0; step < 20; ++step) {
        opt.zero_grad();
        loss_of().backward();
        opt.step();
    }
    CHECK(loss_of().item() < before);
}

TEST_CASE("pooling and depthwise layer errors name the layer", "[nn][depthwise][errors]") {
    Generator gen(9);
    nn::DepthwiseConv2D<float> dw(5);
    CHECK(test::error_message<ShapeError>([&] { dw.build({4, 9, 3}, gen); }) ==
          "DepthwiseConv2D 'depthwise_conv2d': input [N, 4, 9, 3] is smaller than the 5x5 kernel with 'valid' padding");
    CHECK(test::error_message<ShapeError>([&] { dw.build({9, 3}, gen); }) ==
          "DepthwiseConv2D 'depthwise_conv2d': expected input [N, H, W, C], got [N, 9, 3]");
    nn::DepthwiseConv2D<float> built(3);
    built.build({6, 6, 3}, gen);
    CHECK(test::error_message<ShapeError>([&] { built(Tensor<float>::zeros({1, 6, 6, 4})); }) ==
          "DepthwiseConv2D 'depthwise_conv2d': expected input [N, H, W, 3], got [1, 6, 6, 4]");
    nn::SeparableConv2D<float> sep(4, 3);
    sep.set_name("sep");
    CHECK(test::error_message<ShapeError>([&] { sep.build({2, 9, 3}, gen); }) ==
          "SeparableConv2D 'sep': input [N, 2, 9, 3] is smaller than the 3x3 kernel with 'valid' padding");
    CHECK(test::error_message<ValueError>([] { nn::DepthwiseConv2D<float>(3, nn::valid, nn::linear, 1, 0); }) ==
          "DepthwiseConv2D: depth_multiplier must be > 0, got 0");
    CHECK(test::error_message<ValueError>([] { nn::DepthwiseConv2D<float>({0, 3}); }) ==
          "DepthwiseConv2D: kernel_size must be > 0, got (0, 3)");
    CHECK(test::error_message<ValueError>([] { nn::SeparableConv2D<float>(0, 3); }) ==
          "SeparableConv2D: filters must be > 0, got 0");
    CHECK(test::error_message<ValueError>([] { nn::SeparableConv2D<float>(2, 3, nn::valid, nn::linear, 0); }) ==
          "SeparableConv2D: strides must be > 0, got (0, 0)");
    nn::AveragePooling2D<float> avg(3);
    CHECK(test::error_message<ShapeError>([&] { avg.build({2, 9, 3}, gen); }) ==
          "AveragePooling2D 'average_pooling2d': input [N, 2, 9, 3] is smaller than the pool window");
    CHECK(test::error_message<ValueError>([] { nn::AveragePooling2D<float>(0); }) ==
          "AveragePooling2D: pool size and strides must be > 0, got pool (0, 0) strides (0, 0)");
    nn::GlobalAveragePooling2D<float> gap;
    CHECK(test::error_message<ShapeError>([&] { gap.build({12}, gen); }) ==
          "GlobalAveragePooling2D 'global_average_pooling2d': expected input [N, H, W, C], got [N, 12]");
    nn::GlobalMaxPooling2D<float> gmp;
    gmp.build({4, 4, 2}, gen);
    CHECK(test::error_message<ShapeError>([&] { gmp(Tensor<float>::zeros({2, 8})); }) ==
          "GlobalMaxPooling2D 'global_max_pooling2d': expected input [N, H, W, C], got [2, 8]");
}
