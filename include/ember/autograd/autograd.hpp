// ember/autograd/autograd.hpp - the autograd stage: the define-by-run graph engine, grad mode, and the one table
// of differentiable ops (op_table.hpp), each op's forward and backward side by side in its own file.
// May include: core, kernels, autograd.
#pragma once

#include "ember/autograd/ops.hpp"
