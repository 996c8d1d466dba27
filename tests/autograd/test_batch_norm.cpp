// tests/autograd/test_batch_norm.cpp - batch_norm (training form) and batch_norm_inference against the formula
// in plain loops, their moments, and the refusals. Gradients: test_op_table.cpp (training form) and below
// (inference form, which is composed of other ops).
#include <catch2/catch.hpp>

#include <cmath>

#include <ember/autograd/ops.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// The textbook formula in double, channel by channel: the reference for both forms.
template <Real T>
Tensor<double> normalize_reference(const Tensor<T>& x, const std::vector<double>& mean, const std::vector<double>& var,
                                   const std::vector<double>& gamma, const std::vector<double>& beta, double eps) {
    const index_t c = x.size(x.rank() - 1);
    Tensor<double> y = Tensor<double>::empty(x.shape());
    for (index_t i = 0; i < x.numel(); ++i) {
        const auto k = static_cast<std::size_t>(i % c);
        y.data()[i] = gamma[k] * (static_cast<double>(x.data()[i]) - mean[k]) / std::sqrt(var[k] + eps) + beta[k];
    }
    return y;
}

template <Real T>
void moments_reference(const Tensor<T>& x, std::vector<double>& mean, std::vector<double>& var) {
    const index_t c = x.size(x.rank() - 1), rows = x.numel() / c;
    mean.assign(static_cast<std::size_t>(c), 0.0);
    var.assign(static_cast<std::size_t>(c), 0.0);
    for (index_t i = 0; i < x.numel(); ++i) mean[static_cast<std::size_t>(i % c)] += x.data()[i] / double(rows);
    for (index_t i = 0; i < x.numel(); ++i) {
        const double d = x.data()[i] - mean[static_cast<std::size_t>(i % c)];
        var[static_cast<std::size_t>(i % c)] += d * d / double(rows);
    }
}
}  // namespace

TEMPLATE_TEST_CASE("batch_norm normalizes each channel with the batch's mean and biased variance", "[autograd][batch_norm]",
                   float, double) {
    using T = TestType;
    Generator gen(7);
    // 600 rows: more than two of the kernel's 256-row blocks, so the block sums are exercised.
    const Tensor<T> x = Tensor<T>::uniform({6, 10, 10, 3}, -2, 5, gen);
    const Tensor<T> gamma = Tensor<T>::from_data({3}, {T(0.5), T(2), T(-1)});
    const Tensor<T> beta = Tensor<T>::from_data({3}, {T(0.1), T(0), T(3)});
    BatchMoments moments;
    const Tensor<T> y = batch_norm(x, gamma, beta, 1e-3, &moments);
    std::vector<double> mean, var;
    moments_reference(x, mean, var);
    for (std::size_t k = 0; k < 3; ++k) {
        CHECK(moments.mean[k] == Approx(mean[k]).epsilon(1e-12));
        CHECK(moments.variance[k] == Approx(var[k]).epsilon(1e-12));
    }
    const auto expected = normalize_reference(x, mean, var, {0.5, 2, -1}, {0.1, 0, 3}, 1e-3);
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    for (index_t i = 0; i < x.numel(); ++i) CHECK(std::abs(y.data()[i] - expected.data()[i]) < tol);
    // Without gamma and beta: zero mean and (nearly, for epsilon) unit variance.
    const Tensor<T> z = batch_norm(x, Tensor<T>(), Tensor<T>(), 1e-3);
    std::vector<double> zm, zv;
    moments_reference(z, zm, zv);
    for (std::size_t k = 0; k < 3; ++k) {
        CHECK(std::abs(zm[k]) < 1e-5);
        CHECK(zv[k] == Approx(var[k] / (var[k] + 1e-3)).epsilon(1e-4));
    }
}

TEST_CASE("batch_norm's moments survive a large mean (two passes, not a sum of squares)", "[autograd][batch_norm]") {
    // float values around 1e4 with spread 1: E[x^2] - E[x]^2 in float would lose every digit of the variance.
    Generator gen(3);
    Tensor<float> x = Tensor<float>::uniform({400, 2}, -1, 1, gen);
    for (float& v : x.span()) v += 10000.0f;
    BatchMoments m;
    (void)batch_norm(x, Tensor<float>(), Tensor<float>(), 1e-3, &m);
    std::vector<double> mean, var;
    moments_reference(x, mean, var);
    CHECK(m.variance[0] == Approx(var[0]).epsilon(1e-6));
    CHECK(m.variance[0] == Approx(1.0 / 3).epsilon(0.2));
    // and the output keeps its digits: the mean is subtracted before scaling, not folded into a shift
    const Tensor<float> y = batch_norm(x, Tensor<float>(), Tensor<float>(), 1e-3);
    for (index_t i = 0; i < x.numel(); ++i) {
        const auto k = static_cast<std::size_t>(i % 2);
        CHECK(std::abs(y.data()[i] - (x.data()[i] - mean[k]) / std::sqrt(var[k] + 1e-3)) < 2e-3);
    }
}

