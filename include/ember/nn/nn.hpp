// ember/nn/nn.hpp - the whole nn stage in one include.
#pragma once

#include "ember/nn/conv2d.hpp"
#include "ember/nn/dense.hpp"
#include "ember/nn/init.hpp"
#include "ember/nn/layers.hpp"
#include "ember/nn/loss.hpp"
#include "ember/nn/module.hpp"
#include "ember/nn/sequential.hpp"
