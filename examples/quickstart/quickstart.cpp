// examples/quickstart/quickstart.cpp - ember in one page: generate a toy image task, define a small CNN,
// train it with Adam, report accuracy. Exits 0 only if the network learned the task (> 90% accuracy).
#include <cstdio>
#include <iostream>

#include <ember/ember.hpp>

namespace nn = ember::nn;
using ember::Tensor;

int main() {
    // Three classes of 16x16 RGB images: a bright blob in the top-left, top-right or bottom half, plus noise.
    ember::Generator gen(7);
    const ember::index_t n = 240, size = 16;
    auto images = Tensor<float>::empty({n, size, size, 3});
    std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
    for (ember::index_t i = 0; i < n; ++i) {
        const int label = static_cast<int>(gen.below(3));
        labels[static_cast<std::size_t>(i)] = label;
        for (ember::index_t y = 0; y < size; ++y)
            for (ember::index_t x = 0; x < size; ++x) {
                const bool on = label == 0 ? (y < 8 && x < 8) : label == 1 ? (y < 8 && x >= 8) : y >= 8;
                for (ember::index_t c = 0; c < 3; ++c)
                    images(i, y, x, c) = (on ? 170.0f : 60.0f) + static_cast<float>(gen.uniform(-50, 50));
            }
    }

    auto model = nn::Sequential<float>{
        nn::Rescaling(1.0f / 255),
        nn::Conv2D(8, 3, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(8, 3, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Flatten(), nn::Dense(3),
    };
    model.build({size, size, 3}, /*seed=*/1);
    std::cout << model.summary();
    ember::optim::Adam<float> adam(model.parameters(), {.lr = 3e-3});

    const ember::index_t batch = 24;
    double accuracy = 0;
    for (int epoch = 1; epoch <= 8; ++epoch) {
        double loss_sum = 0;
        long right = 0;
        for (ember::index_t b = 0; b < n; b += batch) {
            const Tensor<float> x = images.slice_rows(b, b + batch);
            const std::vector<std::int32_t> y(labels.begin() + b, labels.begin() + b + batch);
            auto logits = model(x);
            auto loss = nn::sparse_categorical_crossentropy(logits, y);
            adam.zero_grad();
            loss.backward();
            adam.step();
            loss_sum += loss.item() * batch;
            const auto pred = ember::train::argmax_rows(logits.detach());
            for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == y[i];
        }
        accuracy = static_cast<double>(right) / n;
        std::printf("epoch %d  loss %.4f  accuracy %.3f\n", epoch, loss_sum / n, accuracy);
    }
    if (accuracy <= 0.9) {
        std::printf("the model did not learn the toy task (accuracy %.3f <= 0.9)\n", accuracy);
        return 1;
    }
    std::printf("learned the toy task: final training accuracy %.3f\n", accuracy);
    return 0;
}
