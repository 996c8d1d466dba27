// ember/data/data.hpp - the data stage: where samples come from - the Dataset concept, TensorDataset (samples of
// in-memory tensors), DataLoader (batches of any dataset, shuffled and prefetched) and train/validation splits.
// May include: core, data.
#pragma once

#include "ember/data/dataset.hpp"
#include "ember/data/loader.hpp"
#include "ember/data/split.hpp"
