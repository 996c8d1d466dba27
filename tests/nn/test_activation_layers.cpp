// tests/nn/test_activation_layers.cpp - LeakyReLU, Sigmoid, Tanh, GELU and Swish as layers: names, shapes, that each
// applies its op in float and double, and their place in a Sequential.
#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>

#include <memory>
#include <string>
#include <vector>

#include "helpers.hpp"

using namespace ember;

namespace {
/// A layer, its expected type and automatic names, and the op it must apply.
template <Real T>
struct LayerCase {
    std::unique_ptr<nn::Module<T>> layer;
    std::string type, name;
    std::function<Tensor<T>(const Tensor<T>&)> op;
};

template <Real T>
std::vector<LayerCase<T>> layer_cases() {
    std::vector<LayerCase<T>> c;
    c.push_back({std::make_unique<nn::LeakyReLU<T>>(), "LeakyReLU", "leaky_re_lu",
                 [](const Tensor<T>& x) { return leaky_relu(x, T(0.3)); }});
    c.push_back({std::make_unique<nn::Sigmoid<T>>(), "Sigmoid", "sigmoid", [](const Tensor<T>& x) { return sigmoid(x); }});
    c.push_back({std::make_unique<nn::Tanh<T>>(), "Tanh", "tanh", [](const Tensor<T>& x) { return tanh(x); }});
    c.push_back({std::make_unique<nn::GELU<T>>(), "GELU", "gelu", [](const Tensor<T>& x) { return gelu(x); }});
    c.push_back({std::make_unique<nn::GELU<T>>(true), "GELU", "gelu", [](const Tensor<T>& x) { return gelu(x, true); }});
    c.push_back({std::make_unique<nn::Swish<T>>(), "Swish", "swish", [](const Tensor<T>& x) { return swish(x); }});
    return c;
}
}  // namespace

TEMPLATE_TEST_CASE("the activation layers keep the shape, have no parameters and apply their op", "[nn][layers]",
                   float, double) {
    using T = TestType;
    Generator gen(8);
    const auto x = Tensor<T>::uniform({2, 5, 4, 3}, -4, 4, gen);
    for (auto& c : layer_cases<T>()) {
        CAPTURE(c.type);
        CHECK(c.layer->type_name() == c.type);
        CHECK(c.layer->default_name() == c.name);
        CHECK(c.layer->where() == c.type + " '" + c.name + "'");
        CHECK(c.layer->build({5, 4, 3}, gen) == Shape{5, 4, 3});
        CHECK(c.layer->parameter_count() == 0);
        const auto y = (*c.layer)(x);
        CHECK(y.shape() == x.shape());
        CHECK(y.to_vector() == c.op(x).to_vector());
        // On [N, features] too, as after a Dense layer.
        CHECK((*c.layer)(Tensor<T>::ones({3, 60})).shape() == Shape{3, 60});
    }
}

TEST_CASE("LeakyReLU: Keras' default slope 0.3, a chosen one, and a refused negative one", "[nn][layers]") {
    nn::LeakyReLU<double> keras;
    CHECK(keras.negative_slope() == 0.3);
    CHECK(keras(Tensor<double>::from_data({1, 3}, {-2, 0, 5})).to_vector() == std::vector<double>{-0.6, 0, 5});
    nn::LeakyReLU<float> torch_like(0.01f);
    CHECK(torch_like(Tensor<float>::from_data({1, 2}, {-100, 1})).to_vector() == std::vector<float>{-1, 1});
    CHECK(nn::LeakyReLU<float>(0).negative_slope() == 0);  // a plain relu
    CHECK(test::error_message<ValueError>([] { nn::LeakyReLU<float>(-0.1f); }) ==
          "LeakyReLU: negative_slope must be finite and >= 0, got -0.1");
    CHECK(nn::GELU<float>().approximate() == false);
    CHECK(nn::GELU<float>(true).approximate() == true);
}

TEST_CASE("activation layers in a Sequential: Keras-style names, architecture and gradients", "[nn][layers]") {
    nn::Sequential<double> model{nn::Dense<double>(4), nn::LeakyReLU<double>(), nn::Dense<double>(4),
                                 nn::GELU<double>(), nn::Dense<double>(3), nn::Swish<double>(), nn::Tanh<double>(),
                                 nn::Sigmoid<double>(), nn::LeakyReLU<double>(0.1)};
    CHECK(model.build({5}, 11) == Shape{3});
    std::vector<std::string> names;
    for (std::size_t i = 0; i < model.size(); ++i) names.push_back(model[i].name());
    CHECK(names == std::vector<std::string>{"dense", "leaky_re_lu", "dense_1", "gelu", "dense_2", "swish", "tanh",
                                            "sigmoid", "leaky_re_lu_1"});
    CHECK(model.architecture().find("gelu:GELU:[4]") != std::string::npos);
    Generator gen(12);
    auto x = Tensor<double>::uniform({6, 5}, -2, 2, gen);
    auto y = model(x);
    CHECK(y.shape() == Shape{6, 3});
    sum(y).backward();
    for (const auto& p : model.named_parameters()) {
        CAPTURE(p.name);
        REQUIRE(p.value.grad().defined());
        double norm = 0;
        for (double g : p.value.grad().span()) norm += g * g;
        CHECK(norm > 0);  // every activation passes a gradient
    }
}
