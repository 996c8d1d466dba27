#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
nn::Sequential<float> reference_model() {
    return nn::Sequential<float>{
        nn::Rescaling(1.0f / 255),
        nn::Conv2D(32, 5, nn::same, nn::relu), nn::Conv2D(32, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Dropout(0.25), nn::Flatten(), nn::Dense(9),
    };
}
}  // namespace

TEST_CASE("the reference model infers its shapes and has 460,585 parameters", "[nn][sequential]") {
    auto model = reference_model();
    CHECK(model.build({180, 180, 3}) == Shape{9});
    const std::vector<Shape> expected{{180, 180, 3}, {180, 180, 32}, {180, 180, 32}, {90, 90, 32}, {90, 90, 64},
                                      {45, 45, 64},  {45, 45, 64},   {22, 22, 64},   {22, 22, 64}, {30976},
                                      {9}};
    REQUIRE(model.size() == expected.size());
    for (std::size_t i = 0; i < model.size(); ++i) CHECK(model[i].output_shape() == expected[i]);
    CHECK(model.parameter_count() == 460585);
    CHECK(model.parameters().size() == 10);
    const auto named = model.named_parameters();
    CHECK(named[0].name == "conv2d.kernel");
    CHECK(named[3].name == "conv2d_1.bias");
    CHECK(named[9].name == "dense.bias");
    // Keras' limits for each kernel
    const double limits[] = {0.0828, 0.0612, 0.0500, 0.0433, 0.01392};
    for (int i = 0; i < 5; ++i) {
        float worst = 0;
        for (float v : named[static_cast<std::size_t>(2 * i)].value.span()) worst = std::max(worst, std::abs(v));
        CHECK(worst <= limits[i] + 5e-5);
        CHECK(worst > 0.9 * limits[i]);
        for (float b : named[static_cast<std::size_t>(2 * i + 1)].value.span()) CHECK(b == 0);
    }
}

TEST_CASE("summary() prints the Keras-style table", "[nn][sequential]") {
    auto model = reference_model();
    model.build({180, 180, 3});
    const std::string s = model.summary();
    CHECK_THAT(s, Catch::Contains(" conv2d (Conv2D)                     (None, 180, 180, 32)                2,432\n"));
    CHECK_THAT(s, Catch::Contains(" conv2d_1 (Conv2D)                   (None, 180, 180, 32)               25,632\n"));
    CHECK_THAT(s, Catch::Contains(" max_pool2d (MaxPool2D)              (None, 90, 90, 32)                      0\n"));
    CHECK_THAT(s, Catch::Contains(" conv2d_3 (Conv2D)                   (None, 45, 45, 64)                102,464\n"));
    CHECK_THAT(s, Catch::Contains(" max_pool2d_2 (MaxPool2D)            (None, 22, 22, 64)                      0\n"));
    CHECK_THAT(s, Catch::Contains(" flatten (Flatten)                   (None, 30976)                           0\n"));
    CHECK_THAT(s, Catch::Contains(" dense (Dense)                       (None, 9)                         278,793\n"));
    CHECK_THAT(s, Catch::Contains("Total params: 460,585\nTrainable params: 460,585\nNon-trainable params: 0\n"));
}

TEST_CASE("the same seed builds the same weights", "[nn][sequential]") {
    auto a = reference_model(), b = reference_model(), c = reference_model();
    a.build({180, 180, 3}, 7);
    b.build({180, 180, 3}, 7);
    c.build({180, 180, 3}, 8);
    CHECK(a.parameters()[0].to_vector() == b.parameters()[0].to_vector());
    CHECK(a.parameters()[0].to_vector() != c.parameters()[0].to_vector());
}

TEST_CASE("train()/eval() reach every layer, and a wrong input shape is named", "[nn][sequential]") {
    auto model = reference_model();
    model.build({180, 180, 3});
    model.eval();
    for (std::size_t i = 0; i < model.size(); ++i) CHECK_FALSE(model[i].is_training());
    model.train();
    CHECK(model[8].is_training());
    CHECK(test::error_message<ShapeError>([&] { model(Tensor<float>::zeros({2, 3, 180, 180})); }) ==
          "Sequential 'sequential': expected input [N, 180, 180, 3], got [2, 3, 180, 180]");
    CHECK(test::error_message<StateError>([&] { model.add(nn::Dense(3)); }) ==
          "Sequential::add: cannot add Dense to a model that is already built");
}

TEST_CASE("a small CNN learns a generated task (loss falls by more than 90%)", "[nn][sequential][training]") {
    // Three classes of 8x8x1 images: a bright 4x4 block in the top-left, top-right or bottom half, plus noise.
    Generator gen(5);
    const index_t n = 48;
    auto x = Tensor<float>::empty({n, 8, 8, 1});
    std::vector<std::int32_t> y(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        const int label = static_cast<int>(i % 3);
        y[static_cast<std::size_t>(i)] = label;
        for (index_t r = 0; r < 8; ++r)
            for (index_t c = 0; c < 8; ++c) {
                const bool on = label == 0 ? (r < 4 && c < 4) : label == 1 ? (r < 4 && c >= 4) : r >= 4;
                x(i, r, c, 0) = (on ? 200.0f : 20.0f) + static_cast<float>(gen.uniform(-20, 20));
            }
    }
    nn::Sequential<float> model{nn::Rescaling(1.0f / 255), nn::Conv2D(4, 3, nn::same, nn::relu), nn::MaxPool2D(2),
                                nn::Flatten(), nn::Dense(3)};
    model.build({8, 8, 1}, 1);
    optim::Adam<float> adam(model.parameters(), {.lr = 1e-2});
    const float first = nn::sparse_categorical_crossentropy(model(x), y).item();
    float last = first;
    for (int step = 0; step < 150; ++step) {
        auto loss = nn::sparse_categorical_crossentropy(model(x), y);
        adam.zero_grad();
        loss.backward();
        adam.step();
        last = loss.item();
    }
    CAPTURE(first, last);
    CHECK(last < 0.1f * first);
}
