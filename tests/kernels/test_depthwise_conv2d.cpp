// The depthwise convolution kernels against plain loops in double: forward (bias, fused ReLU and its mask) and
// backward (input, kernel and bias gradients), over strides, 'same' padding on odd and even sizes, depth
// multipliers 1 to 3, channel counts on and off the SIMD width, and one and several threads.
#include <catch2/catch.hpp>

#include <ember/kernels/depthwise_conv2d.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "helpers.hpp"

using namespace ember;
using kernels::Padding;

namespace {

struct Case {
    index_t n, h, w, c, kh, kw, m, sh, sw;
    Padding padding;
};

struct Reference {
    Tensor<double> y, dx, dw, db;
};

/// Forward and backward by the definition, in double: y[i,oy,ox,c*M+m] = b + sum x[i,iy,ix,c] * w[ky,kx,c,m].
Reference depthwise_reference(const kernels::DepthwiseConv2DGeometry& g, const Tensor<double>& x,
                              const Tensor<double>& w, const Tensor<double>& b, bool relu,
                              const Tensor<double>& dy) {
    Reference r{Tensor<double>::zeros({g.n, g.oh, g.ow, g.c * g.m}), Tensor<double>::zeros(x.shape()),
                Tensor<double>::zeros(w.shape()), Tensor<double>::zeros({g.c * g.m})};
    for (index_t i = 0; i < g.n; ++i)
        for (index_t oy = 0; oy < g.oh; ++oy)
            for (index_t ox = 0; ox < g.ow; ++ox)
                for (index_t ch = 0; ch < g.c; ++ch)
                    for (index_t k = 0; k < g.m; ++k) {
                        const index_t j = ch * g.m + k;
                        double acc = b(j);
                        for (index_t ky = 0; ky < g.kh; ++ky)
                            for (index_t kx = 0; kx < g.kw; ++kx) {
                                const index_t iy = oy * g.sh - g.pad_top + ky, ix = ox * g.sw - g.pad_left + kx;
                                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                                acc += x(i, iy, ix, ch) * w(ky, kx, ch, k);
                            }
                        if (relu && acc <= 0) acc = 0;
                        r.y(i, oy, ox, j) = acc;
                        const double d = relu && acc <= 0 ? 0.0 : dy(i, oy, ox, j);
                        r.db(j) += d;
                        for (index_t ky = 0; ky < g.kh; ++ky)
                            for (index_t kx = 0; kx < g.kw; ++kx) {
                                const index_t iy = oy * g.sh - g.pad_top + ky, ix = ox * g.sw - g.pad_left + kx;
                                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                                r.dx(i, iy, ix, ch) += d * w(ky, kx, ch, k);
                                r.dw(ky, kx, ch, k) += d * x(i, iy, ix, ch);
                            }
                    }
    return r;
}

template <Real T>
Tensor<T> as(const Tensor<double>& t) {
    auto out = Tensor<T>::empty(t.shape());
    for (index_t i = 0; i < t.numel(); ++i) out.data()[i] = static_cast<T>(t.data()[i]);
    return out;
}

template <Real T>
double max_error(const Tensor<T>& a, const Tensor<double>& b) {
    REQUIRE(a.shape() == b.shape());
    double worst = 0;
    for (index_t i = 0; i < a.numel(); ++i) {
        const double want = b.data()[i];
        worst = std::max(worst, std::abs(static_cast<double>(a.data()[i]) - want) / std::max(1.0, std::abs(want)));
    }
    return worst;
}

const Case kCases[] = {
    {2, 7, 9, 5, 3, 3, 1, 1, 1, Padding::same},    // odd sizes, 'same' stride 1
    {1, 8, 6, 17, 5, 5, 1, 2, 2, Padding::same},   // channels past the SIMD width, the extra pad at the bottom/right
    {2, 9, 7, 3, 3, 2, 2, 2, 1, Padding::valid},   // depth multiplier 2, rectangular kernel, strides (2, 1)
    {1, 5, 6, 4, 4, 4, 3, 2, 3, Padding::same},    // even kernel, multiplier 3, strides (2, 3)
    {1, 2, 1, 3, 3, 3, 1, 1, 1, Padding::same},    // input smaller than the kernel
    {3, 6, 6, 8, 1, 1, 2, 1, 1, Padding::valid},   // 1x1
    {2, 11, 10, 16, 3, 3, 1, 2, 2, Padding::same}, // MobileNet's strided block, 'same' on odd and even extents
};

template <Real T>
void check_case(const Case& cs, bool relu, bool bias, Generator& gen) {
    const auto g = kernels::DepthwiseConv2DGeometry::make(cs.n, cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.m, cs.sh, cs.sw,
                                                          cs.padding);
    auto x = Tensor<double>::uniform({cs.n, cs.h, cs.w, cs.c}, -1, 1, gen);
    auto w = Tensor<double>::uniform({cs.kh, cs.kw, cs.c, cs.m}, -1, 1, gen);
    auto b = bias ? Tensor<double>::uniform({cs.c * cs.m}, -0.3, 0.3, gen) : Tensor<double>::zeros({cs.c * cs.m});
    auto dy = Tensor<double>::uniform({g.n, g.oh, g.ow, g.c * g.m}, -1, 1, gen);
    const Reference ref = depthwise_reference(g, x, w, b, relu, dy);
    const auto xt = as<T>(x), wt = as<T>(w), bt = as<T>(b), dyt = as<T>(dy);
    auto y = Tensor<T>::empty(ref.y.shape());
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(y.numel()));
    kernels::depthwise_conv2d_forward(g, xt.data(), wt.data(), bias ? bt.data() : nullptr, relu, y.data(),
                                      relu ? mask.data() : nullptr);
    const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
    CHECK(max_error(y, ref.y) < tol);
    // Gradients add into what is there: start from ones and subtract them afterwards.
    auto dx = Tensor<T>::ones(x.shape()), dw = Tensor<T>::ones(w.shape()), db = Tensor<T>::ones({g.c * g.m});
    kernels::depthwise_conv2d_backward(g, xt.data(), wt.data(), dyt.data(), relu ? mask.data() : nullptr, dx.data(),
                                       dw.data(), db.data());
    for (auto* t : {&dx, &dw, &db})
        for (T& v : t->span()) v -= T(1);
    CHECK(max_error(dx, ref.dx) < tol);
    CHECK(max_error(dw, ref.dw) < tol * 10);
    CHECK(max_error(db, ref.db) < tol * 10);
    // Only the input gradient, and only the weight gradients: the others stay untouched (null).
    auto dx_only = Tensor<T>::zeros(x.shape());
    kernels::depthwise_conv2d_backward(g, xt.data(), wt.data(), dyt.data(), relu ? mask.data() : nullptr,
                                       dx_only.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr));
    CHECK(max_error(dx_only, ref.dx) < tol);
    auto dw_only = Tensor<T>::zeros(w.shape());
    kernels::depthwise_conv2d_backward(g, xt.data(), wt.data(), dyt.data(), relu ? mask.data() : nullptr,
                                       static_cast<T*>(nullptr), dw_only.data(), static_cast<T*>(nullptr));
    CHECK(max_error(dw_only, ref.dw) < tol * 10);
}

}  // namespace

