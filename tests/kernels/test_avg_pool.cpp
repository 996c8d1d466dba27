// The pooling kernels beyond 'valid' max pooling, against plain loops in double: average pooling ('valid' and
// 'same', where a border window averages only its pixels inside the image) and its adjoint, max pooling with
// 'same' padding, and global pooling as one window over the whole image.
#include <catch2/catch.hpp>

#include <ember/kernels/pool.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "helpers.hpp"

using namespace ember;
using kernels::Padding;

namespace {

struct Case {
    index_t n, h, w, c, ph, pw, sh, sw;
    Padding padding;
};

const Case kCases[] = {
    {2, 9, 7, 3, 2, 2, 2, 2, Padding::valid},   // odd extents: the last row and column dropped
    {2, 9, 7, 3, 2, 2, 2, 2, Padding::same},    // odd extents: the extra window at the bottom/right holds 1 row
    {1, 7, 9, 17, 3, 3, 2, 2, Padding::same},   // pad 1 on every side, channels past the SIMD width
    {1, 6, 6, 2, 3, 2, 1, 2, Padding::valid},   // overlapping windows
    {2, 5, 6, 4, 3, 3, 1, 1, Padding::same},    // stride 1: every window overlaps the border or its neighbours
    {1, 4, 5, 3, 4, 4, 3, 3, Padding::same},    // even window, total padding 3 = 1 before + 2 after
    {1, 2, 3, 5, 5, 5, 2, 2, Padding::same},    // the window larger than the image
};

/// Window oy of extent k, stride s and `before` padding, clipped to the image: rows [lo, hi).
std::pair<index_t, index_t> clip(index_t o, index_t s, index_t before, index_t k, index_t in) {
    const index_t lo = o * s - before;
    return {std::max<index_t>(lo, 0), std::min(lo + k, in)};
}

struct Reference {
    Tensor<double> avg, max, avg_dx;
};

Reference pool_reference(const kernels::Pool2DGeometry& g, const Tensor<double>& x, const Tensor<double>& dy) {
    Reference r{Tensor<double>::zeros({g.n, g.oh, g.ow, g.c}), Tensor<double>::zeros({g.n, g.oh, g.ow, g.c}),
                Tensor<double>::zeros(x.shape())};
    for (index_t i = 0; i < g.n; ++i)
        for (index_t oy = 0; oy < g.oh; ++oy)
            for (index_t ox = 0; ox < g.ow; ++ox)
                for (index_t ch = 0; ch < g.c; ++ch) {
                    const auto [y0, y1] = clip(oy, g.sh, g.pad_top, g.ph, g.h);
                    const auto [x0, x1] = clip(ox, g.sw, g.pad_left, g.pw, g.w);
                    double sum = 0, best = -std::numeric_limits<double>::infinity();
                    for (index_t iy = y0; iy < y1; ++iy)
                        for (index_t ix = x0; ix < x1; ++ix) {
                            sum += x(i, iy, ix, ch);
                            best = std::max(best, x(i, iy, ix, ch));
                        }
                    const double count = static_cast<double>((y1 - y0) * (x1 - x0));
                    r.avg(i, oy, ox, ch) = sum / count;
                    r.max(i, oy, ox, ch) = best;
                    for (index_t iy = y0; iy < y1; ++iy)
                        for (index_t ix = x0; ix < x1; ++ix) r.avg_dx(i, iy, ix, ch) += dy(i, oy, ox, ch) / count;
                }
    return r;
}

template <Real T, Real U>
Tensor<T> as(const Tensor<U>& t) {
    auto out = Tensor<T>::empty(t.shape());
    for (index_t i = 0; i < t.numel(); ++i) out.data()[i] = static_cast<T>(t.data()[i]);
    return out;
}

template <Real T>
double max_error(const Tensor<T>& a, const Tensor<double>& b) {
    REQUIRE(a.shape() == b.shape());
    double worst = 0;
    for (index_t i = 0; i < a.numel(); ++i)
        worst = std::max(worst, std::abs(static_cast<double>(a.data()[i]) - b.data()[i]));
    return worst;
}

template <Real T>
void check_case(const kernels::Pool2DGeometry& g, Generator& gen) {
    // Values representable in T, so that the maximum is compared exactly.
    const auto x = as<double>(as<T>(Tensor<double>::uniform({g.n, g.h, g.w, g.c}, -1, 1, gen)));
    const auto dy = as<double>(as<T>(Tensor<double>::uniform({g.n, g.oh, g.ow, g.c}, -1, 1, gen)));
    const Reference ref = pool_reference(g, x, dy);
    const auto xt = as<T>(x), dyt = as<T>(dy);
    const double tol = sizeof(T) == 4 ? 2e-6 : 1e-14;
    auto y = Tensor<T>::empty(ref.avg.shape());
    kernels::avg_pool2d_forward(g, xt.data(), y.data());
    CHECK(max_error(y, ref.avg) < tol);
    auto dx = Tensor<T>::ones(x.shape());  // the backward adds into what is there
    kernels::avg_pool2d_backward(g, dyt.data(), dx.data());
    for (T& v : dx.span()) v -= T(1);
    CHECK(max_error(dx, ref.avg_dx) < tol);
    // Max pooling: the padding never wins, the argmax points at the winner, and the gradient reaches it.
    std::vector<std::int32_t> arg(static_cast<std::size_t>(y.numel()));
    kernels::max_pool2d_forward(g, xt.data(), y.data(), arg.data());
    CHECK(max_error(y, ref.max) == 0);
    for (index_t i = 0; i < y.numel(); ++i) {
        const index_t img = i / (g.oh * g.ow * g.c);
        CHECK(xt.data()[img * g.h * g.w * g.c + arg[static_cast<std::size_t>(i)]] == y.data()[i]);
    }
    auto mdx = Tensor<T>::zeros(x.shape());
    kernels::max_pool2d_backward(g, dyt.data(), arg.data(), mdx.data());
    double total = 0, want = 0;
    for (T v : mdx.span()) total += static_cast<double>(v);
    for (T v : dyt.span()) want += static_cast<double>(v);
    CHECK(total == Approx(want).margin(1e-4));
}

}  // namespace

