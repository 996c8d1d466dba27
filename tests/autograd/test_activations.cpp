// tests/autograd/test_activations.cpp - leaky_relu, sigmoid, tanh, gelu and swish against long-double formulas, at
// extremes, and their errors. (Their finite-difference checks are in test_op_table.cpp, with every other op's.)
#include <catch2/catch.hpp>

#include <ember/autograd/activations.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace ember;

namespace {
using Ld = long double;

/// One activation: ember's op, and its value and derivative in long double.
struct Reference {
    std::string name;
    std::function<Tensor<double>(const Tensor<double>&)> op_d;
    std::function<Tensor<float>(const Tensor<float>&)> op_f;
    std::function<Ld(Ld)> value, derivative;
};

Ld sigmoid_ld(Ld x) { return 1 / (1 + std::exp(-x)); }
Ld cdf_ld(Ld x) { return 0.5L * std::erfc(-x / std::sqrt(2.0L)); }
constexpr Ld kTanhScale = 0.797884560802865355879892119868763737L;  // sqrt(2 / pi)
/// 0.5 x (1 + tanh(u)) = x sigmoid(2u), so that the reference keeps the negative tail too.
Ld gelu_tanh_ld(Ld x) { return x * sigmoid_ld(2 * kTanhScale * (x + 0.044715L * x * x * x)); }
Ld gelu_tanh_derivative_ld(Ld x) {
    const Ld u = kTanhScale * (x + 0.044715L * x * x * x);
    const Ld sech = 1 / std::cosh(u);
    return sigmoid_ld(2 * u) + 0.5L * x * sech * sech * kTanhScale * (1 + 3 * 0.044715L * x * x);
}

std::vector<Reference> references() {
    const Ld pi = 3.141592653589793238462643383279502884L;
    return {
        {"leaky_relu", [](const Tensor<double>& x) { return leaky_relu(x, 0.3); },
         [](const Tensor<float>& x) { return leaky_relu(x, 0.3f); }, [](Ld x) { return x < 0 ? 0.3L * x : x; },
         [](Ld x) { return x > 0 ? 1.0L : 0.3L; }},
        {"sigmoid", [](const Tensor<double>& x) { return sigmoid(x); }, [](const Tensor<float>& x) { return sigmoid(x); },
         sigmoid_ld, [](Ld x) { return sigmoid_ld(x) * sigmoid_ld(-x); }},
        {"tanh", [](const Tensor<double>& x) { return tanh(x); }, [](const Tensor<float>& x) { return tanh(x); },
         [](Ld x) { return std::tanh(x); }, [](Ld x) { return 1 / (std::cosh(x) * std::cosh(x)); }},
        {"gelu", [](const Tensor<double>& x) { return gelu(x); }, [](const Tensor<float>& x) { return gelu(x); },
         [](Ld x) { return x * cdf_ld(x); },
         [pi](Ld x) { return cdf_ld(x) + x * std::exp(-0.5L * x * x) / std::sqrt(2 * pi); }},
        {"gelu", [](const Tensor<double>& x) { return gelu(x, true); },
         [](const Tensor<float>& x) { return gelu(x, true); }, gelu_tanh_ld, gelu_tanh_derivative_ld},
        {"swish", [](const Tensor<double>& x) { return swish(x); }, [](const Tensor<float>& x) { return swish(x); },
         [](Ld x) { return x * sigmoid_ld(x); }, [](Ld x) { return sigmoid_ld(x) * (1 + x * sigmoid_ld(-x)); }},
    };
}

/// |a - b| / max(|b|, tiny): relative even for the tails' values of order 1e-22.
double rel(double a, Ld b) {
    return static_cast<double>(std::abs(static_cast<Ld>(a) - b) / std::max(std::abs(b), 1e-300L));
}

const std::vector<double> kPoints{-50, -20, -7.5, -3, -1, -0.25, -1e-3, 0, 1e-3, 0.25, 1, 3, 7.5, 20, 50};
}  // namespace

TEST_CASE("the activations match long-double formulas, value and gradient, in double", "[autograd][activations]") {
    for (const Reference& r : references()) {
        auto x = Tensor<double>::from_data({static_cast<index_t>(kPoints.size())}, kPoints).requires_grad(true);
        auto y = r.op_d(x);
        CHECK(y.grad_fn_name() == r.name);
        sum(y).backward();
        for (std::size_t i = 0; i < kPoints.size(); ++i) {
            CAPTURE(r.name, kPoints[i]);
            const Ld v = r.value(kPoints[i]), d = r.derivative(kPoints[i]);
            // Exact to a few ulps; an absolute 1e-300 lets a value that underflows to 0 (gelu(-50)) pass.
            CHECK((rel(y.data()[i], v) < 1e-13 || std::abs(v) < 1e-300L));
            CHECK((rel(x.grad().data()[i], d) < 1e-12 || std::abs(d) < 1e-300L));
        }
    }
}

