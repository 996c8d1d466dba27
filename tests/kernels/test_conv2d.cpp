#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <ember/kernels/conv2d.hpp>

#include "helpers.hpp"
#include "reference.hpp"

using namespace ember;
using kernels::Padding;

TEST_CASE("padded_extent follows TensorFlow's 'same' and 'valid' rules", "[kernels][conv2d]") {
    auto e = kernels::padded_extent(180, 5, 1, Padding::same);
    CHECK(e.out == 180);
    CHECK(e.before == 2);
    CHECK(e.after == 2);
    e = kernels::padded_extent(7, 4, 1, Padding::same);  // even kernel: total 3, the extra row goes after
    CHECK(e.out == 7);
    CHECK(e.before == 1);
    CHECK(e.after == 2);
    e = kernels::padded_extent(8, 3, 2, Padding::same);  // stride 2: out 4, total max(6+3-8,0)=1 -> 0 before, 1 after
    CHECK(e.out == 4);
    CHECK(e.before == 0);
    CHECK(e.after == 1);
    e = kernels::padded_extent(9, 3, 2, Padding::valid);
    CHECK(e.out == 4);
    CHECK(e.before + e.after == 0);
    CHECK(kernels::padded_extent(2, 3, 1, Padding::valid).out == 0);
}

namespace {
struct ConvCase {
    index_t n, h, w, c, kh, kw, k, sh, sw;
    Padding padding;
};
}  // namespace

TEST_CASE("conv2d kernels match the direct reference on odd shapes, strides, even kernels", "[kernels][conv2d]") {
    const ConvCase cases[] = {
        {2, 7, 9, 3, 3, 3, 4, 1, 1, Padding::same},   {1, 8, 8, 5, 4, 4, 3, 2, 2, Padding::same},
        {3, 9, 7, 2, 3, 2, 5, 2, 1, Padding::valid},  {1, 5, 5, 17, 5, 5, 19, 1, 1, Padding::same},
        {2, 6, 11, 1, 2, 3, 2, 1, 3, Padding::same},  {1, 40, 3, 3, 5, 1, 7, 1, 1, Padding::valid},
        {2, 13, 13, 3, 5, 5, 8, 1, 1, Padding::same},  {3, 11, 30, 16, 5, 5, 40, 1, 1, Padding::same},
        {1, 9, 14, 33, 3, 4, 70, 1, 1, Padding::valid}, {5, 6, 6, 4, 3, 3, 2, 1, 1, Padding::same},
        {1, 12, 10, 8, 1, 1, 33, 1, 1, Padding::same},  {2, 10, 9, 6, 4, 2, 5, 3, 2, Padding::same},
        // Winograd's shapes: 3x3 and 5x5 at stride 1, odd and even sizes, channels off the vector width
        {2, 9, 12, 20, 3, 3, 17, 1, 1, Padding::same}, {1, 11, 8, 16, 5, 5, 33, 1, 1, Padding::valid},
        {2, 6, 7, 35, 3, 3, 16, 1, 1, Padding::valid}, {1, 3, 2, 18, 5, 5, 21, 1, 1, Padding::same},
        // deeper than one packed slice (kc = 256): Winograd's GEMMs then add a second depth slice into M
        {1, 5, 6, 300, 3, 3, 260, 1, 1, Padding::same},
    };
    const kernels::ConvAlgo algos[] = {kernels::ConvAlgo::automatic, kernels::ConvAlgo::im2col,
                                       kernels::ConvAlgo::implicit, kernels::ConvAlgo::winograd};
    Generator gen(11);
    for (const auto& cs : cases)
    for (const auto algo : algos) {
        CAPTURE(cs.n, cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.k, cs.sh, cs.sw, cs.padding == Padding::same,
                static_cast<int>(algo));
        auto x = Tensor<double>::uniform({cs.n, cs.h, cs.w, cs.c}, -1, 1, gen);
        auto w = Tensor<double>::uniform({cs.kh, cs.kw, cs.c, cs.k}, -1, 1, gen);
        auto b = Tensor<double>::uniform({cs.k}, -1, 1, gen);
        const auto g = kernels::Conv2DGeometry::make(cs.n, cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.k, cs.sh, cs.sw, cs.padding);
        auto ref = test::conv2d_reference(x, w, b, cs.sh, cs.sw, cs.padding);
        auto y = Tensor<double>::empty(ref.shape());
        kernels::conv2d_forward(g, x.data(), w.data(), b.data(), false, y.data(), algo);
        CHECK(test::max_rel_error(y, ref) < 1e-12);

        // The backward kernel is the adjoint of the forward one: <dy, conv(dx-direction)> identities are checked
        // against the reference by building dx, dw, db from plain loops.
        auto dy = Tensor<double>::uniform(ref.shape(), -1, 1, gen);
        auto dx = Tensor<double>::zeros(x.shape()), dw = Tensor<double>::zeros(w.shape()), db = Tensor<double>::zeros({cs.k});
        kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), static_cast<const std::uint8_t*>(nullptr), dx.data(),
                                 dw.data(), db.data(), algo);
        auto dx_ref = Tensor<double>::zeros(x.shape()), dw_ref = Tensor<double>::zeros(w.shape()),
             db_ref = Tensor<double>::zeros({cs.k});
        for (index_t i = 0; i < cs.n; ++i)
            for (index_t oy = 0; oy < g.oh; ++oy)
                for (index_t ox = 0; ox < g.ow; ++ox)
                    for (index_t f = 0; f < cs.k; ++f) {
                        const double d = dy(i, oy, ox, f);
                        db_ref(f) += d;
                        for (index_t ky = 0; ky < cs.kh; ++ky)
                            for (index_t kx = 0; kx < cs.kw; ++kx) {
                                const index_t iy = oy * cs.sh - g.pad_top + ky, ix = ox * cs.sw - g.pad_left + kx;
                                if (iy < 0 || iy >= cs.h || ix < 0 || ix >= cs.w) continue;
                                for (index_t ch = 0; ch < cs.c; ++ch) {
                                    dx_ref(i, iy, ix, ch) += d * w(ky, kx, ch, f);
                                    dw_ref(ky, kx, ch, f) += d * x(i, iy, ix, ch);
                                }
                            }
                    }
        CHECK(test::max_rel_error(dx, dx_ref) < 1e-12);
        CHECK(test::max_rel_error(dw, dw_ref) < 1e-12);
        CHECK(test::max_rel_error(db, db_ref) < 1e-12);
    }
}