TEMPLATE_TEST_CASE("avg_pool2d and 'same' max_pool2d kernels match plain loops", "[kernels][pool]", float, double) {
    Generator gen(17);
    for (const Case& cs : kCases) {
        CAPTURE(cs.n, cs.h, cs.w, cs.c, cs.ph, cs.pw, cs.sh, cs.sw, cs.padding == Padding::same);
        check_case<TestType>(kernels::Pool2DGeometry::make(cs.n, cs.h, cs.w, cs.c, cs.ph, cs.pw, cs.sh, cs.sw,
                                                           cs.padding),
                             gen);
    }
}

TEMPLATE_TEST_CASE("global pooling is one window over the whole image", "[kernels][pool]", float, double) {
    Generator gen(18);
    for (const auto& [n, h, w, c] : std::vector<std::array<index_t, 4>>{{2, 5, 7, 3}, {3, 1, 1, 9}, {1, 12, 12, 20}}) {
        CAPTURE(n, h, w, c);
        const auto g = kernels::Pool2DGeometry::make(n, h, w, c, h, w, h, w);
        CHECK(g.oh == 1);
        CHECK(g.ow == 1);
        check_case<TestType>(g, gen);
    }
}

TEST_CASE("pool geometry: TensorFlow's 'same' extents and padding", "[kernels][pool]") {
    const auto g = kernels::Pool2DGeometry::make(1, 9, 7, 1, 2, 2, 2, 2, Padding::same);
    CHECK(g.oh == 5);  // ceil(9 / 2)
    CHECK(g.ow == 4);
    CHECK(g.pad_top == 0);  // total 1: the extra row at the bottom
    CHECK(g.rows(4) == std::pair<index_t, index_t>{8, 9});
    const auto e = kernels::Pool2DGeometry::make(1, 4, 5, 1, 4, 4, 3, 3, Padding::same);
    CHECK(e.oh == 2);
    CHECK(e.pad_top == 1);  // total 3 = 1 before + 2 after
    CHECK(e.rows(0) == std::pair<index_t, index_t>{0, 3});
    CHECK(e.rows(1) == std::pair<index_t, index_t>{2, 4});
    CHECK(kernels::Pool2DGeometry::make(1, 45, 45, 64, 2, 2, 2, 2).oh == 22);  // 'valid' stays the default
}
