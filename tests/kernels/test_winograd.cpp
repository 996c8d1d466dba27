#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <ember/kernels/conv2d.hpp>

#include "helpers.hpp"
#include "reference.hpp"

using namespace ember;
using kernels::Padding;

namespace {
/// y_i = sum_k g_k d_{i+k} through the 1-D transforms: A^T [(G g) * (B^T d)].
template <int R>
void check_transforms_1d(Generator& gen) {
    using X = kernels::winograd::Transforms<R>;
    constexpr int A = X::alpha;
    for (int trial = 0; trial < 20; ++trial) {
        double d[A], g[R];
        for (auto& v : d) v = gen.uniform(-1.0, 1.0);
        for (auto& v : g) v = gen.uniform(-1.0, 1.0);
        double prod[A];
        for (int e = 0; e < A; ++e) {
            double gg = 0, bd = 0;
            for (int k = 0; k < R; ++k) gg += X::G[e][k] * g[k];
            for (int j = 0; j < A; ++j) bd += X::BT[e][j] * d[j];
            prod[e] = gg * bd;
        }
        for (int i = 0; i < 2; ++i) {
            double y = 0, ref = 0;
            for (int e = 0; e < A; ++e) y += X::AT[i][e] * prod[e];
            for (int k = 0; k < R; ++k) ref += g[k] * d[i + k];
            CHECK(y == Approx(ref).margin(1e-14));
        }
    }
}

template <class T>
Tensor<T> cast(const Tensor<double>& t) {
    auto out = Tensor<T>::empty(t.shape());
    for (index_t i = 0; i < t.numel(); ++i) out.data()[i] = static_cast<T>(t.data()[i]);
    return out;
}

double max_abs(const Tensor<double>& t) {
    double m = 0;
    for (const double v : t.span()) m = std::max(m, std::abs(v));
    return m;
}

template <class T>
double scaled_error(const Tensor<T>& y, const Tensor<double>& ref) {
    double worst = 0;
    for (index_t i = 0; i < y.numel(); ++i)
        worst = std::max(worst, std::abs(static_cast<double>(y.data()[i]) - ref.data()[i]));
    return worst / max_abs(ref);
}
}  // namespace

TEST_CASE("Winograd transforms compute the correlation F(2, R) exactly", "[kernels][winograd]") {
    Generator gen(5);
    check_transforms_1d<3>(gen);
    check_transforms_1d<5>(gen);
    CHECK(kernels::winograd::has_transforms(5, 5));
    CHECK(kernels::winograd::has_transforms(3, 3));
    CHECK_FALSE(kernels::winograd::has_transforms(5, 3));
    CHECK_FALSE(kernels::winograd::has_transforms(7, 7));
}

TEST_CASE("Winograd in float stays within 1e-5 of the output's scale on the reference model's shapes",
          "[kernels][winograd]") {
    // conv3/conv4-like: ReLU'd activations in [0, 1), Glorot-scaled weights, 32-64 channels; 3x3 as well.
    Generator gen(17);
    for (const index_t r : {index_t{5}, index_t{3}})
    for (const index_t c : {index_t{32}, index_t{64}}) {
        CAPTURE(r, c);
        const index_t n = 2, h = 15, w = 14, k = 64;
        const double limit = std::sqrt(6.0 / static_cast<double>(r * r * (c + k)));
        auto x = Tensor<double>::uniform({n, h, w, c}, 0, 1, gen);
        auto wt = Tensor<double>::uniform({r, r, c, k}, -limit, limit, gen);
        auto dy = Tensor<double>::uniform({n, h, w, k}, -1, 1, gen);
        const auto g = kernels::Conv2DGeometry::make(n, h, w, c, r, r, k, 1, 1, Padding::same);
        auto ref = test::conv2d_reference(x, wt, Tensor<double>(), 1, 1, Padding::same);
        auto xf = cast<float>(x), wf = cast<float>(wt), dyf = cast<float>(dy);
        // backward-data reference: dx from the double kernels (exact to 1e-12, tested above)
        auto dx_ref = Tensor<double>::zeros(x.shape());
        kernels::conv2d_backward(g, x.data(), wt.data(), dy.data(), static_cast<const std::uint8_t*>(nullptr),
                                 dx_ref.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                                 kernels::ConvAlgo::implicit);
        double err[2][2];  // [winograd, implicit][forward, backward-data]
        int row = 0;
        for (const auto algo : {kernels::ConvAlgo::winograd, kernels::ConvAlgo::implicit}) {
            auto y = Tensor<float>::empty(ref.shape());
            kernels::conv2d_forward(g, xf.data(), wf.data(), static_cast<const float*>(nullptr), false, y.data(), algo);
            auto dx = Tensor<float>::zeros(x.shape());
            kernels::conv2d_backward(g, xf.data(), wf.data(), dyf.data(), static_cast<const std::uint8_t*>(nullptr),
                                     dx.data(), static_cast<float*>(nullptr), static_cast<float*>(nullptr), algo);
            err[row][0] = scaled_error(y, ref);
            err[row][1] = scaled_error(dx, dx_ref);
            ++row;
        }
        INFO("forward: winograd " << err[0][0] << ", direct " << err[1][0] << "; backward-data: winograd "
                                  << err[0][1] << ", direct " << err[1][1]);
        // Measured (5x5): 1.8-2.5e-6 forward and 4.3-4.5e-6 backward-data, 6-15x the direct sum's rounding.
        CHECK(err[0][0] < 1e-5);
        CHECK(err[0][1] < 1e-5);
        CHECK(err[0][0] < 30 * err[1][0]);
        CHECK(err[0][1] < 30 * err[1][1]);
    }
}

