// ember/train/train.hpp - the train stage: the training loop - fit() for any Module and BatchSource
// with the loss and metrics the caller gives, callbacks, evaluation, metrics and statistics, history, progress
// and the training state a resumed run goes on from.
// May include: core, kernels, autograd, nn, optim, io, data, train.
#pragma once

#include "ember/train/callbacks.hpp"
#include "ember/train/checkpoint_callbacks.hpp"
#include "ember/train/evaluate.hpp"
#include "ember/train/fit.hpp"
#include "ember/train/history.hpp"
#include "ember/train/metric.hpp"
#include "ember/train/metrics.hpp"
#include "ember/train/progress.hpp"
#include "ember/train/schedules.hpp"
#include "ember/train/training_state.hpp"
