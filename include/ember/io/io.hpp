// ember/io/io.hpp - the io stage: files of tensors - safetensors read and write (bounded,
// defensive), model checkpoints (atomic, checked against the model before any weight changes).
// May include: core, kernels, autograd, nn, optim, io.
#pragma once

#include "ember/io/checkpoint.hpp"
#include "ember/io/safetensors.hpp"
