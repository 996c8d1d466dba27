// examples/melanoma/model.cpp - the reference CNN (model.hpp says why it is not inline).
#include "model.hpp"

#include <ember/nn/nn.hpp>

namespace melanoma {

ember::nn::Sequential<float> reference_model(int classes) {
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