TEST_CASE("conv2d forward fuses bias and ReLU, and float agrees with double", "[kernels][conv2d]") {
    Generator gen(3);
    auto x = Tensor<double>::uniform({2, 10, 9, 6}, -1, 1, gen);
    auto w = Tensor<double>::uniform({5, 5, 6, 7}, -0.3, 0.3, gen);
    auto b = Tensor<double>::uniform({7}, -1, 1, gen);
    const auto g = kernels::Conv2DGeometry::make(2, 10, 9, 6, 5, 5, 7, 1, 1, Padding::same);
    auto ref = test::conv2d_reference(x, w, b, 1, 1, Padding::same);
    for (auto& v : ref.span()) v = std::max(v, 0.0);
    auto xf = Tensor<float>::empty(x.shape()), wf = Tensor<float>::empty(w.shape()), bf = Tensor<float>::empty(b.shape());
    for (index_t i = 0; i < x.numel(); ++i) xf.data()[i] = static_cast<float>(x.data()[i]);
    for (index_t i = 0; i < w.numel(); ++i) wf.data()[i] = static_cast<float>(w.data()[i]);
    for (index_t i = 0; i < b.numel(); ++i) bf.data()[i] = static_cast<float>(b.data()[i]);
    auto yf = Tensor<float>::empty(ref.shape());
    kernels::conv2d_forward(g, xf.data(), wf.data(), bf.data(), true, yf.data());
    for (index_t i = 0; i < ref.numel(); ++i) REQUIRE(yf.data()[i] == Approx(ref.data()[i]).margin(1e-5));

    // The mask written in the same pass is relu_mask of the output, with either algorithm.
    for (const auto algo : {kernels::ConvAlgo::im2col, kernels::ConvAlgo::implicit, kernels::ConvAlgo::winograd}) {
        CAPTURE(static_cast<int>(algo));
        auto y = Tensor<float>::empty(ref.shape());
        std::vector<std::uint8_t> fused(static_cast<std::size_t>(y.numel()), 7), separate(fused.size());
        kernels::conv2d_forward(g, xf.data(), wf.data(), bf.data(), true, y.data(), algo, fused.data());
        kernels::relu_mask(y.data(), y.numel(), separate.data());
        CHECK(fused == separate);
        CHECK(std::count(fused.begin(), fused.end(), std::uint8_t{1}) > 0);
        CHECK(std::count(fused.begin(), fused.end(), std::uint8_t{0}) > 0);
    }
}

TEST_CASE("conv2d kernels give the same result on 1 and 2 threads", "[kernels][conv2d][parallel]") {
    Generator gen(8);
    auto x = Tensor<float>::uniform({3, 21, 19, 4}, -1, 1, gen);
    auto w = Tensor<float>::uniform({5, 5, 4, 8}, -1, 1, gen);
    auto dy = Tensor<float>::uniform({3, 21, 19, 8}, -1, 1, gen);
    const auto g = kernels::Conv2DGeometry::make(3, 21, 19, 4, 5, 5, 8, 1, 1, Padding::same);
    auto run = [&](int threads) {
        const int saved = ember::max_threads();
        ember::set_num_threads(threads);
        auto y = Tensor<float>::empty(dy.shape());
        auto dx = Tensor<float>::zeros(x.shape()), dw = Tensor<float>::zeros(w.shape());
        kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), false, y.data());
        kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), static_cast<const std::uint8_t*>(nullptr), dx.data(), dw.data(), static_cast<float*>(nullptr));
        ember::set_num_threads(saved);
        return std::tuple{y, dx, dw};
    };
    auto [y1, dx1, dw1] = run(1);
    auto [y2, dx2, dw2] = run(2);
    CHECK(test::max_rel_error(y2, y1) < 1e-5);
    CHECK(test::max_rel_error(dx2, dx1) < 1e-5);
    CHECK(test::max_rel_error(dw2, dw1) < 1e-5);
}

