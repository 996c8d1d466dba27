// examples/quickstart/quickstart.cpp - ember in one page: a toy image task in memory, a small CNN, fit() with Adam,
// validation and early stopping. Exits 0 only if it learned (> 90% held-out accuracy). The part between the
// "quick start" markers is README.md's quick start, word for word (tools/check_readme.py checks it).
#include <cstdint>
#include <cstdio>
#include <iostream>

#include <ember/ember.hpp>

using ember::index_t;
using ember::Tensor;

constexpr index_t image_size = 16;
constexpr int classes = 3;

/// `n` images [n, 16, 16, 3] of noise in [0, 0.7] with a bright disc (radius 3, jittered centre, random tint) in the
/// quadrant that the class names (0 top-left, 1 top-right, 2 bottom-left), and the class indices [n] as floats.
ember::data::TensorDataset<float> make_blobs(index_t n, std::uint64_t seed) {
    ember::Generator gen(seed);
    auto images = Tensor<float>::empty({n, image_size, image_size, 3});
    auto labels = Tensor<float>::empty({n});
    for (index_t i = 0; i < n; ++i) {
        const auto label = static_cast<int>(gen.below(classes));
        labels.data()[i] = static_cast<float>(label);
        const double cy = (label == 2 ? 12.0 : 4.0) + gen.uniform(-1.5, 1.5);
        const double cx = (label == 1 ? 12.0 : 4.0) + gen.uniform(-1.5, 1.5);
        const double tint[3] = {gen.uniform(0.6, 1.0), gen.uniform(0.6, 1.0), gen.uniform(0.6, 1.0)};
        for (index_t y = 0; y < image_size; ++y)
            for (index_t x = 0; x < image_size; ++x) {
                const double dy = static_cast<double>(y) - cy, dx = static_cast<double>(x) - cx;
                const bool in_blob = dy * dy + dx * dx <= 9.0;
                for (index_t c = 0; c < 3; ++c)
                    images(i, y, x, c) = static_cast<float>(gen.uniform(0.0, 0.7) + (in_blob ? tint[c] * 0.3 : 0.0));
            }
    }
    return {images, labels};
}

int main() {
    const auto train_set = make_blobs(480, 1);
    const auto val_set = make_blobs(120, 2);
    // [quick start]
    namespace nn = ember::nn;
    namespace train = ember::train;

    auto model = nn::Sequential<float>{
        nn::Conv2D(8, 3, nn::same, nn::relu),  // [N, 16, 16, 3] -> [N, 16, 16, 8]
        nn::MaxPool2D(2),                      // -> [N, 8, 8, 8]
        nn::Flatten(),                         // -> [N, 512]
        nn::Dense(3),                          // -> [N, 3] logits
    };
    model.build({16, 16, 3}, /*seed=*/1);
    std::cout << model.summary();  // Keras-style table of layers, shapes and parameter counts

    // Any data::Dataset works: here (image, class) pairs held in two tensors.
    ember::data::DataLoader train_batches(train_set, {.batch_size = 32, .shuffle = true, .seed = 7});
    ember::data::DataLoader val_batches(val_set, {.batch_size = 64});
    ember::optim::Adam<float> adam(model.parameters(), {.lr = 2e-3});
    train::EarlyStopping<float> early_stopping("val_loss", /*patience=*/3);

    const train::History history = train::fit(model, adam, train_batches, {
        .epochs = 12,
        .loss = nn::SparseCategoricalCrossentropy<float>{},  // the model ends in logits
        .metrics = {train::accuracy<float>()},
        .validation = &val_batches,
        .callbacks = {&early_stopping},
    });
    history.write_csv("history.csv");  // epoch, loss, accuracy, ..., val_loss, val_accuracy, seconds

    model.eval();                        // dropout off (there is none here; a habit worth having)
    ember::NoGradGuard no_grad;          // record nothing
    const ember::Tensor<float> probabilities = ember::softmax(train::predict(model, val_batches));
    // [quick start]

    const double val_accuracy = history.epochs.back().get("val_accuracy");
    std::printf("held-out accuracy %.3f; p(class 0) of the first held-out image %.3f\n", val_accuracy,
                static_cast<double>(probabilities(0, 0)));
    if (!(val_accuracy > 0.9)) {
        std::printf("the model did not learn the toy task (held-out accuracy %.3f <= 0.9)\n", val_accuracy);
        return 1;
    }
    return 0;
}
