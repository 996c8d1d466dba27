#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>

#include "helpers.hpp"
#include "reference.hpp"

using namespace ember;

TEST_CASE("Conv2D builds Keras-shaped parameters and applies its op", "[nn][layers]") {
    nn::Conv2D<double> conv(4, 3, nn::same, nn::relu);
    Generator gen(1);
    CHECK(conv.build({6, 7, 2}, gen) == Shape{6, 7, 4});
    CHECK(conv.kernel().shape() == Shape{3, 3, 2, 4});
    CHECK(conv.bias().shape() == Shape{4});
    for (double b : conv.bias().span()) CHECK(b == 0);
    CHECK(conv.parameter_count() == 3 * 3 * 2 * 4 + 4);
    auto x = Tensor<double>::uniform({2, 6, 7, 2}, -1, 1, gen);
    auto ref = test::conv2d_reference(x, conv.kernel(), conv.bias(), 1, 1, nn::same);
    for (auto& v : ref.span()) v = std::max(v, 0.0);
    CHECK(test::max_rel_error(conv(x), ref) < 1e-12);
    nn::Conv2D<float> strided(8, {4, 2}, nn::same, nn::linear, {2, 2});
    CHECK(strided.build({9, 8, 3}, gen) == Shape{5, 4, 8});
}

TEST_CASE("Dense, Flatten, Rescaling, ReLU, Softmax, MaxPool2D", "[nn][layers]") {
    Generator gen(2);
    nn::Dense<double> dense(3);
    CHECK(dense.build({5}, gen) == Shape{3});
    auto x = Tensor<double>::uniform({4, 5}, -1, 1, gen);
    auto y = dense(x);
    for (index_t i = 0; i < 4; ++i)
        for (index_t j = 0; j < 3; ++j) {
            double acc = dense.bias()(j);
            for (index_t k = 0; k < 5; ++k) acc += x(i, k) * dense.kernel()(k, j);
            CHECK(y(i, j) == Approx(acc));
        }
    nn::Flatten<double> flat;
    CHECK(flat.build({2, 3, 4}, gen) == Shape{24});
    CHECK(flat(Tensor<double>::zeros({5, 2, 3, 4})).shape() == Shape{5, 24});
    nn::Rescaling<float> rescale(1.0f / 255);
    CHECK(rescale(Tensor<float>::full({1, 2}, 255)).data()[0] == Approx(1.0f));
    nn::ReLU<float> relu;
    CHECK(relu(Tensor<float>::from_data({1, 2}, {-1, 2})).to_vector() == std::vector<float>{0, 2});
    nn::Softmax<float> sm;
    CHECK(sm(Tensor<float>::zeros({1, 4})).data()[0] == Approx(0.25f));
    nn::MaxPool2D<float> pool(2);
    CHECK(pool.build({45, 45, 64}, gen) == Shape{22, 22, 64});
}

TEST_CASE("Dropout is active in training and the identity in eval", "[nn][layers]") {
    nn::Dropout<float> drop(0.5);
    Generator gen(3);
    drop.build({1000}, gen);
    auto x = Tensor<float>::ones({1, 1000});
    auto train_out = drop(x);
    int zeros = 0;
    for (float v : train_out.span()) zeros += v == 0.0f;
    CHECK(zeros > 400);
    CHECK(zeros < 600);
    drop.eval();
    CHECK(drop(x).to_vector() == x.to_vector());
}

TEST_CASE("layer errors name the layer", "[nn][layers][errors]") {
    Generator gen(4);
    nn::Conv2D<float> conv(32, 5, nn::same, nn::relu);
    conv.set_name("conv2d_1");
    conv.build({180, 180, 3}, gen);
    CHECK(test::error_message<ShapeError>([&] { conv(Tensor<float>::zeros({32, 3, 180, 180})); }) ==
          "Conv2D 'conv2d_1': expected input [N, H, W, 3], got [32, 3, 180, 180]");
    CHECK(test::error_message<ShapeError>([&] { conv.build({90, 90, 3}, gen); }) ==
          "Conv2D 'conv2d_1': already built for input [180, 180, 3], cannot rebuild for [90, 90, 3]");
    nn::Dense<float> dense(9);
    CHECK(test::error_message<ShapeError>([&] { dense.build({22, 22, 64}, gen); }) ==
          "Dense 'dense': expected input [N, features], got [N, 22, 22, 64] (add a Flatten layer before it)");
    nn::Dense<float> unbuilt(3);
    CHECK(test::error_message<StateError>([&] { (void)unbuilt.kernel(); }) ==
          "Dense 'dense': used before build(); call build(input_shape) or run a batch first");
    CHECK(test::error_message<ValueError>([] { nn::Conv2D<float>(0, 3); }) == "Conv2D: filters must be > 0, got 0");
    CHECK(test::error_message<ValueError>([] { nn::Dropout<float>(1.5); }) == "Dropout: rate must be in [0, 1), got 1.5");
}

TEST_CASE("a layer builds lazily from its first batch", "[nn][layers]") {
    nn::Dense<float> dense(2);
    auto y = dense(Tensor<float>::ones({3, 7}));
    CHECK(dense.built());
    CHECK(dense.kernel().shape() == Shape{7, 2});
    CHECK(y.shape() == Shape{3, 2});
}
