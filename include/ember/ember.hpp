// ember/ember.hpp - the umbrella header: every stage of ember.
#pragma once

#include "ember/autograd/ops.hpp"
#include "ember/core/error.hpp"
#include "ember/core/random.hpp"
#include "ember/core/shape.hpp"
#include "ember/core/tensor.hpp"
#include "ember/kernels/parallel.hpp"
#include "ember/nn/nn.hpp"
#include "ember/optim/adam.hpp"
#include "ember/optim/sgd.hpp"
#include "ember/train/metrics.hpp"
#include "ember/version.hpp"