TEMPLATE_TEST_CASE("batch_norm_inference uses the given statistics; its gradients reach x, gamma and beta",
                   "[autograd][batch_norm]", float, double) {
    using T = TestType;
    Generator gen(11);
    const Tensor<T> x = Tensor<T>::uniform({2, 3, 3, 2}, -1, 1, gen);
    const Tensor<T> gamma = Tensor<T>::from_data({2}, {T(1.5), T(0.5)});
    const Tensor<T> beta = Tensor<T>::from_data({2}, {T(-1), T(0.25)});
    const Tensor<T> mean = Tensor<T>::from_data({2}, {T(0.2), T(-0.3)});
    const Tensor<T> var = Tensor<T>::from_data({2}, {T(0.5), T(2)});
    const auto expected = normalize_reference(x, {0.2, -0.3}, {0.5, 2}, {1.5, 0.5}, {-1, 0.25}, 1e-3);
    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
    const Tensor<T> y = batch_norm_inference(x, gamma, beta, mean, var, 1e-3);
    for (index_t i = 0; i < x.numel(); ++i) CHECK(std::abs(y.data()[i] - expected.data()[i]) < tol);
    // The composed path, taken when a gradient is wanted, gives the same values.
    const Tensor<T> yg = batch_norm_inference(x.clone().requires_grad(true), gamma, beta, mean, var, 1e-3);
    for (index_t i = 0; i < x.numel(); ++i) CHECK(std::abs(yg.data()[i] - expected.data()[i]) < tol);
}

TEST_CASE("batch_norm_inference's gradient passes a finite-difference check in double", "[autograd][batch_norm]") {
    Generator gen(5);
    const auto mean = Tensor<double>::uniform({3}, -1, 1, gen);
    const auto var = Tensor<double>::uniform({3}, 0.5, 2, gen);
    std::vector<Tensor<double>> in{Tensor<double>::uniform({4, 3}, -1, 1, gen), Tensor<double>::uniform({3}, 0.5, 2, gen),
                                   Tensor<double>::uniform({3}, -1, 1, gen)};
    CHECK(test::gradient_check(in, [&](const std::vector<Tensor<double>>& t) {
              return test::weighted_sum(batch_norm_inference(t[0], t[1], t[2], mean, var, 1e-3));
          }) < 1e-6);
}

TEST_CASE("batch_norm refuses one value per channel, wrong shapes and a bad epsilon, naming the caller",
          "[autograd][batch_norm][errors]") {
    const auto gamma = Tensor<float>::ones({3});
    CHECK(test::error_message<ValueError>([&] {
              (void)batch_norm(Tensor<float>::ones({1, 3}), gamma, Tensor<float>(), 1e-3, nullptr, "bn");
          }) == "bn: cannot normalize input [1, 3] in training mode: each channel has one value (a batch of one "
                "sample), whose variance is 0; train with batches of at least 2 samples or call eval() to use the "
                "moving statistics");
    // One image of 2x2 pixels has four values per channel: normalizable, as in PyTorch.
    CHECK(batch_norm(Tensor<float>::ones({1, 2, 2, 3}), gamma, Tensor<float>(), 1e-3).shape() == Shape{1, 2, 2, 3});
    CHECK(test::error_message<ShapeError>([&] {
              (void)batch_norm(Tensor<float>::ones({4, 2}), gamma, Tensor<float>(), 1e-3, nullptr, "bn");
          }) == "bn: expected gamma [2] for input [4, 2], got [3]");
    CHECK(test::error_message<ShapeError>([&] {
              (void)batch_norm(Tensor<float>::ones({4}), Tensor<float>(), Tensor<float>(), 1e-3, nullptr, "bn");
          }) == "bn: expected a batch [N, ..., C], got [4]");
    CHECK(test::error_message<ValueError>([&] {
              (void)batch_norm(Tensor<float>::ones({4, 3}), gamma, Tensor<float>(), 0.0, nullptr, "bn");
          }) == "bn: epsilon must be > 0, got 0");
    CHECK(test::error_message<ValueError>([&] {
              (void)batch_norm(Tensor<float>::ones({0, 3}), gamma, Tensor<float>(), 1e-3, nullptr, "bn");
          }) == "bn: cannot normalize the empty batch [0, 3]");
    CHECK(test::error_message<ValueError>([&] {
              (void)batch_norm_inference(Tensor<float>::ones({4, 3}), gamma, Tensor<float>(), Tensor<float>::zeros({3}),
                                         Tensor<float>::from_data({3}, {1.0f, -0.5f, 1.0f}), 1e-3, "bn");
          }) == "bn: moving variance of channel 1 is -0.5, a variance cannot be negative");
    CHECK(test::error_message<ShapeError>([&] {
              (void)batch_norm_inference(Tensor<float>::ones({4, 3}), gamma, Tensor<float>(), Tensor<float>::zeros({2}),
                                         Tensor<float>::ones({3}), 1e-3, "bn");
          }) == "bn: expected moving mean and variance [3], got [2] and [3]");
}