TEMPLATE_TEST_CASE("depthwise_conv2d kernels match plain loops: strides, 'same', multipliers, bias, fused relu",
                   "[kernels][depthwise]", float, double) {
    Generator gen(41);
    const int threads = max_threads();
    for (int t : {1, threads}) {
        set_num_threads(t);
        for (const Case& cs : kCases)
            for (bool relu : {false, true})
                for (bool bias : {true, false}) {
                    CAPTURE(t, cs.n, cs.h, cs.w, cs.c, cs.kh, cs.kw, cs.m, cs.sh, cs.sw, relu, bias);
                    check_case<TestType>(cs, relu, bias, gen);
                }
    }
    set_num_threads(threads);
}

TEST_CASE("depthwise geometry: TensorFlow's 'same' extents and the columns a tap reads", "[kernels][depthwise]") {
    // 'same', 7 wide, 4-wide kernel, stride 2: out 4, total padding 3 -> 1 left, 2 right.
    const auto g = kernels::DepthwiseConv2DGeometry::make(1, 7, 7, 2, 4, 4, 1, 2, 2, Padding::same);
    CHECK(g.oh == 4);
    CHECK(g.pad_left == 1);
    CHECK(g.cols_inside(0) == std::pair<index_t, index_t>{1, 4});  // ox = 0 reads column -1
    CHECK(g.cols_inside(3) == std::pair<index_t, index_t>{0, 3});  // ox = 3 reads column 8
    const auto v = kernels::DepthwiseConv2DGeometry::make(1, 9, 7, 3, 3, 2, 2, 2, 1, Padding::valid);
    CHECK(v.oh == 4);
    CHECK(v.ow == 6);
    CHECK(v.out_channels() == 6);
}
