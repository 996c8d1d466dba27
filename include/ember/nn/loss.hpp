// ember/nn/loss.hpp - losses under nn:: (the differentiable maths lives in ember/autograd/softmax.hpp).
#pragma once

#include "ember/autograd/softmax.hpp"

namespace ember::nn {
using ember::sparse_categorical_crossentropy;
}  // namespace ember::nn
