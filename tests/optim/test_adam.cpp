#include <catch2/catch.hpp>

#include <ember/optim/adam.hpp>

#include "helpers.hpp"

using namespace ember;

TEST_CASE("Adam's first three steps match Keras' update computed by hand", "[optim][adam]") {
    // theta0 = [1, -2], constant gradients g = [0.5, -0.1]; lr 0.1 to make the steps visible.
    auto theta = Tensor<double>::from_data({2}, {1.0, -2.0}).requires_grad(true);
    optim::Adam<double> adam({theta}, {.lr = 0.1});
    const double g[2] = {0.5, -0.1};
    double m[2] = {0, 0}, v[2] = {0, 0}, expect[2] = {1.0, -2.0};
    for (int t = 1; t <= 3; ++t) {
        theta.set_grad(Tensor<double>::from_data({2}, {g[0], g[1]}));
        adam.step();
        // Keras: alpha_t = lr sqrt(1-b2^t)/(1-b1^t); m += (g-m)(1-b1); v += (g^2-v)(1-b2);
        //        theta -= alpha_t m / (sqrt(v) + 1e-7)
        const double alpha = 0.1 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
        for (int i = 0; i < 2; ++i) {
            m[i] += (g[i] - m[i]) * 0.1;
            v[i] += (g[i] * g[i] - v[i]) * 0.001;
            expect[i] -= alpha * m[i] / (std::sqrt(v[i]) + 1e-7);
        }
        CHECK(theta(0) == Approx(expect[0]).epsilon(1e-14));
        CHECK(theta(1) == Approx(expect[1]).epsilon(1e-14));
    }
    // The same three steps as literals, computed separately in Python with Keras' formulas: the epsilon of 1e-7
    // on the uncorrected sqrt(v) shows in the 7th digit (PyTorch's placement, 1e-8 on sqrt(v-hat), gives 0.700000006).
    CHECK(theta(0) == Approx(0.7000014451046597).epsilon(1e-13));
    CHECK(theta(1) == Approx(-1.7000072253765877).epsilon(1e-13));
    CHECK(adam.iterations() == 3);
}

TEST_CASE("Adam's epsilon is Keras' (1e-7, on the uncorrected sqrt(v)), not PyTorch's", "[optim][adam]") {
    // With a tiny gradient the epsilon placement dominates: g = 1e-8 at step 1.
    auto theta = Tensor<double>::from_data({1}, {0.0}).requires_grad(true);
    optim::Adam<double> adam({theta});
    theta.set_grad(Tensor<double>::from_data({1}, {1e-8}));
    adam.step();
    const double m = 1e-9, v = 1e-19;  // (1-b1) g, (1-b2) g^2
    const double alpha = 1e-3 * std::sqrt(1 - 0.999) / (1 - 0.9);
    CHECK(theta(0) == Approx(-alpha * m / (std::sqrt(v) + 1e-7)).epsilon(1e-12));
    // PyTorch would give -lr * (m/0.1) / (sqrt(v/0.001) + 1e-8) = -1e-3 * 1e-8 / (1e-8 + 1e-8) = -5e-4.
    CHECK(theta(0) != Approx(-5e-4).epsilon(1e-3));
}

TEST_CASE("Adam skips parameters without gradients, and zero_grad clears them", "[optim][adam]") {
    auto a = Tensor<float>::ones({2}).requires_grad(true);
    auto b = Tensor<float>::ones({2}).requires_grad(true);
    optim::Adam<float> adam({a, b});
    a.set_grad(Tensor<float>::ones({2}));
    adam.step();
    CHECK(a(0) < 1.0f);
    CHECK(b(0) == 1.0f);
    adam.zero_grad();
    CHECK_FALSE(a.grad().defined());
}

TEST_CASE("Adam validates its options by name", "[optim][adam][errors]") {
    auto p = Tensor<float>::ones({1}).requires_grad(true);
    CHECK(test::error_message<ValueError>([&] { optim::Adam<float>({p}, {.lr = -1}); }) ==
          "Adam: option 'lr' must be >= 0, got -1");
    CHECK(test::error_message<ValueError>([&] { optim::Adam<float>({p}, {.beta1 = 1.0}); }) ==
          "Adam: option 'beta1' must be in [0, 1), got 1");
    CHECK(test::error_message<ValueError>([&] { optim::Adam<float>({p}, {.beta2 = -0.1}); }) ==
          "Adam: option 'beta2' must be in [0, 1), got -0.1");
    CHECK(test::error_message<ValueError>([&] { optim::Adam<float>({p}, {.epsilon = -1e-7}); }) ==
          "Adam: option 'epsilon' must be >= 0, got -1e-07");
    CHECK(test::error_message<ValueError>([&] { optim::Adam<float>({Tensor<float>::ones({1})}); }) ==
          "optimizer: parameter 0 is undefined or does not require grad (build the model first; for a model with "
          "frozen layers, pass model.trainable_parameters())");
    optim::Adam<float> adam({p});
    CHECK_THROWS_AS(adam.set_learning_rate(-1), ValueError);
    adam.set_learning_rate(5e-4);
    CHECK(adam.learning_rate() == 5e-4);
}
