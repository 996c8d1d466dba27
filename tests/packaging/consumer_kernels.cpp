// tests/packaging/consumer_kernels.cpp - with CONSUMER_EXTERN_KERNELS, the one file of the consumer that defines
// the kernels consumer.cpp declares extern (README, "Using ember from CMake").
#include <ember/kernels/instantiate.hpp>
