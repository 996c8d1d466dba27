#include <catch2/catch.hpp>

#include <ember/autograd/conv2d.hpp>

#include "helpers.hpp"
#include "reference.hpp"

using namespace ember;
using V = std::vector<Tensor<double>>;

TEST_CASE("conv2d op matches the reference and finite differences", "[autograd][conv2d]") {
    struct Case { index_t n, h, w, c, kh, kw, k, sh, sw; Padding padding; bool relu; };
    const Case cases[] = {
        {2, 5, 6, 3, 3, 3, 2, 1, 1, Padding::same, false},  {1, 6, 6, 2, 4, 4, 3, 2, 2, Padding::same, false},
        {2, 7, 5, 2, 3, 2, 2, 2, 1, Padding::valid, false}, {1, 5, 5, 3, 5, 5, 2, 1, 1, Padding::same, true},
        {1, 4, 7, 1, 2, 2, 3, 1, 1, Padding::same, true},
        {2, 5, 6, 12, 3, 3, 3, 1, 1, Padding::same, true},  // KW * C = 36: kernel rows not folded
    };
    Generator gen(21);
    for (const auto& cs : cases) {
        CAPTURE(cs.h, cs.w, cs.kh, cs.kw, cs.sh, cs.sw, cs.padding == Padding::same, cs.relu);
        auto x = Tensor<double>::uniform({cs.n, cs.h, cs.w, cs.c}, -1, 1, gen);
        auto w = Tensor<double>::uniform({cs.kh, cs.kw, cs.c, cs.k}, -1, 1, gen);
        auto b = Tensor<double>::uniform({cs.k}, -0.2, 0.2, gen);
        const Conv2DOptions o{cs.sh, cs.sw, cs.padding, cs.relu};
        auto ref = test::conv2d_reference(x, w, b, cs.sh, cs.sw, cs.padding);
        if (cs.relu)
            for (auto& v : ref.span()) v = std::max(v, 0.0);
        CHECK(test::max_rel_error(conv2d(x, w, b, o), ref) < 1e-12);
        CHECK(test::gradient_check({x, w, b}, [&](const V& t) { return test::weighted_sum(conv2d(t[0], t[1], t[2], o)); }) <
              1e-6);
    }
}

TEST_CASE("conv2d without bias, and with only some inputs requiring grad", "[autograd][conv2d]") {
    Generator gen(22);
    auto x = Tensor<double>::uniform({1, 4, 4, 2}, -1, 1, gen);
    auto w = Tensor<double>::uniform({3, 3, 2, 2}, -1, 1, gen).requires_grad(true);
    auto y = conv2d(x, w, {}, {.padding = Padding::same});
    test::weighted_sum(y).backward();
    CHECK(w.grad().defined());
    CHECK_FALSE(x.grad().defined());
}

TEST_CASE("conv2d errors name the layer and both shapes", "[autograd][conv2d][errors]") {
    auto w = Tensor<float>::zeros({5, 5, 3, 32});
    CHECK(test::error_message<ShapeError>([&] { conv2d(Tensor<float>::zeros({32, 3, 180, 180}), w, {}, {}, "Conv2D 'conv2d_1'"); }) ==
          "Conv2D 'conv2d_1': expected input [N, H, W, 3], got [32, 3, 180, 180]");
    CHECK(test::error_message<ShapeError>([&] { conv2d(Tensor<float>::zeros({1, 8, 8, 3}), w, Tensor<float>::zeros({3})); }) ==
          "conv2d: expected bias [32], got [3]");
    CHECK(test::error_message<ShapeError>([&] { conv2d(Tensor<float>::zeros({1, 4, 4, 3}), w); }) ==
          "conv2d: input [1, 4, 4, 3] is smaller than the 5x5 kernel with 'valid' padding");
    CHECK(test::error_message<ShapeError>([&] { conv2d(Tensor<float>::zeros({1, 8, 8, 3}), Tensor<float>::zeros({5, 5, 3})); }) ==
          "conv2d: expected kernel [KH, KW, C_in, C_out], got [5, 5, 3]");
    CHECK(test::error_message<ValueError>([&] { conv2d(Tensor<float>::zeros({1, 8, 8, 3}), w, {}, {.stride_h = 0}); }) ==
          "conv2d: strides must be > 0, got (0, 1)");
}
