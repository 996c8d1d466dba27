// The kernels the test binaries share (Note [extern kernels] in ember/kernels/instantiate.hpp): every test file is
// compiled with EMBER_EXTERN_KERNELS, and this one defines what they declare.
#include "ember/kernels/instantiate.hpp"
