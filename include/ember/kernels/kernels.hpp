// ember/kernels/kernels.hpp - the kernels stage: pure maths on raw memory and shapes - SIMD, the GEMM micro-kernel, convolution
// (implicit GEMM and Winograd), pooling, softmax, elementwise maps. No autograd, no ownership, no I/O.
// May include: core, kernels.
#pragma once

#include "ember/kernels/batch_norm.hpp"
#include "ember/kernels/conv2d.hpp"
#include "ember/kernels/conv2d_backward.hpp"
#include "ember/kernels/depthwise_conv2d.hpp"
#include "ember/kernels/elementwise.hpp"
#include "ember/kernels/gemm.hpp"
#include "ember/kernels/gemm_bf16.hpp"
#include "ember/kernels/pool.hpp"
#include "ember/kernels/simd.hpp"
#include "ember/kernels/softmax.hpp"
#include "ember/kernels/winograd.hpp"