TEST_CASE("the activations in float agree with double", "[autograd][activations]") {
    for (const Reference& r : references()) {
        auto xf = Tensor<float>::from_data({static_cast<index_t>(kPoints.size())},
                                           std::vector<float>(kPoints.begin(), kPoints.end()))
                      .requires_grad(true);
        auto yf = r.op_f(xf);
        sum(yf).backward();
        for (std::size_t i = 0; i < kPoints.size(); ++i) {
            CAPTURE(r.name, kPoints[i]);
            const double v = static_cast<double>(r.value(kPoints[i])), d = static_cast<double>(r.derivative(kPoints[i]));
            CHECK(std::abs(yf.data()[i] - v) <= 1e-6 * std::max(1.0, std::abs(v)));
            CHECK(std::abs(xf.grad().data()[i] - d) <= 1e-6 * std::max(1.0, std::abs(d)));
        }
    }
}

TEMPLATE_TEST_CASE("the activations stay finite, with finite gradients, far out", "[autograd][activations]", float,
                   double) {
    using T = TestType;
    const T big = std::numeric_limits<T>::max() / 4;
    const std::vector<T> far{-big, T(-1e4), T(-50), T(50), T(1e4), big};
    const std::vector<std::function<Tensor<T>(const Tensor<T>&)>> ops{
        [](const Tensor<T>& x) { return leaky_relu(x, T(0.3)); }, [](const Tensor<T>& x) { return sigmoid(x); },
        [](const Tensor<T>& x) { return tanh(x); },          [](const Tensor<T>& x) { return gelu(x); },
        [](const Tensor<T>& x) { return gelu(x, true); },    [](const Tensor<T>& x) { return swish(x); }};
    for (std::size_t k = 0; k < ops.size(); ++k) {
        auto x = Tensor<T>::from_data({static_cast<index_t>(far.size())}, far).requires_grad(true);
        auto y = ops[k](x);
        sum(y).backward();
        for (std::size_t i = 0; i < far.size(); ++i) {
            CAPTURE(k, far[i], y.data()[i], x.grad().data()[i]);
            CHECK(std::isfinite(y.data()[i]));
            CHECK(std::isfinite(x.grad().data()[i]));
        }
    }
    // The limits: sigmoid 0 and 1, gelu and swish 0 and x, tanh -1 and 1.
    auto ends = Tensor<T>::from_data({2}, {T(-50), T(50)});
    CHECK(sigmoid(ends).data()[0] == Approx(std::exp(-50.0)).epsilon(1e-6));  // the tail, not a rounded 0
    CHECK(sigmoid(ends).data()[1] == T(1));
    CHECK(tanh(ends).to_vector() == std::vector<T>{T(-1), T(1)});
    CHECK(gelu(ends).data()[1] == T(50));
    CHECK(gelu(ends, true).to_vector() == std::vector<T>{T(0), T(50)});
    CHECK(swish(ends).data()[1] == T(50));
    CHECK(swish(ends).data()[0] < 0);
}

TEST_CASE("leaky_relu: gradient negative_slope at 0, NaN passes through, slope must be finite",
          "[autograd][activations]") {
    auto x = Tensor<double>::from_data({3}, {-2, 0, 2}).requires_grad(true);
    auto y = leaky_relu(x, 0.2);
    CHECK(y.to_vector() == std::vector<double>{-0.4, 0, 2});
    sum(y).backward();
    CHECK(x.grad().to_vector() == std::vector<double>{0.2, 0.2, 1});  // TensorFlow's and PyTorch's choice at 0
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK(std::isnan(leaky_relu(Tensor<double>::from_data({1}, {nan}), 0.3).item()));
    CHECK(std::isnan(sigmoid(Tensor<double>::from_data({1}, {nan})).item()));
    CHECK(test::error_message<ValueError>([&] { leaky_relu(x, nan); }) == "leaky_relu: negative_slope must be finite, got nan");
}

TEST_CASE("gelu's tanh form stays within 5e-4 of the exact one; sigmoid(0) = 0.5, swish = x sigmoid(x)",
          "[autograd][activations]") {
    Generator gen(7);
    auto x = Tensor<double>::uniform({200}, -6, 6, gen);
    CHECK(test::max_rel_error(gelu(x, true), gelu(x)) < 5e-4);
    CHECK(test::max_rel_error(swish(x), mul(x, sigmoid(x))) < 1e-15);
    CHECK(sigmoid(Tensor<float>::zeros({1})).item() == 0.5f);
    CHECK(gelu(Tensor<float>::zeros({1})).item() == 0.0f);
}
