// ember/ember.hpp - the umbrella header: every stage of ember, each through its own <stage>/<stage>.hpp. (Each
// header also stands alone; include only what a translation unit needs to keep its compile time down - vision/
// brings stb_image, io/ and train/ bring nlohmann-json.)
#pragma once

#include "ember/autograd/autograd.hpp"
#include "ember/core/core.hpp"
#include "ember/data/data.hpp"
#include "ember/io/io.hpp"
#include "ember/kernels/kernels.hpp"
#include "ember/nn/nn.hpp"
#include "ember/optim/optim.hpp"
#include "ember/train/train.hpp"
#include "ember/version.hpp"
#include "ember/vision/vision.hpp"
