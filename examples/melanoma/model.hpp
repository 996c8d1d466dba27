// examples/melanoma/model.hpp - the reference CNN of the Keras original, ending in logits (the loss fuses
// log-softmax; predictions apply softmax).
#pragma once

#include <ember/nn/sequential.hpp>

namespace melanoma {

inline constexpr int kImageSize = 180;

/// Rescaling(1/255) -> Conv2D(32,5,same,relu) x2 -> MaxPool 2 -> Conv2D(64,5,same,relu) -> MaxPool 2 ->
/// Conv2D(64,5,same,relu) -> MaxPool 2 -> Dropout(0.25) -> Flatten -> Dense(classes): 460,585 parameters for 9.
/// Defined in model.cpp, the one translation unit that constructs the layers: the layers are virtual modules, so
/// their forward and backward code (the convolution kernels above all) is compiled there and nowhere else.
ember::nn::Sequential<float> reference_model(int classes);

}  // namespace melanoma