TEST_CASE("automatic picks Winograd only where it pays", "[kernels][winograd]") {
    using kernels::ConvAlgo;
    using kernels::conv_detail::use_winograd;
    const auto g = [](index_t c, index_t kh, index_t kw, index_t k, index_t s) {
        return kernels::Conv2DGeometry::make(1, 20, 20, c, kh, kw, k, s, s, Padding::same);
    };
    CHECK(use_winograd(g(32, 5, 5, 32, 1), ConvAlgo::automatic));
    CHECK(use_winograd(g(64, 3, 3, 16, 1), ConvAlgo::automatic));
    CHECK_FALSE(use_winograd(g(3, 5, 5, 32, 1), ConvAlgo::automatic));   // conv1: too few input channels
    CHECK(use_winograd(g(3, 5, 5, 32, 1), ConvAlgo::winograd));           // unless asked for
    CHECK_FALSE(use_winograd(g(32, 5, 5, 32, 2), ConvAlgo::winograd));    // stride 2
    CHECK_FALSE(use_winograd(g(32, 5, 3, 32, 1), ConvAlgo::winograd));    // not square
    CHECK_FALSE(use_winograd(g(32, 5, 5, 32, 1), ConvAlgo::implicit));
}

TEST_CASE("Winograd backward-data adds into dx, and splits one image over threads for 3x3 kernels too",
          "[kernels][winograd][parallel]") {
    Generator gen(23);
    for (const index_t r : {index_t{3}, index_t{5}}) {
        CAPTURE(r);
        const index_t h = 13, w = 11, c = 17, k = 18;
        auto x = Tensor<double>::uniform({1, h, w, c}, -1, 1, gen);
        auto wt = Tensor<double>::uniform({r, r, c, k}, -1, 1, gen);
        auto dy = Tensor<double>::uniform({1, h, w, k}, -1, 1, gen);
        const auto g = kernels::Conv2DGeometry::make(1, h, w, c, r, r, k, 1, 1, Padding::same);
        REQUIRE(kernels::conv_detail::use_winograd(g, kernels::ConvAlgo::automatic));
        auto run = [&](int threads, kernels::ConvAlgo algo) {
            const int saved = ember::max_threads();
            ember::set_num_threads(threads);
            auto y = Tensor<double>::empty(dy.shape());
            auto dx = Tensor<double>::full(x.shape(), 0.5);  // backward adds into what is there
            kernels::conv2d_forward(g, x.data(), wt.data(), static_cast<const double*>(nullptr), false, y.data(), algo);
            kernels::conv2d_backward(g, x.data(), wt.data(), dy.data(), static_cast<const std::uint8_t*>(nullptr),
                                     dx.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr), algo);
            ember::set_num_threads(saved);
            return std::pair{y, dx};
        };
        const auto [y_ref, dx_ref] = run(1, kernels::ConvAlgo::implicit);
        for (const int threads : {1, 3}) {
            CAPTURE(threads);
            const auto [y, dx] = run(threads, kernels::ConvAlgo::automatic);
            CHECK(test::max_rel_error(y, y_ref) < 1e-12);
            CHECK(test::max_rel_error(dx, dx_ref) < 1e-12);
        }
    }
}
