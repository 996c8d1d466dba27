// ember/vision/image_dataset.hpp - an ImageSet as a data::Dataset: float images [H, W, 3] (values 0..255, as Keras'
// image_dataset_from_directory yields them) with their class index as target, each optionally augmented.
#pragma once

#include <cstdint>
#include <functional>

#include "ember/core/random.hpp"
#include "ember/data/dataset.hpp"
#include "ember/vision/image_folder.hpp"

namespace ember::vision {

/// Per-sample augmentation: modifies one HWC float image (values 0..255) in place, drawing only from `gen`.
/// Called on loader threads (several at once), so it must not touch shared state unguarded.
using AugmentFn = std::function<void(float* image, int height, int width, int channels, Generator& gen)>;

/// The images of an ImageSet (which must outlive it) as samples: input [H, W, 3] float, target the class index.
/// Satisfies data::Dataset, so data::DataLoader batches it:
///     const ImageDataset images(set, augment);  // outlives the loader
///     data::DataLoader loader(images, indices, {.batch_size = 32, .shuffle = true});
class ImageDataset {
public:
    using value_type = float;

    explicit ImageDataset(const ImageSet& set, AugmentFn augment = {}) : set_(&set), augment_(std::move(augment)) {}
    ImageDataset(const ImageSet&&, AugmentFn = {}) = delete;  // a temporary set would dangle

    [[nodiscard]] std::size_t size() const { return set_->size(); }
    [[nodiscard]] Shape input_shape() const { return {set_->height, set_->width, 3}; }
    [[nodiscard]] Shape target_shape() const { return {}; }
    [[nodiscard]] const ImageSet& images() const { return *set_; }

    void get(std::size_t i, float* input, float* target, Generator& gen) const {
        const std::uint8_t* src = set_->image(i);
        for (std::size_t k = 0, n = set_->image_bytes(); k < n; ++k) input[k] = src[k];
        *target = static_cast<float>(set_->labels[i]);
        if (augment_) augment_(input, set_->height, set_->width, 3, gen);
    }

private:
    const ImageSet* set_;
    AugmentFn augment_;
};

static_assert(data::Dataset<ImageDataset>);

}  // namespace ember::vision
