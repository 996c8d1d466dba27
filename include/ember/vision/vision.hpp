// ember/vision/vision.hpp - the vision stage: images - decoding (stb_image) and resizing, folders of class folders,
// ImageDataset, augmentation, colour constancy and duplicate detection. It knows no particular dataset.
// May include: core, data, vision.
#pragma once

#include "ember/vision/augment.hpp"
#include "ember/vision/color.hpp"
#include "ember/vision/dedup.hpp"
#include "ember/vision/image.hpp"
#include "ember/vision/image_dataset.hpp"
#include "ember/vision/image_folder.hpp"
