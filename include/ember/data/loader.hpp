// ember/data/loader.hpp - BatchLoader: mini-batches cut from an ImageSet, reshuffled every epoch, optionally
// augmented, assembled on a worker thread while the previous batch trains.
#pragma once

#include <functional>
#include <future>
#include <optional>
#include <vector>

#include "ember/core/random.hpp"
#include "ember/data/image_folder.hpp"

namespace ember::data {

/// One mini-batch: images [B, H, W, 3] (float, 0..255) and their labels.
template <Real T>
struct Batch {
    Tensor<T> images;
    std::vector<std::int32_t> labels;
};

/// Per-sample augmentation: modifies one HWC float image in place, drawing from the given generator.
using AugmentFn = std::function<void(float* image, int height, int width, int channels, Generator& gen)>;

struct LoaderOptions {
    index_t batch_size = 32;
    bool shuffle = false;        // reshuffle the order every epoch (training)
    std::uint64_t seed = 0;      // order and augmentation are a function of (seed, epoch): reproducible
    AugmentFn augment;           // empty: none
    bool prefetch = true;        // build the next batch on a worker thread
};

/// Batches over `indices` of `set` (the last one may be smaller). Satisfies train::BatchSource.
class BatchLoader {
public:
    BatchLoader(const ImageSet& set, std::vector<std::size_t> indices, LoaderOptions o)
        : set_(&set), indices_(std::move(indices)), o_(std::move(o)), order_(indices_) {
        EMBER_CHECK(o_.batch_size > 0, ValueError, "BatchLoader: batch size must be > 0, got ", o_.batch_size);
        for (std::size_t i : indices_)
            EMBER_CHECK(i < set.size(), IndexError, "BatchLoader: index ", i, " outside a set of ", set.size(), " images");
    }
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;
    ~BatchLoader() {
        if (pending_.valid()) pending_.wait();
    }

    [[nodiscard]] long batches_per_epoch() const {
        return static_cast<long>((static_cast<index_t>(indices_.size()) + o_.batch_size - 1) / o_.batch_size);
    }
    [[nodiscard]] std::size_t size() const { return indices_.size(); }

    /// Starts epoch `epoch`: a new order when shuffling (a function of seed and epoch only).
    void start_epoch(int epoch) {
        if (pending_.valid()) pending_.wait();
        pending_ = {};
        epoch_ = epoch;
        order_ = indices_;
        if (o_.shuffle) {
            Generator gen(o_.seed * 1000003ULL + static_cast<std::uint64_t>(epoch));
            for (std::size_t i = order_.size(); i-- > 1;) std::swap(order_[i], order_[gen.below(i + 1)]);
        }
        next_batch_ = 0;
        if (o_.prefetch) launch(0);
    }

    /// The next batch of this epoch; false once the epoch is exhausted.
    bool next(Batch<float>& out) {
        const long b = next_batch_;
        if (b >= batches_per_epoch()) return false;
        ++next_batch_;
        if (pending_.valid()) {
            out = pending_.get();
        } else {
            out = assemble(b);
        }
        if (o_.prefetch && next_batch_ < batches_per_epoch()) launch(next_batch_);
        return true;
    }

private:
    void launch(long b) {
        pending_ = std::async(std::launch::async, [this, b] { return assemble(b); });
    }

    Batch<float> assemble(long b) const {
        const std::size_t begin = static_cast<std::size_t>(b * o_.batch_size);
        const std::size_t end = std::min(order_.size(), begin + static_cast<std::size_t>(o_.batch_size));
        const auto n = static_cast<index_t>(end - begin);
        Batch<float> batch;
        batch.images = Tensor<float>::empty({n, set_->height, set_->width, 3});
        batch.labels.resize(static_cast<std::size_t>(n));
        const std::size_t bytes = set_->image_bytes();
        for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
            const std::size_t idx = order_[begin + k];
            const std::uint8_t* src = set_->image(idx);
            float* dst = batch.images.data() + k * bytes;
            for (std::size_t i = 0; i < bytes; ++i) dst[i] = src[i];
            batch.labels[k] = set_->labels[idx];
            if (o_.augment) {
                // One stream per (seed, epoch, position): the same run whatever the thread timing.
                Generator gen(o_.seed ^ (0x9E3779B97F4A7C15ULL * (static_cast<std::uint64_t>(epoch_) + 1)) ^
                              (static_cast<std::uint64_t>(begin + k) << 20));
                o_.augment(dst, set_->height, set_->width, 3, gen);
            }
        }
        return batch;
    }

    const ImageSet* set_;
    std::vector<std::size_t> indices_;
    LoaderOptions o_;
    std::vector<std::size_t> order_;
    int epoch_ = 0;
    long next_batch_ = 0;
    std::future<Batch<float>> pending_;
};

}  // namespace ember::data
