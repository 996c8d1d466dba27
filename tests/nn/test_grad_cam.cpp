#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <ember/nn/grad_cam.hpp>
#include <ember/nn/nn.hpp>
#include <ember/optim/sgd.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {

/// conv -> pool -> conv -> flatten -> dense -> softmax on 8x8x2 inputs: a spatial layer at 0, 1 and 2, a tail with
/// a max-pool, a fused ReLU and a final Softmax whose input is the score. The first convolution is linear: after a
/// ReLU, a pooling window of zeros is a tie, where central differences see half the gradient of the argmax.
nn::Sequential<double> small_model() {
    nn::Sequential<double> model{nn::Conv2D<double>(3, 3, nn::same), nn::MaxPool2D<double>(2),
                                 nn::Conv2D<double>(4, 3, nn::same, nn::relu), nn::Flatten<double>(),
                                 nn::Dense<double>(3), nn::Softmax<double>()};
    model.build({8, 8, 2}, 11);
    return model;
}

/// The activations of `layer` for a batch of one, without a graph.
Tensor<double> head(nn::Sequential<double>& model, const Tensor<double>& image, std::size_t layer) {
    NoGradGuard no_grad;
    Tensor<double> a = image.view_detached(image.shape().prepend(1));
    for (std::size_t i = 0; i <= layer; ++i) a = model[i].forward(a);
    return a.clone();
}

/// The logit of class c from the activations of `layer` (the layers after it, up to the final Softmax).
double tail_score(nn::Sequential<double>& model, const Tensor<double>& a, std::size_t layer, int c) {
    NoGradGuard no_grad;
    Tensor<double> h = a;
    for (std::size_t i = layer + 1; i + 1 < model.size(); ++i) h = model[i].forward(h);
    return h.data()[c];
}

/// 16x16x3 images on a dim noise background; in class 1 a bright 4x4 square lies inside the top-left quadrant,
/// class 0 has none. Labels alternate 0, 1, ...
void blob_images(Generator& gen, index_t n, Tensor<float>& x, std::vector<std::int32_t>& y) {
    x = Tensor<float>::empty({n, 16, 16, 3});
    y.assign(static_cast<std::size_t>(n), 0);
    for (index_t i = 0; i < n; ++i) {
        y[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % 2);
        float* p = x.data() + i * 16 * 16 * 3;
        for (index_t j = 0; j < 16 * 16 * 3; ++j) p[j] = static_cast<float>(gen.uniform(0, 0.05));
        if (i % 2 == 0) continue;
        const auto r0 = static_cast<index_t>(gen.below(5)), c0 = static_cast<index_t>(gen.below(5));
        for (index_t r = r0; r < r0 + 4; ++r)
            for (index_t c = c0; c < c0 + 4; ++c)
                for (index_t ch = 0; ch < 3; ++ch) x(i, r, c, ch) = 1.0f;
    }
}

}  // namespace

TEST_CASE("grad_cam's weights and map match central differences of the class logit", "[nn][grad_cam]") {
    auto model = small_model();
    Generator gen(3);
    const auto image = Tensor<double>::uniform({8, 8, 2}, 0, 1, gen);
    double heat_seen = 0;  // the map check must not pass on maps that are all zero
    for (std::size_t layer : {std::size_t{0}, std::size_t{1}, std::size_t{2}}) {
        for (int c : {0, 2}) {
            CAPTURE(layer, c);
            const auto m = nn::grad_cam(model, image, layer, c);
            Tensor<double> a = head(model, image, layer);
            const index_t h = a.size(1), w = a.size(2), k = a.size(3);
            REQUIRE(m.heat.shape() == Shape{h, w});
            REQUIRE(m.weights.shape() == Shape{k});
            CHECK(m.score == Approx(tail_score(model, a, layer, c)).epsilon(1e-12));
            // alpha_k = mean over positions of d score / d A, each derivative by central differences
            const double eps = 1e-6;
            auto alpha = Tensor<double>::zeros({k});
            for (index_t i = 0; i < a.numel(); ++i) {
                const double saved = a.data()[i];
                a.data()[i] = saved + eps;
                const double up = tail_score(model, a, layer, c);
                a.data()[i] = saved - eps;
                const double down = tail_score(model, a, layer, c);
                a.data()[i] = saved;
                alpha.data()[i % k] += (up - down) / (2 * eps) / static_cast<double>(h * w);
            }
            CHECK(test::max_rel_error(m.weights, alpha) < 1e-6);
            auto heat = Tensor<double>::zeros({h, w});
            for (index_t p = 0; p < h * w; ++p) {
                double s = 0;
                for (index_t ch = 0; ch < k; ++ch) s += alpha.data()[ch] * a.data()[p * k + ch];
                heat.data()[p] = std::max(s, 0.0);
            }
            CHECK(test::max_rel_error(m.heat, heat) < 1e-6);
            for (double v : m.heat.span()) heat_seen += v;
        }
    }
    CHECK(heat_seen > 0);
    // probabilities: the model's own output (it ends with Softmax)
    const auto m = nn::grad_cam(model, image, 2, 1);
    NoGradGuard no_grad;
    const auto probs = model(image.view_detached({1, 8, 8, 2}));
    CHECK(test::max_rel_error(m.probabilities, probs.view_detached({3})) < 1e-12);
}

