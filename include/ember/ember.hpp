// ember/ember.hpp - the umbrella header: every stage of ember. (Each stage's headers also stand alone; include
// them directly to keep a translation unit's compile time down - data/ and train/ bring stb_image and
// nlohmann-json with them.)
#pragma once

#include "ember/autograd/ops.hpp"
#include "ember/core/error.hpp"
#include "ember/core/random.hpp"
#include "ember/core/shape.hpp"
#include "ember/core/tensor.hpp"
#include "ember/data/augment.hpp"
#include "ember/data/color.hpp"
#include "ember/data/dedup.hpp"
#include "ember/data/image.hpp"
#include "ember/data/image_folder.hpp"
#include "ember/data/loader.hpp"
#include "ember/data/safetensors.hpp"
#include "ember/data/split.hpp"
#include "ember/kernels/parallel.hpp"
#include "ember/nn/nn.hpp"
#include "ember/optim/adam.hpp"
#include "ember/optim/sgd.hpp"
#include "ember/train/checkpoint.hpp"
#include "ember/train/fit.hpp"
#include "ember/train/metrics.hpp"
#include "ember/train/training_state.hpp"
#include "ember/version.hpp"
