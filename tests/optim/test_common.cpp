// Keras' base-optimizer options (clipping, decoupled weight decay, EMA) against hand-computed references.
#include <catch2/catch.hpp>

#include <cmath>

#include <ember/optim/adam.hpp>
#include <ember/optim/sgd.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
Tensor<double> param(std::initializer_list<double> v) {
    return Tensor<double>::from_data({static_cast<index_t>(v.size())}, v).requires_grad(true);
}
void set_grad(Tensor<double>& p, std::initializer_list<double> g) {
    p.set_grad(Tensor<double>::from_data({static_cast<index_t>(g.size())}, g));
}
}  // namespace

TEST_CASE("decoupled weight decay shrinks the weights by lr * wd before the update, as Keras does", "[optim][common]") {
    // SGD: theta <- theta - theta * wd * lr, then theta <- theta - lr * g.
    auto p = param({1.0, -2.0});
    optim::SGD<double> sgd({p}, {.lr = 0.1, .common = {.weight_decay = 0.5}});
    set_grad(p, {2.0, 0.0});
    sgd.step();
    CHECK(p(0) == Approx(1.0 - 1.0 * 0.05 - 0.2).epsilon(1e-15));
    CHECK(p(1) == Approx(-2.0 + 2.0 * 0.05).epsilon(1e-15));
    // The rate is the current one (schedules lower the decay with it).
    sgd.set_learning_rate(0.01);
    sgd.step();
    CHECK(p(0) == Approx(0.75 * (1 - 0.005) - 0.02).epsilon(1e-15));

    // AdamW: Keras' defaults (weight decay 0.004), three steps against the formulas.
    auto w = param({1.0, -2.0});
    optim::AdamW<double> adamw({w}, {.lr = 0.1});
    CHECK(adamw.options().common.weight_decay == 0.004);
    double theta[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
    const double g[2] = {0.5, -0.1};
    for (int t = 1; t <= 3; ++t) {
        set_grad(w, {g[0], g[1]});
        adamw.step();
        const double alpha = 0.1 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
        for (int i = 0; i < 2; ++i) {
            theta[i] -= theta[i] * 0.004 * 0.1;
            m[i] += (g[i] - m[i]) * 0.1;
            v[i] += (g[i] * g[i] - v[i]) * 0.001;
            theta[i] -= alpha * m[i] / (std::sqrt(v[i]) + 1e-7);
        }
        CHECK(w(0) == Approx(theta[0]).epsilon(1e-14));
        CHECK(w(1) == Approx(theta[1]).epsilon(1e-14));
    }
    CHECK(adamw.iterations() == 3);
    // A parameter without a gradient is neither updated nor decayed (Keras filters it out first).
    auto a = param({1.0}), b = param({1.0});
    optim::AdamW<double> two({a, b});
    set_grad(a, {1.0});
    two.step();
    CHECK(a(0) < 1.0);
    CHECK(b(0) == 1.0);
}

TEST_CASE("gradient clipping by norm, by value and by global norm", "[optim][common]") {
    // Plain SGD with lr 1 makes the step the (clipped) gradient itself.
    auto step_of = [](optim::CommonOptions c, std::initializer_list<double> g1, std::initializer_list<double> g2) {
        auto p = param({0.0, 0.0}), q = param({0.0});
        optim::SGD<double> sgd({p, q}, {.lr = 1.0, .common = c});
        set_grad(p, g1);
        set_grad(q, g2);
        sgd.step();
        // the parameters' own gradients are left as they were
        CHECK(p.grad().to_vector() == std::vector<double>(g1));
        return std::vector<double>{-p(0), -p(1), -q(0)};
    };
    // clipnorm: each gradient to norm <= 1 on its own: [3, 4] (norm 5) -> [0.6, 0.8]; [0.5] unchanged.
    auto s = step_of({.clipnorm = 1.0}, {3.0, 4.0}, {0.5});
    CHECK(s[0] == Approx(0.6));
    CHECK(s[1] == Approx(0.8));
    CHECK(s[2] == 0.5);
    // clipvalue: elementwise to [-1, 1].
    s = step_of({.clipvalue = 1.0}, {3.0, -0.25}, {-7.0});
    CHECK(s == std::vector<double>{1.0, -0.25, -1.0});
    // global_clipnorm: all together to norm <= 6.5: [3, 4] and [12] have global norm 13 -> halved.
    s = step_of({.global_clipnorm = 6.5}, {3.0, 4.0}, {12.0});
    CHECK(s[0] == Approx(1.5));
    CHECK(s[1] == Approx(2.0));
    CHECK(s[2] == Approx(6.0));
    s = step_of({.global_clipnorm = 100.0}, {3.0, 4.0}, {12.0});
    CHECK(s == std::vector<double>{3.0, 4.0, 12.0});
    // A non-finite global norm poisons every gradient, as Keras' clip_by_global_norm does (the loss check
    // then stops training instead of a step that silently skips the infinite part).
    s = step_of({.global_clipnorm = 1.0}, {INFINITY, 1.0}, {1.0});
    CHECK(std::isnan(s[1]));
    CHECK(std::isnan(s[2]));
}

TEST_CASE("last_gradient_norm is the global norm of the gradients a step was given, before clipping", "[optim][common]") {
    auto p = param({0.0, 0.0}), q = param({0.0}), unused = param({0.0});
    optim::SGD<double> sgd({p, q, unused}, {.lr = 1.0, .common = {.global_clipnorm = 6.5}});
    CHECK(std::isnan(sgd.last_gradient_norm()));  // no step yet
    set_grad(p, {3.0, 4.0});
    set_grad(q, {12.0});
    sgd.step();  // `unused` has no gradient and does not count
    CHECK(sgd.last_gradient_norm() == 13.0);  // not the clipped 6.5
    CHECK(-q(0) == Approx(6.0));
    set_grad(p, {0.0, INFINITY});
    sgd.step();
    CHECK(std::isinf(sgd.last_gradient_norm()));
}

TEST_CASE("the moving average of the weights follows Keras' recurrence", "[optim][common][ema]") {
    auto p = param({1.0, 2.0});
    optim::SGD<double> sgd({p}, {.lr = 0.5, .common = {.use_ema = true, .ema_momentum = 0.9}});
    REQUIRE(sgd.averages().size() == 1);
    CHECK(sgd.averages()[0].to_vector() == std::vector<double>{0.0, 0.0});
    sgd.finalize_variable_values();  // before any step: nothing to write
    sgd.swap_averages();
    CHECK(p.to_vector() == std::vector<double>{1.0, 2.0});
    double w[2] = {1.0, 2.0}, avg[2] = {0, 0};
    for (int t = 1; t <= 4; ++t) {
        set_grad(p, {1.0, -1.0});
        sgd.step();
        w[0] -= 0.5;
        w[1] += 0.5;
        const double m = t == 1 ? 0.0 : 0.9;  // the first step copies the weights
        for (int i = 0; i < 2; ++i) avg[i] = m * avg[i] + (1 - m) * w[i];
        CHECK(p(0) == Approx(w[0]));
        CHECK(sgd.averages()[0](0) == Approx(avg[0]).epsilon(1e-15));
        CHECK(sgd.averages()[0](1) == Approx(avg[1]).epsilon(1e-15));
    }
    // swap twice restores both exactly
    const auto raw = p.to_vector(), average = sgd.averages()[0].to_vector();
    sgd.swap_averages();
    CHECK(p.to_vector() == average);
    CHECK(sgd.averages()[0].to_vector() == raw);
    sgd.swap_averages();
    CHECK(p.to_vector() == raw);
    CHECK_FALSE(sgd.averages_swapped_in());
    sgd.swap_averages();  // finalizing while swapped in still leaves the averages in both
    CHECK(sgd.averages_swapped_in());
    sgd.finalize_variable_values();
    CHECK_FALSE(sgd.averages_swapped_in());
    CHECK(p.to_vector() == average);
    CHECK(sgd.averages()[0].to_vector() == average);

    // ema_overwrite_frequency 2: the weights become the average after steps 2 and 4, not 1 and 3.
    auto q = param({0.0});
    optim::SGD<double> over({q}, {.lr = 1.0, .common = {.use_ema = true, .ema_momentum = 0.5, .ema_overwrite_frequency = 2}});
    set_grad(q, {-1.0});
    over.step();  // w 1, average 1
    CHECK(q(0) == 1.0);
    over.step();  // w 2, average 1.5 -> overwritten
    CHECK(q(0) == 1.5);
    over.step();  // w 2.5, average 2
    CHECK(q(0) == 2.5);
    over.step();  // w 3.5, average 2.75 -> overwritten
    CHECK(q(0) == 2.75);
}

TEST_CASE("the common options are checked by name, and a step without gradients is refused", "[optim][common][errors]") {
    auto p = Tensor<float>::ones({1}).requires_grad(true);
    CHECK(test::error_message<ValueError>([&] { optim::Adam<float>({p}, {.common = {.weight_decay = -1}}); }) ==
          "Adam: option 'weight_decay' must be >= 0, got -1");
    CHECK(test::error_message<ValueError>([&] { optim::SGD<float>({p}, {.common = {.clipnorm = 1, .clipvalue = 2}}); }) ==
          "SGD: only one of clipnorm, clipvalue and global_clipnorm can be set, got clipnorm=1, clipvalue=2, "
          "global_clipnorm=0");
    CHECK(test::error_message<ValueError>([&] { optim::Adam<float>({p}, {.common = {.use_ema = true, .ema_momentum = 1.5}}); }) ==
          "Adam: option 'ema_momentum' must be in [0, 1], got 1.5");
    CHECK(test::error_message<ValueError>([&] { optim::AdamW<float>({p}, {.weight_decay = 0}); }) ==
          "AdamW: option 'weight_decay' must be > 0 (without it, use Adam), got 0");
    CHECK(test::error_message<ValueError>([&] { optim::AdamW<float>({p}, {.common = {.weight_decay = 0.1}}); }) ==
          "AdamW: give weight_decay once, as AdamWOptions::weight_decay (common.weight_decay is 0.1)");
    CHECK(test::error_message<ValueError>([&] { optim::AdamW<float>({p}, {.lr = -1}); }) ==
          "AdamW: option 'lr' must be >= 0, got -1");
    optim::Adam<float> adam({p});
    CHECK(test::error_message<ValueError>([&] { adam.step(); }) ==
          "Adam: step() found no gradient on any parameter (call backward() first)");
    CHECK(adam.iterations() == 0);
}

TEST_CASE("exclude_from_weight_decay keeps the update rule and skips the decay, as Keras'", "[optim][common]") {
    auto kernel = param({1.0, -2.0}), bias = param({0.5});
    optim::SGD<double> sgd({kernel, bias}, {.lr = 0.1, .common = {.weight_decay = 0.5}});
    // the var_names form, over what a model's named_parameters() gives
    struct Named {
        std::string name;
        Tensor<double> value;
    };
    const std::vector<Named> named{{"dense.kernel", kernel}, {"dense.bias", bias}};
    sgd.exclude_from_weight_decay(named, {"bias"});
    CHECK(sgd.decays(0));
    CHECK_FALSE(sgd.decays(1));
    set_grad(kernel, {1.0, 0.0});
    set_grad(bias, {1.0});
    sgd.step();
    CHECK(kernel(0) == Approx(1.0 - 1.0 * 0.05 - 0.1).epsilon(1e-15));
    CHECK(kernel(1) == Approx(-2.0 + 2.0 * 0.05).epsilon(1e-15));
    CHECK(bias(0) == Approx(0.5 - 0.1).epsilon(1e-15));  // the gradient step only

    // the var_list form, and what is refused
    auto a = param({1.0}), b = param({1.0}), stranger = param({1.0});
    optim::AdamW<double> adamw({a, b});
    adamw.exclude_from_weight_decay(std::vector<Tensor<double>>{b});
    CHECK(adamw.decays(0));
    CHECK_FALSE(adamw.decays(1));
    CHECK(test::error_message<ValueError>([&] { adamw.exclude_from_weight_decay({a, stranger}); }) ==
          "AdamW: exclude_from_weight_decay(): vars[1] is not one of the optimizer's parameters");
    CHECK(adamw.decays(0));  // a refused call excludes nothing
    CHECK(test::error_message<ValueError>([&] { adamw.exclude_from_weight_decay(named, {"biass"}); }) ==
          "AdamW: exclude_from_weight_decay(): none of the optimizer's parameters has a name containing 'biass' (2 "
          "named parameter(s) given, the first 'dense.kernel')");
    // `named` holds sgd's parameters, not adamw's
    CHECK(test::error_message<ValueError>([&] { adamw.exclude_from_weight_decay(named, {"kernel"}); }) ==
          "AdamW: exclude_from_weight_decay(): none of the optimizer's parameters has a name containing 'kernel' (2 "
          "named parameter(s) given, the first 'dense.kernel')");
    CHECK_THROWS_AS(adamw.decays(2), IndexError);
    CHECK(test::error_message<ValueError>([&] { adamw.exclude_from_weight_decay(named, {""}); }) ==
          "AdamW: exclude_from_weight_decay(): an empty name matches everything");
    set_grad(a, {1.0});
    set_grad(b, {1.0});
    adamw.step();
    CHECK(test::error_message<StateError>([&] { adamw.exclude_from_weight_decay({a}); }) ==
          "AdamW: exclude_from_weight_decay() after a step (exclude parameters before training starts)");
    // an optimizer over part of a model: the model's other parameters are ignored, as in Keras; calls add up
    auto head_w = param({1.0}), head_b = param({1.0});
    optim::AdamW<double> head({head_w, head_b});
    const std::vector<Named> model{{"body.kernel", kernel}, {"body.bias", bias}, {"head.kernel", head_w},
                                   {"head.bias", head_b}};
    head.exclude_from_weight_decay(model, {"bias"});
    CHECK(head.decays(0));
    CHECK_FALSE(head.decays(1));
    head.exclude_from_weight_decay(model, {"head.kernel"});
    CHECK_FALSE(head.decays(0));
    CHECK_FALSE(head.decays(1));
    // without weight decay nothing decays, excluded or not
    optim::Adam<double> adam({a});
    CHECK_FALSE(adam.decays(0));
}
