// ember/optim/optim.hpp - the optim stage: optimizers (Adam, AdamW, SGD) over a list of parameter tensors, with
// Keras' clipping, weight decay and moving average of the weights.
// May include: core, kernels, autograd, nn, optim.
#pragma once

#include "ember/optim/adam.hpp"
#include "ember/optim/optimizer.hpp"
#include "ember/optim/sgd.hpp"
