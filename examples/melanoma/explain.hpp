// examples/melanoma/explain.hpp - Grad-CAM heat maps for `melanoma predict --explain` (explain.cpp).
#pragma once

#include <string>
#include <vector>

#include <ember/nn/sequential.hpp>

#include "basics.hpp"

namespace melanoma {

/// Writes in `dir` the Grad-CAM heat map of class `predicted`, and of melanoma (`mel`, when it is another class and
/// >= 0), at the model's last spatial layer, laid over `image` ([1, H, W, 3], values 0..255) as
/// <stem>-gradcam-<class>.png; returns [{class, file}] of what it wrote. IoError when a file cannot be written.
json explain_image(ember::nn::Sequential<float>& model, const ember::Tensor<float>& image, const std::string& stem,
                   const std::vector<std::string>& names, int predicted, int mel, const fs::path& dir);

}  // namespace melanoma