TEST_CASE("grad_cam runs in inference mode and leaves the model, its gradients and grad mode as they were",
          "[nn][grad_cam]") {
    nn::Sequential<double> model{nn::Conv2D<double>(3, 3, nn::same, nn::relu), nn::Dropout<double>(0.5),
                                 nn::Conv2D<double>(2, 3, nn::valid, nn::relu), nn::Flatten<double>(),
                                 nn::Dense<double>(2)};
    model.build({6, 6, 1}, 4);
    Generator gen(8);
    const auto image = Tensor<double>::uniform({6, 6, 1}, 0, 1, gen);
    model.train();
    model[4].eval();  // a mixed state must come back as it was
    const auto first = nn::grad_cam(model, image, 1, 1);
    const auto second = nn::grad_cam(model, image.view_detached({1, 6, 6, 1}), 1, 1);  // Dropout off both times
    CHECK(first.heat.to_vector() == second.heat.to_vector());
    CHECK(first.weights.to_vector() == second.weights.to_vector());
    CHECK(model.is_training());
    for (std::size_t i = 0; i < 4; ++i) CHECK(model[i].is_training());
    CHECK_FALSE(model[4].is_training());
    for (const auto& p : model.parameters()) {
        CHECK(p.requires_grad());
        CHECK_FALSE(p.grad().defined());
    }
    CHECK_FALSE(image.requires_grad());
    {
        NoGradGuard no_grad;  // grad_cam needs a graph, and must hand back grad mode off
        const auto third = nn::grad_cam(model, image, 2, 1);
        CHECK(third.heat.shape() == Shape{4, 4});
        CHECK_FALSE(grad_enabled());
    }
    CHECK(grad_enabled());
    CHECK(nn::last_spatial_layer(model) == 2);
}

TEST_CASE("upsample_heat_map interpolates with half-pixel centres and scales to [0, 1]", "[nn][grad_cam]") {
    const auto heat = Tensor<double>::from_data({2, 2}, {0, 1, 2, 3});
    const auto up = nn::upsample_heat_map(heat, 4, 4);
    REQUIRE(up.shape() == Shape{4, 4});
    // source rows and columns of the 4 outputs: 0, 0.25, 0.75, 1 (clamped at the edges)
    CHECK(up(0, 0) == Approx(0.0));
    CHECK(up(0, 1) == Approx(0.25 / 3));
    CHECK(up(1, 2) == Approx(1.25 / 3));
    CHECK(up(3, 3) == Approx(1.0));
    CHECK(*std::max_element(up.span().begin(), up.span().end()) == 1.0);
    const auto flat = nn::upsample_heat_map(Tensor<float>::zeros({3, 2}), 5, 7);
    CHECK(flat.shape() == Shape{5, 7});
    for (float v : flat.span()) CHECK(v == 0.0f);
    const auto same = nn::upsample_heat_map(heat, 2, 2);
    CHECK(same.to_vector() == std::vector<double>{0, 1.0 / 3, 2.0 / 3, 1});
}

TEST_CASE("Grad-CAM of a trained CNN puts the class-1 evidence where the blob is", "[nn][grad_cam][training]") {
    Generator gen(21);
    Tensor<float> x;
    std::vector<std::int32_t> y;
    blob_images(gen, 64, x, y);
    nn::Sequential<float> model{nn::Conv2D(4, 3, nn::same, nn::relu), nn::MaxPool2D(2),
                                nn::Conv2D(8, 3, nn::same, nn::relu), nn::Flatten(), nn::Dense(2)};
    model.build({16, 16, 3}, 3);
    // Plain SGD, not Adam: Adam's per-weight scaling lets the Dense weights on the background grow as large as
    // those on the blob, and Grad-CAM's channel weights, a mean over all positions, then cancel (docs: Grad-CAM).
    optim::SGD<float> sgd(model.parameters(), {.lr = 0.05, .momentum = 0.9});
    for (int step = 0; step < 60; ++step) {
        auto loss = nn::sparse_categorical_crossentropy(model(x), y);
        sgd.zero_grad();
        loss.backward();
        sgd.step();
    }
    int correct = 0;
    {
        NoGradGuard no_grad;
        const auto out = model(x);
        for (index_t i = 0; i < 64; ++i) correct += (out(i, 1) > out(i, 0)) == (y[static_cast<std::size_t>(i)] == 1);
    }
    REQUIRE(correct > 0.9 * 64);
    model.eval();

    Tensor<float> test_x;
    std::vector<std::int32_t> test_y;
    blob_images(gen, 16, test_x, test_y);
    const std::size_t layer = nn::last_spatial_layer(model);
    REQUIRE(layer == 2);
    double fraction = 0;
    int images = 0;
    for (index_t i = 1; i < 16; i += 2) {  // the class-1 images
        const std::size_t pixels = 16 * 16 * 3;
        const auto image = Tensor<float>::from_data(
            {16, 16, 3}, test_x.span().subspan(static_cast<std::size_t>(i) * pixels, pixels));
        const auto m = nn::grad_cam(model, image, layer, 1);
        REQUIRE(m.heat.shape() == Shape{8, 8});
        CHECK(m.probabilities(1) > 0.5f);
        double total = 0, top_left = 0;
        for (index_t r = 0; r < 8; ++r)
            for (index_t c = 0; c < 8; ++c) {
                total += m.heat(r, c);
                if (r < 4 && c < 4) top_left += m.heat(r, c);
            }
        fraction += total > 0 ? top_left / total : 0;
        ++images;
        const auto up = nn::upsample_heat_map(m.heat, 16, 16);
        CHECK(up.shape() == Shape{16, 16});
    }
    fraction /= images;
    CAPTURE(fraction);
    CHECK(fraction > 0.5);
}

