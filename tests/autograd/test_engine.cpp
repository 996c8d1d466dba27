#include <catch2/catch.hpp>

#include <ember/autograd/elementwise.hpp>
#include <ember/autograd/reduce.hpp>

#include <thread>

#include "helpers.hpp"

using namespace ember;
using test::error_message;

TEST_CASE("backward accumulates into leaves and a tensor used twice gets both contributions", "[autograd][engine]") {
    auto x = Tensor<double>::from_data({3}, {1, 2, 3}).requires_grad(true);
    auto y = sum(mul(x, x));  // d/dx = 2x
    y.backward();
    CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6});
    auto z = sum(x);  // accumulates: 2x + 1
    z.backward();
    CHECK(x.grad().to_vector() == std::vector<double>{3, 5, 7});
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
}

TEST_CASE("backward with an explicit upstream gradient", "[autograd][engine]") {
    auto x = Tensor<double>::from_data({2, 2}, {1, 2, 3, 4}).requires_grad(true);
    auto y = rescale(x, 3.0);
    y.backward(Tensor<double>::from_data({2, 2}, {1, 0, 0, 2}));
    CHECK(x.grad().to_vector() == std::vector<double>{3, 0, 0, 6});
    CHECK(error_message<ShapeError>([&] { rescale(x, 2.0).backward(Tensor<double>::ones({4})); }) ==
          "backward(): upstream gradient has shape [4], expected the tensor's shape [2, 2]");
}

TEST_CASE("a diamond graph sums both paths", "[autograd][engine]") {
    auto x = Tensor<double>::from_data({1}, {2}).requires_grad(true);
    auto a = rescale(x, 3.0);
    auto b = mul(a, x);           // 3x^2
    auto c = add(b, exp(a));      // 3x^2 + e^(3x)
    sum(c).backward();
    CHECK(x.grad().item() == Approx(6 * 2 + 3 * std::exp(6.0)));
}

TEST_CASE("the graph is released after backward unless retained", "[autograd][engine][errors]") {
    auto x = Tensor<double>::from_data({2}, {1, 2}).requires_grad(true);
    auto loss = sum(mul(x, x));
    loss.backward(/*retain_graph=*/true);
    loss.backward();  // allowed once more
    CHECK(x.grad().to_vector() == std::vector<double>{4, 8});
    CHECK(error_message<StateError>([&] { loss.backward(); }) ==
          "backward(): the graph through 'sum' was already released by an earlier backward(); pass "
          "retain_graph=true to the first call to back-propagate twice");
}

TEST_CASE("backward errors: non-scalar without upstream, tensor without grad", "[autograd][engine][errors]") {
    auto x = Tensor<double>::from_data({2}, {1, 2}).requires_grad(true);
    CHECK(error_message<StateError>([&] { mul(x, x).backward(); }) ==
          "backward(): called on a tensor of shape [2] without an upstream gradient; only a one-element tensor "
          "(a loss) can start backward implicitly - pass backward(upstream) for others");
    auto c = Tensor<double>::from_data({1}, {1});
    CHECK(error_message<StateError>([&] { sum(c).backward(); }) ==
          "backward(): this tensor does not require grad (no input of its graph has requires_grad(true), or it "
          "was computed under NoGradGuard)");
    auto y = mul(x, x);
    CHECK(error_message<StateError>([&] { y.requires_grad(false); }) ==
          "requires_grad(): only leaf tensors can change requires_grad; this one was computed by 'mul' (use "
          "detach() first)");
}

TEST_CASE("NoGradGuard records nothing and restores the mode, and detach cuts history", "[autograd][engine]") {
    auto x = Tensor<double>::from_data({2}, {1, 2}).requires_grad(true);
    {
        NoGradGuard guard;
        CHECK_FALSE(grad_enabled());
        auto y = mul(x, x);
        CHECK_FALSE(y.requires_grad());
        CHECK(y.is_leaf());
        {
            NoGradGuard nested;
        }
        CHECK_FALSE(grad_enabled());
    }
    CHECK(grad_enabled());
    auto y = mul(x, x);
    CHECK(y.requires_grad());
    CHECK(y.grad_fn_name() == "mul");
    auto d = y.detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.is_leaf());
    CHECK(d.shares_storage_with(y));
}

TEST_CASE("grad mode is per thread", "[autograd][engine]") {
    NoGradGuard guard;
    bool other = false;
    std::thread([&] { other = grad_enabled(); }).join();
    CHECK(other);
    CHECK_FALSE(grad_enabled());
}

TEST_CASE("a long chain back-propagates without recursion", "[autograd][engine]") {
    auto x = Tensor<double>::from_data({1}, {1}).requires_grad(true);
    Tensor<double> y = x;
    for (int i = 0; i < 20000; ++i) y = rescale(y, 1.0, 0.001);
    sum(y).backward();
    CHECK(x.grad().item() == 1.0);
}
