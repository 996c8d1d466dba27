// ember/core/core.hpp - the core stage: tensors and their storage, shapes, errors, seeded random numbers and the thread pool
// (parallel_for, the one place OpenMP is used). Everything else builds on it; it builds on the standard library.
// May include: core.
#pragma once

#include "ember/core/allocator.hpp"
#include "ember/core/batch_shard.hpp"
#include "ember/core/error.hpp"
#include "ember/core/parallel.hpp"
#include "ember/core/random.hpp"
#include "ember/core/shape.hpp"
#include "ember/core/storage.hpp"
#include "ember/core/tensor.hpp"
