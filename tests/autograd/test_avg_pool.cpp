// The pooling ops beyond 'valid' max pooling: avg_pool2d ('valid' and 'same'), max_pool2d with 'same' padding,
// global_avg_pool2d and global_max_pool2d: values worked by hand, gradients, float, and error messages.
#include <catch2/catch.hpp>

#include <ember/autograd/pool.hpp>
#include <ember/autograd/shape_ops.hpp>

#include <algorithm>

#include "helpers.hpp"

using namespace ember;
using V = std::vector<Tensor<double>>;

namespace {
/// The 3x3 image 1..9 (one channel): 'same' 2x2 windows at stride 2 are {1,2,4,5}, {3,6}, {7,8} and {9}.
Tensor<double> one_to_nine() { return Tensor<double>::from_data({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}); }
}  // namespace

TEST_CASE("avg_pool2d: 'same' averages only the pixels inside the image, as TensorFlow", "[autograd][pool]") {
    const Pool2DOptions same{2, 2, 0, 0, Padding::same};
    CHECK(avg_pool2d(one_to_nine(), same).to_vector() == std::vector<double>{3, 4.5, 7.5, 9});
    CHECK(avg_pool2d(one_to_nine()).to_vector() == std::vector<double>{3});  // 'valid': the last row/column dropped
    CHECK(max_pool2d(one_to_nine(), same).to_vector() == std::vector<double>{5, 6, 8, 9});
    // The gradient of a window's mean is 1/count for each of its pixels: 1/4, 1/2 and 1 at the border.
    auto x = one_to_nine().requires_grad(true);
    sum(avg_pool2d(x, same)).backward();
    CHECK(x.grad().to_vector() == std::vector<double>{0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1});
    CHECK(avg_pool2d(Tensor<float>::zeros({2, 7, 9, 3}), {3, 3, 2, 2, Padding::same}).shape() == Shape{2, 4, 5, 3});
    CHECK(avg_pool2d(x, same).grad_fn_name() == "avg_pool2d");
}

TEST_CASE("max_pool2d with 'same' padding: shapes and gradients", "[autograd][pool]") {
    Generator gen(61);
    auto x = Tensor<double>::uniform({2, 5, 7, 3}, -1, 1, gen);
    for (const Pool2DOptions& o : {Pool2DOptions{2, 2, 0, 0, Padding::same}, Pool2DOptions{3, 3, 1, 1, Padding::same},
                                   Pool2DOptions{4, 3, 3, 2, Padding::same}}) {
        CAPTURE(o.pool_h, o.pool_w, o.stride_h, o.stride_w);
        const auto y = max_pool2d(x, o);
        const index_t sh = o.stride_h ? o.stride_h : o.pool_h, sw = o.stride_w ? o.stride_w : o.pool_w;
        CHECK(y.shape() == Shape{2, (5 + sh - 1) / sh, (7 + sw - 1) / sw, 3});
        CHECK(test::gradient_check({x}, [&](const V& t) { return test::weighted_sum(max_pool2d(t[0], o)); }) < 1e-6);
    }
    // All-negative input: the padding is not a zero that could win.
    CHECK(max_pool2d(Tensor<float>::full({1, 3, 3, 1}, -2), {2, 2, 0, 0, Padding::same}).to_vector() ==
          std::vector<float>{-2, -2, -2, -2});
}

TEST_CASE("global_avg_pool2d and global_max_pool2d: [N, C], keepdims, first maximum", "[autograd][pool]") {
    Generator gen(62);
    auto x = Tensor<double>::uniform({2, 3, 4, 5}, -1, 1, gen);
    const auto avg = global_avg_pool2d(x);
    REQUIRE(avg.shape() == Shape{2, 5});
    CHECK(test::max_rel_error(avg, mean(reshape(x, {2, 12, 5}), 1)) < 1e-15);
    CHECK(global_avg_pool2d(x, true).shape() == Shape{2, 1, 1, 5});
    CHECK(global_max_pool2d(x, true).shape() == Shape{2, 1, 1, 5});
    const auto mx = global_max_pool2d(x);
    REQUIRE(mx.shape() == Shape{2, 5});
    for (index_t i = 0; i < 2; ++i)
        for (index_t c = 0; c < 5; ++c) {
            double best = -2;
            for (index_t p = 0; p < 12; ++p) best = std::max(best, x(i, p / 4, p % 4, c));
            CHECK(mx(i, c) == best);
        }
    // Ties: the whole gradient goes to the first maximum in row-major order.
    auto ties = Tensor<double>::from_data({1, 2, 2, 1}, {1, 3, 3, 0}).requires_grad(true);
    sum(global_max_pool2d(ties)).backward();
    CHECK(ties.grad().to_vector() == std::vector<double>{0, 1, 0, 0});
    auto f = Tensor<float>::full({3, 2, 2, 4}, 0.5f);
    CHECK(global_avg_pool2d(f).to_vector() == std::vector<float>(12, 0.5f));
    CHECK(global_max_pool2d(f).shape() == Shape{3, 4});
}

TEST_CASE("pooling op errors name the op and the shapes", "[autograd][pool][errors]") {
    CHECK(test::error_message<ShapeError>([] { avg_pool2d(Tensor<float>::zeros({4, 4, 3})); }) ==
          "avg_pool2d: expected input [N, H, W, C], got [4, 4, 3]");
    CHECK(test::error_message<ShapeError>([] { avg_pool2d(Tensor<float>::zeros({1, 3, 1, 2}), {2, 2}); }) ==
          "avg_pool2d: input [1, 3, 1, 2] is smaller than the 2x2 pool window");
    CHECK(test::error_message<ValueError>([] { avg_pool2d(Tensor<float>::zeros({1, 4, 4, 3}), {2, 0}); }) ==
          "avg_pool2d: pool size and strides must be > 0, got pool (2, 0) strides (2, 0)");
    CHECK(test::error_message<ShapeError>([] { global_avg_pool2d(Tensor<float>::zeros({2, 5})); }) ==
          "global_avg_pool2d: expected input [N, H, W, C], got [2, 5]");
    CHECK(test::error_message<ShapeError>([] { global_max_pool2d(Tensor<float>::zeros({1, 0, 4, 3})); }) ==
          "global_max_pool2d: input [1, 0, 4, 3] has no pixels to pool");
    CHECK(test::error_message<ShapeError>([] {
              global_max_pool2d(Tensor<float>::zeros({4, 3, 2}), false, "GlobalMaxPooling2D 'g'");
          }) == "GlobalMaxPooling2D 'g': expected input [N, H, W, C], got [4, 3, 2]");
    // 'same' pools any image with a pixel, however small against the window.
    CHECK(avg_pool2d(Tensor<float>::ones({1, 1, 1, 2}), {3, 3, 0, 0, Padding::same}).to_vector() ==
          std::vector<float>{1, 1});
}
