// ember/nn/nn.hpp - the nn stage: Module (the layer contract), the layers with Keras' names and defaults,
// Sequential and the functional graph (Input, call, Model), batch-norm folding, initializers and losses.
// May include: core, kernels, autograd, nn.
#pragma once

#include "ember/nn/activations.hpp"
#include "ember/nn/batch_norm.hpp"
#include "ember/nn/conv2d.hpp"
#include "ember/nn/dense.hpp"
#include "ember/nn/fold.hpp"
#include "ember/nn/depthwise_conv2d.hpp"
#include "ember/nn/functional.hpp"
#include "ember/nn/grad_cam.hpp"
#include "ember/nn/init.hpp"
#include "ember/nn/layers.hpp"
#include "ember/nn/loss.hpp"
#include "ember/nn/merge.hpp"
#include "ember/nn/model.hpp"
#include "ember/nn/module.hpp"
#include "ember/nn/pooling.hpp"
#include "ember/nn/sequential.hpp"
