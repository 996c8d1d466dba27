// ember/kernels/instantiate.hpp - the one translation unit's worth of kernels that EMBER_EXTERN_KERNELS promises.
//
// Note [extern kernels]
// ember is header-only: every translation unit that trains or runs a convolution instantiates the convolution and
// GEMM kernels it uses, in each scalar type it uses, and compiling them is most of what such a file costs (the
// register-blocked micro-kernels, Winograd transforms and Eigen's product are all generated again in every file:
// docs/performance.md, "Compile times"). A project with several such files can compile them once instead:
//   - define EMBER_EXTERN_KERNELS (with any value, or none: it is tested with #ifdef) for every translation unit
//     (in CMake: a compile definition on the targets), which declares conv2d_forward, conv2d_backward and gemm for
//     float and double as `extern template`, so no file instantiates them itself;
//   - include this header in exactly one .cpp of the program, which defines them for float and double.
// Compile that .cpp with the same flags as the rest (-march, EMBER_FORCE_SCALAR): the kernels it holds are the ones
// every caller runs. Without EMBER_EXTERN_KERNELS nothing changes and this header is not needed. ember's tests
// build this way (tests/CMakeLists.txt); of the packaging tests, find_package follows this recipe against an
// installed tree, add_subdirectory and fetchcontent the default, header-only use.
#pragma once

#include "ember/kernels/conv2d.hpp"
#include "ember/kernels/gemm.hpp"

namespace ember::kernels {

EMBER_GEMM_TEMPLATES(, float)
EMBER_GEMM_TEMPLATES(, double)
EMBER_CONV2D_TEMPLATES(, float)
EMBER_CONV2D_TEMPLATES(, double)

}  // namespace ember::kernels
