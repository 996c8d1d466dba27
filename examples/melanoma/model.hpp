// examples/melanoma/model.hpp - the reference CNN of the Keras original, ending in logits (the loss fuses
// log-softmax; predictions apply softmax).
#pragma once

#include <ember/ember.hpp>

namespace melanoma {

inline constexpr int kImageSize = 180;

/// Rescaling(1/255) -> Conv2D(32,5,same,relu) x2 -> MaxPool 2 -> Conv2D(64,5,same,relu) -> MaxPool 2 ->
/// Conv2D(64,5,same,relu) -> MaxPool 2 -> Dropout(0.25) -> Flatten -> Dense(classes): 460,585 parameters for 9.
inline ember::nn::Sequential<float> reference_model(int classes) {
    namespace nn = ember::nn;
    return nn::Sequential<float>{
        nn::Rescaling(1.0f / 255),
        nn::Conv2D(32, 5, nn::same, nn::relu), nn::Conv2D(32, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Dropout(0.25), nn::Flatten(), nn::Dense(classes),
    };
}

}  // namespace melanoma
