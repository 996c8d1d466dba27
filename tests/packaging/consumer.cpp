// tests/packaging/consumer.cpp - the program every packaging consumer project builds: a user's first file, one
// training step of a tiny CNN. Prints "ember <version> consumer OK" and exits 0 only if the step worked.
#include <ember/ember.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

int main() {
    namespace nn = ember::nn;
    auto model = nn::Sequential<float>{nn::Conv2D(2, 3, nn::same, nn::relu), nn::MaxPool2D(2), nn::Flatten(), nn::Dense(3)};
    model.build({6, 6, 1}, /*seed=*/1);
    ember::optim::Adam<float> adam(model.parameters());

    ember::Generator gen(2);
    const auto x = ember::Tensor<float>::uniform({4, 6, 6, 1}, 0, 1, gen);  // [N, H, W, C]
    const std::vector<std::int32_t> y{0, 1, 2, 0};
    auto loss = nn::sparse_categorical_crossentropy(model(x), y);
    adam.zero_grad();
    loss.backward();
    adam.step();

    float after = 0;
    {
        ember::NoGradGuard no_grad;
        after = nn::sparse_categorical_crossentropy(model(x), y).item();
    }
    const float before = loss.item();
    // conv 3*3*1*2 + 2, dense (3*3*2)*3 + 3
    const long long expected_parameters = 3 * 3 * 1 * 2 + 2 + 18 * 3 + 3;
    const auto parameters = static_cast<long long>(model.parameter_count());
    const bool ok = parameters == expected_parameters && std::isfinite(before) && after < before;
    std::printf("ember %s consumer %s: %lld parameters (expected %lld), loss %.5f -> %.5f after one Adam step\n",
                EMBER_VERSION_STRING, ok ? "OK" : "FAILED", parameters, expected_parameters,
                static_cast<double>(before), static_cast<double>(after));
    return ok ? 0 : 1;
}
