// examples/melanoma/model.hpp - the example's networks, ending in logits (the loss fuses log-softmax; predictions
// apply softmax): the reference CNN of the Keras original and ember's own depthwise-separable network.
#pragma once

#include <string>
#include <vector>

#include <ember/nn/sequential.hpp>

namespace melanoma {

inline constexpr int kImageSize = 180;

/// The names a recipe's "model" may take (what make_model builds).
inline const std::vector<std::string> kModelNames{"reference-cnn", "ember-separable"};

/// Rescaling(1/255) -> Conv2D(32,5,same,relu) x2 -> MaxPool 2 -> Conv2D(64,5,same,relu) -> MaxPool 2 ->
/// Conv2D(64,5,same,relu) -> MaxPool 2 -> Dropout(0.25) -> Flatten -> Dense(classes): 460,585 parameters for 9.
/// Defined in model.cpp, the one translation unit that constructs the layers: the layers are virtual modules, so
/// their forward and backward code (the convolution kernels above all) is compiled there and nowhere else.
ember::nn::Sequential<float> reference_model(int classes);

/// ember's own network: a strided 3x3 stem, then depthwise-separable convolutions (each followed by batch
/// normalization and ReLU) widening 64 -> 512 through three max-pools, global average pooling, Dropout(0.3) and
/// Dense(classes). 274,793 weights for 9 classes (272,041 trained, 2,752 moving statistics) and about a tenth of
/// the reference CNN's multiply-adds.
ember::nn::Sequential<float> separable_model(int classes);

/// The network called `name` (one of kModelNames); ValueError naming it otherwise.
ember::nn::Sequential<float> make_model(const std::string& name, int classes);

}  // namespace melanoma
