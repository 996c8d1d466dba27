// A program that uses ember as an outside project would: one training step of a tiny CNN.
#include <ember/ember.hpp>

#include <cstdio>

int main() {
    namespace nn = ember::nn;
    auto model = nn::Sequential<float>{nn::Conv2D(2, 3, nn::same, nn::relu), nn::MaxPool2D(2), nn::Flatten(), nn::Dense(3)};
    model.build({6, 6, 1}, 1);
    ember::optim::Adam<float> adam(model.parameters());
    ember::Generator gen(2);
    auto x = ember::Tensor<float>::uniform({4, 6, 6, 1}, 0, 1, gen);
    auto loss = nn::sparse_categorical_crossentropy(model(x), std::vector<std::int32_t>{0, 1, 2, 0});
    adam.zero_grad();
    loss.backward();
    adam.step();
    std::printf("ember %s consumer OK: %lld parameters, loss %.3f\n", EMBER_VERSION_STRING,
                static_cast<long long>(model.parameter_count()), static_cast<double>(loss.item()));
    return model.parameter_count() == 2 * 9 + 2 + 18 * 3 + 3 ? 0 : 1;
}
