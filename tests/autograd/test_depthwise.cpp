// depthwise_conv2d as an op: equal to conv2d with the block-diagonal kernel it stands for, in float and double,
// its gradients, the inputs that need none, and its error messages.
#include <catch2/catch.hpp>

#include <ember/autograd/depthwise_conv2d.hpp>

#include <algorithm>

#include "helpers.hpp"
#include "reference.hpp"

using namespace ember;
using V = std::vector<Tensor<double>>;

namespace {
/// The dense kernel [KH, KW, C, C*M] of a depthwise kernel [KH, KW, C, M]: filter c*M + m reads only channel c.
Tensor<double> block_diagonal(const Tensor<double>& w) {
    const index_t kh = w.size(0), kw = w.size(1), c = w.size(2), m = w.size(3);
    auto dense = Tensor<double>::zeros({kh, kw, c, c * m});
    for (index_t ky = 0; ky < kh; ++ky)
        for (index_t kx = 0; kx < kw; ++kx)
            for (index_t ch = 0; ch < c; ++ch)
                for (index_t k = 0; k < m; ++k) dense(ky, kx, ch, ch * m + k) = w(ky, kx, ch, k);
    return dense;
}
}  // namespace

TEST_CASE("depthwise_conv2d op equals conv2d with the block-diagonal kernel, and its gradients check",
          "[autograd][depthwise]") {
    struct Case { index_t n, h, w, c, kh, kw, m, sh, sw; Padding padding; bool relu; };
    const Case cases[] = {
        {2, 5, 6, 3, 3, 3, 1, 1, 1, Padding::same, false}, {1, 7, 7, 2, 4, 4, 2, 2, 2, Padding::same, false},
        {2, 7, 5, 2, 3, 2, 2, 2, 1, Padding::valid, true}, {1, 5, 5, 3, 5, 5, 1, 1, 1, Padding::same, true},
        {1, 6, 9, 4, 3, 3, 3, 2, 3, Padding::same, false},
    };
    Generator gen(51);
    for (const auto& cs : cases) {
        CAPTURE(cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.m, cs.sh, cs.sw, cs.padding == Padding::same, cs.relu);
        auto x = Tensor<double>::uniform({cs.n, cs.h, cs.w, cs.c}, -1, 1, gen);
        auto w = Tensor<double>::uniform({cs.kh, cs.kw, cs.c, cs.m}, -1, 1, gen);
        auto b = Tensor<double>::uniform({cs.c * cs.m}, -0.2, 0.2, gen);
        const Conv2DOptions o{cs.sh, cs.sw, cs.padding, cs.relu};
        auto ref = test::conv2d_reference(x, block_diagonal(w), b, cs.sh, cs.sw, cs.padding);
        if (cs.relu)
            for (auto& v : ref.span()) v = std::max(v, 0.0);
        const auto y = depthwise_conv2d(x, w, b, o);
        CHECK(y.shape() == ref.shape());
        CHECK(test::max_rel_error(y, ref) < 1e-12);
        CHECK(test::gradient_check({x, w, b}, [&](const V& t) {
                  return test::weighted_sum(depthwise_conv2d(t[0], t[1], t[2], o));
              }) < 1e-6);
    }
}

TEST_CASE("depthwise_conv2d in float, without bias, and with only some inputs requiring grad",
          "[autograd][depthwise]") {
    Generator gen(52);
    auto xd = Tensor<double>::uniform({2, 6, 5, 4}, -1, 1, gen);
    auto wd = Tensor<double>::uniform({3, 3, 4, 2}, -1, 1, gen);
    auto xf = Tensor<float>::empty(xd.shape()), wf = Tensor<float>::empty(wd.shape());
    std::copy_n(xd.data(), xd.numel(), xf.data());
    std::copy_n(wd.data(), wd.numel(), wf.data());
    const Conv2DOptions o{.stride_h = 2, .padding = Padding::same};
    const auto yd = depthwise_conv2d(xd, wd, {}, o);
    const auto yf = depthwise_conv2d(xf, wf, {}, o);
    REQUIRE(yf.shape() == Shape{2, 3, 5, 8});
    for (index_t i = 0; i < yd.numel(); ++i) CHECK(yf.data()[i] == Approx(yd.data()[i]).margin(1e-5));
    CHECK(!yd.requires_grad());  // nothing required grad: nothing recorded

    auto w = wd.clone().requires_grad(true);
    auto y = depthwise_conv2d(xd, w);  // only the kernel needs a gradient
    CHECK(y.grad_fn_name() == "depthwise_conv2d");
    test::weighted_sum(y).backward();
    CHECK(w.grad().defined());
    CHECK(test::gradient_check({wd}, [&](const V& t) { return test::weighted_sum(depthwise_conv2d(xd, t[0])); }) <
          1e-6);
    {
        NoGradGuard no_grad;
        CHECK(!depthwise_conv2d(xd, w).requires_grad());
    }
}

TEST_CASE("depthwise_conv2d errors name the op and the shapes", "[autograd][depthwise][errors]") {
    const auto x = Tensor<float>::zeros({1, 5, 5, 3});
    const auto w = Tensor<float>::zeros({3, 3, 3, 2});
    CHECK(test::error_message<ShapeError>([&] { depthwise_conv2d(Tensor<float>::zeros({5, 5, 3}), w); }) ==
          "depthwise_conv2d: expected input [N, H, W, 3], got [5, 5, 3]");
    CHECK(test::error_message<ShapeError>([&] { depthwise_conv2d(Tensor<float>::zeros({1, 5, 5, 4}), w); }) ==
          "depthwise_conv2d: expected input [N, H, W, 3], got [1, 5, 5, 4]");
    CHECK(test::error_message<ShapeError>([&] { depthwise_conv2d(x, Tensor<float>::zeros({3, 3, 3})); }) ==
          "depthwise_conv2d: expected a depthwise kernel [KH, KW, C, depth_multiplier] of non-zero extents, got "
          "[3, 3, 3]");
    CHECK(test::error_message<ShapeError>([&] { depthwise_conv2d(x, Tensor<float>::zeros({3, 3, 3, 0})); }) ==
          "depthwise_conv2d: expected a depthwise kernel [KH, KW, C, depth_multiplier] of non-zero extents, got "
          "[3, 3, 3, 0]");
    CHECK(test::error_message<ShapeError>([&] { depthwise_conv2d(x, w, Tensor<float>::zeros({3})); }) ==
          "depthwise_conv2d: expected bias [6] (channels x depth_multiplier), got [3]");
    CHECK(test::error_message<ShapeError>([&] { depthwise_conv2d(Tensor<float>::zeros({1, 2, 5, 3}), w); }) ==
          "depthwise_conv2d: input [1, 2, 5, 3] is smaller than the 3x3 kernel with 'valid' padding");
    CHECK(test::error_message<ValueError>([&] { depthwise_conv2d(x, w, {}, {.stride_h = 0}); }) ==
          "depthwise_conv2d: strides must be > 0, got (0, 1)");
    CHECK(test::error_message<ShapeError>([&] {
              depthwise_conv2d(Tensor<float>::zeros({1, 5, 2, 3}), w, {}, {}, "DepthwiseConv2D 'dw'");
          }) == "DepthwiseConv2D 'dw': input [1, 5, 2, 3] is smaller than the 3x3 kernel with 'valid' padding");
}