TEST_CASE("conv2d backward with the fused ReLU mask equals backward of the masked gradient", "[kernels][conv2d]") {
    Generator gen(21);
    for (const auto algo : {kernels::ConvAlgo::im2col, kernels::ConvAlgo::implicit, kernels::ConvAlgo::winograd}) {
        CAPTURE(static_cast<int>(algo));
        auto x = Tensor<double>::uniform({2, 9, 8, 5}, -1, 1, gen);
        auto w = Tensor<double>::uniform({3, 5, 5, 6}, -1, 1, gen);
        const auto g = kernels::Conv2DGeometry::make(2, 9, 8, 5, 3, 5, 6, 1, 1, Padding::same);
        auto y = Tensor<double>::uniform({2, 9, 8, 6}, -1, 1, gen);  // stands in for the ReLU output
        for (index_t i = 0; i < y.numel(); i += 3) y.data()[i] = 0.0;  // exact zeros pass no gradient
        auto dy = Tensor<double>::uniform(y.shape(), -1, 1, gen);
        auto masked = dy.clone();
        for (index_t i = 0; i < y.numel(); ++i)
            if (!(y.data()[i] > 0)) masked.data()[i] = 0;
        std::vector<std::uint8_t> mask(static_cast<std::size_t>(y.numel()));
        kernels::relu_mask(y.data(), y.numel(), mask.data());
        CHECK(mask[0] == 0);
        auto dx1 = Tensor<double>::zeros(x.shape()), dw1 = Tensor<double>::zeros(w.shape()), db1 = Tensor<double>::zeros({6});
        auto dx2 = Tensor<double>::zeros(x.shape()), dw2 = Tensor<double>::zeros(w.shape()), db2 = Tensor<double>::zeros({6});
        kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), mask.data(), dx1.data(), dw1.data(), db1.data(), algo);
        kernels::conv2d_backward(g, x.data(), w.data(), masked.data(), static_cast<const std::uint8_t*>(nullptr), dx2.data(),
                                 dw2.data(), db2.data(), algo);
        CHECK(test::max_rel_error(dx1, dx2) < 1e-13);
        CHECK(test::max_rel_error(dw1, dw2) < 1e-13);
        CHECK(test::max_rel_error(db1, db2) < 1e-13);
    }
}

TEST_CASE("conv2d kernels split one image's rows over threads (batch 1) and agree with 1 thread",
          "[kernels][conv2d][parallel]") {
    Generator gen(9);
    for (const index_t c : {index_t{12}, index_t{3}, index_t{24}})  // 3: rows folded; 24: Winograd
    for (const index_t n : {index_t{1}, index_t{3}}) {
        CAPTURE(n, c);
        auto x = Tensor<float>::uniform({n, 23, 17, c}, -1, 1, gen);
        auto w = Tensor<float>::uniform({5, 5, c, 20}, -1, 1, gen);
        auto dy = Tensor<float>::uniform({n, 23, 17, 20}, -1, 1, gen);
        const auto g = kernels::Conv2DGeometry::make(n, 23, 17, c, 5, 5, 20, 1, 1, Padding::same);
        CHECK(kernels::conv_detail::folds_rows(g) == (c == 3));
        auto run = [&](int threads) {
            const int saved = ember::max_threads();
            ember::set_num_threads(threads);
            auto y = Tensor<float>::empty(dy.shape());
            auto dx = Tensor<float>::zeros(x.shape()), dw = Tensor<float>::zeros(w.shape()), db = Tensor<float>::zeros({20});
            kernels::conv2d_forward(g, x.data(), w.data(), static_cast<const float*>(nullptr), true, y.data());
            std::vector<std::uint8_t> mask(static_cast<std::size_t>(y.numel()));
            kernels::relu_mask(y.data(), y.numel(), mask.data());
            kernels::conv2d_backward(g, x.data(), w.data(), dy.data(), mask.data(), dx.data(), dw.data(), db.data());
            ember::set_num_threads(saved);
            return std::tuple{y, dx, dw, db};
        };
        auto [y1, dx1, dw1, db1] = run(1);
        auto [y3, dx3, dw3, db3] = run(3);
        CHECK(test::max_rel_error(y3, y1) < 1e-5);
        CHECK(test::max_rel_error(dx3, dx1) < 1e-5);
        CHECK(test::max_rel_error(dw3, dw1) < 1e-5);
        CHECK(test::max_rel_error(db3, db1) < 1e-5);
    }
}
