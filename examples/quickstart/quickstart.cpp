// examples/quickstart/quickstart.cpp - ember in one page: generate a toy image task in memory, define a small CNN,
// train it with Adam in mini-batches, report loss and accuracy. Exits 0 only if it learned (> 90% accuracy).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <vector>

#include <ember/ember.hpp>

namespace nn = ember::nn;
using ember::index_t;
using ember::Tensor;

constexpr index_t image_size = 16;
constexpr int classes = 3;

struct Dataset {
    Tensor<float> images;              // [N, 16, 16, 3], values in [0, 1]
    std::vector<std::int32_t> labels;  // [N], 0 = blob top-left, 1 = blob top-right, 2 = blob bottom-left
};

/// `n` images of noise in [0, 0.7] with a bright disc (radius 3, jittered centre, random tint) in the quadrant
/// that the class names.
Dataset make_dataset(index_t n, ember::Generator& gen) {
    Dataset d{Tensor<float>::empty({n, image_size, image_size, 3}), std::vector<std::int32_t>(static_cast<std::size_t>(n))};
    for (index_t i = 0; i < n; ++i) {
        const auto label = static_cast<std::int32_t>(gen.below(classes));
        d.labels[static_cast<std::size_t>(i)] = label;
        const double cy = (label == 2 ? 12.0 : 4.0) + gen.uniform(-1.5, 1.5);
        const double cx = (label == 1 ? 12.0 : 4.0) + gen.uniform(-1.5, 1.5);
        const double tint[3] = {gen.uniform(0.6, 1.0), gen.uniform(0.6, 1.0), gen.uniform(0.6, 1.0)};
        for (index_t y = 0; y < image_size; ++y)
            for (index_t x = 0; x < image_size; ++x) {
                const double dy = static_cast<double>(y) - cy, dx = static_cast<double>(x) - cx;
                const bool in_blob = dy * dy + dx * dx <= 9.0;
                for (index_t c = 0; c < 3; ++c)
                    d.images(i, y, x, c) = static_cast<float>(gen.uniform(0.0, 0.7) + (in_blob ? tint[c] * 0.3 : 0.0));
            }
    }
    return d;
}

/// Fraction of `data` that `model` classifies correctly, in inference mode.
double accuracy(nn::Sequential<float>& model, const Dataset& data) {
    model.eval();
    ember::NoGradGuard no_grad;
    const auto predicted = ember::train::argmax_rows(model(data.images));
    model.train();
    long right = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == data.labels[i];
    return static_cast<double>(right) / static_cast<double>(predicted.size());
}

int main() {
    ember::Generator gen(7);
    const Dataset train = make_dataset(480, gen);
    const Dataset test = make_dataset(120, gen);

    auto model = nn::Sequential<float>{
        nn::Conv2D(8, 3, nn::same, nn::relu),  // [N, 16, 16, 3] -> [N, 16, 16, 8]
        nn::MaxPool2D(2),                      // -> [N, 8, 8, 8]
        nn::Flatten(),                         // -> [N, 512]
        nn::Dense(classes),                    // -> [N, 3] logits
    };
    model.build({image_size, image_size, 3}, /*seed=*/1);
    std::cout << model.summary();
    ember::optim::Adam<float> adam(model.parameters(), {.lr = 2e-3});

    const index_t n = train.images.size(0), batch = 32;
    for (int epoch = 1; epoch <= 8; ++epoch) {
        double loss_sum = 0;
        for (index_t b = 0; b < n; b += batch) {
            const index_t end = std::min(b + batch, n);
            const Tensor<float> x = train.images.slice_rows(b, end);
            const std::vector<std::int32_t> y(train.labels.begin() + b, train.labels.begin() + end);
            auto loss = nn::sparse_categorical_crossentropy(model(x), y);
            adam.zero_grad();
            loss.backward();
            adam.step();
            loss_sum += static_cast<double>(loss.item()) * static_cast<double>(end - b);
        }
        std::printf("epoch %d  loss %.4f  train accuracy %.3f\n", epoch, loss_sum / static_cast<double>(n),
                    accuracy(model, train));
    }

    const double train_accuracy = accuracy(model, train);
    std::printf("final: train accuracy %.3f, held-out accuracy %.3f\n", train_accuracy, accuracy(model, test));
    if (train_accuracy <= 0.9) {
        std::printf("the model did not learn the toy task (train accuracy %.3f <= 0.9)\n", train_accuracy);
        return 1;
    }
    return 0;
}
