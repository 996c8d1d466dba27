// examples/melanoma/model.cpp - the example's networks (model.hpp says why they are not inline).
#include "model.hpp"

#include <ember/nn/nn.hpp>

namespace melanoma {

namespace nn = ember::nn;

ember::nn::Sequential<float> reference_model(int classes) {
    return nn::Sequential<float>{
        nn::Rescaling(1.0f / 255),
        nn::Conv2D(32, 5, nn::same, nn::relu), nn::Conv2D(32, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Conv2D(64, 5, nn::same, nn::relu), nn::MaxPool2D(2),
        nn::Dropout(0.25), nn::Flatten(), nn::Dense(classes),
    };
}

ember::nn::Sequential<float> separable_model(int classes) {
    nn::Sequential<float> m;
    m.add(nn::Rescaling(1.0f / 255));
    // A strided full convolution first: 3 input channels are too few for a depthwise step to mix.
    m.add(nn::Conv2D(32, 3, nn::same, nn::linear, 2));  // 180 -> 90
    m.add(nn::BatchNormalization());
    m.add(nn::ReLU());
    // Each block: SeparableConv2D without bias (the batch normalization after it has beta) -> BN -> ReLU.
    const auto block = [&](ember::index_t filters) {
        m.add(nn::SeparableConv2D(filters, 3, nn::same, nn::linear, 1, 1, /*use_bias=*/false));
        m.add(nn::BatchNormalization());
        m.add(nn::ReLU());
    };
    block(64);
    m.add(nn::MaxPool2D(2));  // 90 -> 45
    block(128);
    block(128);
    m.add(nn::MaxPool2D(2));  // 45 -> 22
    block(256);
    block(256);
    m.add(nn::MaxPool2D(2));  // 22 -> 11
    block(512);
    m.add(nn::GlobalAveragePooling2D());
    m.add(nn::Dropout(0.3));
    m.add(nn::Dense(classes));
    return m;
}

ember::nn::Sequential<float> make_model(const std::string& name, int classes) {
    if (name == "reference-cnn") return reference_model(classes);
    if (name == "ember-separable") return separable_model(classes);
    throw ember::ValueError("unknown model '" + name + "' (reference-cnn | ember-separable)");
}

}  // namespace melanoma