TEST_CASE("grad_cam and its helpers name what does not fit", "[nn][grad_cam][errors]") {
    auto model = small_model();
    const auto image = Tensor<double>::zeros({8, 8, 2});
    CHECK(test::error_message<ShapeError>([&] { nn::grad_cam(model, Tensor<double>::zeros({8, 8, 3}), 2, 0); }) ==
          "grad_cam: expected an image [8, 8, 2] or a batch of one [1, 8, 8, 2] (the model's input), got [8, 8, 3]");
    CHECK(test::error_message<ShapeError>([&] { nn::grad_cam(model, Tensor<double>::zeros({2, 8, 8, 2}), 2, 0); }) ==
          "grad_cam: expected an image [8, 8, 2] or a batch of one [1, 8, 8, 2] (the model's input), got [2, 8, 8, 2]");
    CHECK(test::error_message<ShapeError>([&] { nn::grad_cam(model, Tensor<double>::zeros({64}), 2, 0); }) ==
          "grad_cam: expected an image [8, 8, 2] or a batch of one [1, 8, 8, 2] (the model's input), got [64]");
    CHECK(test::error_message<IndexError>([&] { nn::grad_cam(model, image, 6, 0); }) ==
          "grad_cam: layer 6 is out of range for a model of 6 layers (0 to 5)");
    CHECK(test::error_message<ShapeError>([&] { nn::grad_cam(model, image, 3, 0); }) ==
          "grad_cam: layer 3 (Flatten 'flatten') has output [N, 64]; Grad-CAM needs a spatial output [N, h, w, "
          "channels]");
    CHECK(test::error_message<ShapeError>([&] { nn::grad_cam(model, image, 4, 0); }) ==
          "grad_cam: layer 4 (Dense 'dense') has output [N, 3]; Grad-CAM needs a spatial output [N, h, w, channels]");
    CHECK(test::error_message<IndexError>([&] { nn::grad_cam(model, image, 2, 3); }) ==
          "grad_cam: class 3 is out of range for a model with 3 classes (0 to 2)");
    CHECK(test::error_message<IndexError>([&] { nn::grad_cam(model, image, 2, -1); }) ==
          "grad_cam: class -1 is out of range for a model with 3 classes (0 to 2)");

    nn::Sequential<double> unbuilt{nn::Conv2D<double>(2, 3), nn::Flatten<double>(), nn::Dense<double>(2)};
    CHECK(test::error_message<StateError>([&] { nn::grad_cam(unbuilt, image, 0, 0); }) ==
          "grad_cam: the model is not built; build it for its input shape or run a batch through it first");
    CHECK(test::error_message<StateError>([&] { (void)nn::last_spatial_layer(unbuilt); }) ==
          "last_spatial_layer: the model is not built; build it for its input shape or run a batch through it first");
    nn::Sequential<double> spatial_out{nn::Conv2D<double>(2, 3, nn::same), nn::MaxPool2D<double>(2)};
    spatial_out.build({8, 8, 2});
    CHECK(test::error_message<ShapeError>([&] { nn::grad_cam(spatial_out, image, 0, 0); }) ==
          "grad_cam: expected a model with outputs [N, classes], MaxPool2D 'max_pool2d' gives [N, 4, 4, 2]");
    nn::Sequential<double> dense_only{nn::Dense<double>(4), nn::Dense<double>(2)};
    dense_only.build({5});
    CHECK(test::error_message<ShapeError>([&] { (void)nn::last_spatial_layer(dense_only); }) ==
          "last_spatial_layer: no layer of Sequential 'sequential' has a spatial output [N, h, w, channels]");

    CHECK(test::error_message<ShapeError>([&] { nn::upsample_heat_map(Tensor<double>::zeros({1, 4, 4}), 8, 8); }) ==
          "upsample_heat_map: expected a heat map [h, w], got [1, 4, 4]");
    CHECK(test::error_message<ValueError>([&] { nn::upsample_heat_map(Tensor<double>::zeros({4, 4}), 0, 8); }) ==
          "upsample_heat_map: size must be > 0, got 0 x 8");
}
