// tests/fuzz/fuzz_model.hpp - the small CNN whose checkpoints the checkpoint fuzzer reads (and make_fuzz_seeds
// writes): conv, batch normalization, pool, dropout, dense - every kind of parameter, buffer (moving statistics) and
// generator a checkpoint holds.
#pragma once

#include <ember/nn/nn.hpp>

namespace ember::fuzz {

inline nn::Sequential<float> small_model() {
    nn::Sequential<float> model{nn::Conv2D(2, 3, nn::same), nn::BatchNormalization(), nn::ReLU(), nn::MaxPool2D(2),
                                nn::Dropout(0.25), nn::Flatten(), nn::Dense(3)};
    model.build({4, 4, 3}, 1);
    return model;
}

}  // namespace ember::fuzz
