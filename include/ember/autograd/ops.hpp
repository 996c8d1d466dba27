// ember/autograd/ops.hpp - every differentiable op of ember in one include.
#pragma once

#include "ember/autograd/activations.hpp"
#include "ember/autograd/batch_norm.hpp"
#include "ember/autograd/conv2d.hpp"
#include "ember/autograd/depthwise_conv2d.hpp"
#include "ember/autograd/dropout.hpp"
#include "ember/autograd/elementwise.hpp"
#include "ember/autograd/engine.hpp"
#include "ember/autograd/grad_mode.hpp"
#include "ember/autograd/losses.hpp"
#include "ember/autograd/matmul.hpp"
#include "ember/autograd/merge.hpp"
#include "ember/autograd/op_table.hpp"
#include "ember/autograd/pool.hpp"
#include "ember/autograd/reduce.hpp"
#include "ember/autograd/shape_ops.hpp"
#include "ember/autograd/softmax.hpp"
