#include <catch2/catch.hpp>

#include <ember/optim/sgd.hpp>

#include "helpers.hpp"

using namespace ember;

TEST_CASE("SGD with momentum follows Keras' velocity form", "[optim][sgd]") {
    auto theta = Tensor<double>::from_data({1}, {1.0}).requires_grad(true);
    optim::SGD<double> sgd({theta}, {.lr = 0.1, .momentum = 0.9});
    // v1 = -0.1*2 = -0.2 -> 0.8; v2 = 0.9*-0.2 - 0.1*2 = -0.38 -> 0.42
    theta.set_grad(Tensor<double>::from_data({1}, {2.0}));
    sgd.step();
    CHECK(theta(0) == Approx(0.8));
    sgd.step();
    CHECK(theta(0) == Approx(0.42));
    auto p = Tensor<double>::from_data({1}, {1.0}).requires_grad(true);
    optim::SGD<double> nesterov({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
    p.set_grad(Tensor<double>::from_data({1}, {2.0}));
    nesterov.step();  // v = -0.2; theta += 0.9*-0.2 - 0.2 = -0.38
    CHECK(p(0) == Approx(0.62));
}

TEST_CASE("plain SGD and option checks", "[optim][sgd][errors]") {
    auto theta = Tensor<float>::from_data({2}, {1, 2}).requires_grad(true);
    optim::SGD<float> sgd({theta}, {.lr = 0.5});
    theta.set_grad(Tensor<float>::from_data({2}, {1, -1}));
    sgd.step();
    CHECK(theta.to_vector() == std::vector<float>{0.5f, 2.5f});
    CHECK(test::error_message<ValueError>([&] { optim::SGD<float>({theta}, {.momentum = 1.0}); }) ==
          "SGD: option 'momentum' must be in [0, 1), got 1");
}
