// ember/data/loader.hpp - BatchLoader: mini-batches [B, H, W, 3] (float, 0..255) cut from an ImageSet, reshuffled
// every epoch, optionally augmented per sample, the next batch assembled on worker threads while one trains.
#pragma once

#include <algorithm>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <vector>

#include "ember/core/random.hpp"
#include "ember/core/tensor.hpp"
#include "ember/data/image_folder.hpp"

namespace ember::data {

/// One mini-batch: images [B, H, W, 3] (float, values 0..255, as Keras' image_dataset_from_directory yields them)
/// and their labels (class indices).
template <Real T>
struct Batch {
    Tensor<T> images;
    std::vector<std::int32_t> labels;
};

/// Per-sample augmentation: modifies one HWC float image (values 0..255) in place, drawing only from `gen`.
/// Called on the loader's worker threads (several at once with LoaderOptions::workers > 1), so it must not touch
/// shared state unguarded.
using AugmentFn = std::function<void(float* image, int height, int width, int channels, Generator& gen)>;

/// How BatchLoader cuts, orders and augments.
struct LoaderOptions {
    index_t batch_size = 32;
    bool shuffle = false;        ///< a new order every epoch (training); else the indices' order
    std::uint64_t seed = 0;      ///< order and augmentation are functions of (seed, epoch): reproducible
    AugmentFn augment;           ///< empty: none
    bool prefetch = true;        ///< build the next batch on a worker thread
    int workers = 1;             ///< threads that copy and augment the images of one batch (each a share of it)
};

namespace detail {
/// A well-mixed 64-bit seed from a few integers (splitmix64's finaliser over a running combination).
inline std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
    std::uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (std::uint64_t v : {a, b, c}) {
        h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
        h ^= h >> 31;
    }
    return h;
}
}  // namespace detail

/// Batches over `indices` (into an ImageSet that must outlive the loader), batch_size at a time; the last batch
/// of an epoch holds the remainder (kept, as in Keras). With `shuffle`, epoch e visits the indices in an order
/// drawn from Generator(f(seed, e)); the augmentation of image i in epoch e draws from Generator(g(seed, e, i)),
/// so a run is the same whatever the batch size, the number of workers, thread timing or prefetching. (Keras reshuffles with
/// dataset.shuffle(buffer_size=8 * batch_size), a local shuffle of its once-shuffled list; this one is a full
/// Fisher-Yates shuffle.) Satisfies train::BatchSource:
///     loader.start_epoch(e); Batch<float> b; while (loader.next(b)) { ... }
/// or, equivalently, `for (auto& b : loader.epoch(e)) { ... }`.
class BatchLoader {
public:
    /// Throws ValueError for batch_size <= 0 or workers <= 0, IndexError for an index outside the set.
    BatchLoader(const ImageSet& set, std::vector<std::size_t> indices, LoaderOptions o)
        : set_(&set), indices_(std::move(indices)), o_(std::move(o)), order_(indices_) {
        EMBER_CHECK(o_.batch_size > 0, ValueError, "BatchLoader: batch size must be > 0, got ", o_.batch_size);
        EMBER_CHECK(o_.workers > 0, ValueError, "BatchLoader: workers must be > 0, got ", o_.workers);
        for (std::size_t i : indices_)
            EMBER_CHECK(i < set.size(), IndexError, "BatchLoader: index ", i, " outside a set of ", set.size(), " images");
    }
    BatchLoader(const BatchLoader&) = delete;
    BatchLoader& operator=(const BatchLoader&) = delete;
    ~BatchLoader() {
        if (pending_.valid()) pending_.wait();
    }

    /// ceil(size / batch_size).
    [[nodiscard]] long batches_per_epoch() const {
        return static_cast<long>((static_cast<index_t>(indices_.size()) + o_.batch_size - 1) / o_.batch_size);
    }
    /// Number of images per epoch.
    [[nodiscard]] std::size_t size() const { return indices_.size(); }
    /// The order of the current epoch (indices into the set).
    [[nodiscard]] const std::vector<std::size_t>& order() const { return order_; }

    /// Starts epoch `epoch`: a new order when shuffling (a function of seed and epoch only), then the first
    /// batch is prefetched.
    void start_epoch(int epoch) {
        if (pending_.valid()) pending_.wait();
        pending_ = {};
        epoch_ = epoch;
        order_ = indices_;
        if (o_.shuffle) {
            Generator gen(detail::mix_seed(o_.seed, static_cast<std::uint64_t>(epoch), 0x5348554646ULL));
            for (std::size_t i = order_.size(); i-- > 1;) std::swap(order_[i], order_[gen.below(i + 1)]);
        }
        next_batch_ = 0;
        if (o_.prefetch && batches_per_epoch() > 0) launch(0);
    }

    /// Writes the next batch of this epoch to `out`; false (and `out` untouched) once the epoch is exhausted.
    /// Rethrows what the augmentation hook threw.
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

    /// A single-pass range over the batches of epoch `epoch` (calls start_epoch(epoch) first).
    class EpochRange;
    EpochRange epoch(int e);

private:
    void launch(long b) {
        pending_ = std::async(std::launch::async, [this, b] { return assemble(b); });
    }

    /// Batch `b` of the current order; with several workers each fills a contiguous share of it. What a worker
    /// throws is rethrown here (the first, by worker), after all of them finished.
    Batch<float> assemble(long b) const {
        const std::size_t begin = static_cast<std::size_t>(b) * static_cast<std::size_t>(o_.batch_size);
        const std::size_t end = std::min(order_.size(), begin + static_cast<std::size_t>(o_.batch_size));
        const std::size_t n = end - begin;
        Batch<float> batch;
        batch.images = Tensor<float>::empty({static_cast<index_t>(n), set_->height, set_->width, 3});  // [B, H, W, 3]
        batch.labels.resize(n);
        const std::size_t workers = std::min(n, static_cast<std::size_t>(o_.workers));
        if (workers <= 1) {
            fill(batch, begin, 0, n);
            return batch;
        }
        auto share = [&](std::size_t w) { fill(batch, begin, n * w / workers, n * (w + 1) / workers); };
        std::vector<std::future<void>> helpers;
        helpers.reserve(workers - 1);
        for (std::size_t w = 1; w < workers; ++w) helpers.push_back(std::async(std::launch::async, share, w));
        std::exception_ptr error;
        try {
            share(0);
        } catch (...) {
            error = std::current_exception();
        }
        for (auto& h : helpers) {
            try {
                h.get();
            } catch (...) {
                if (!error) error = std::current_exception();
            }
        }
        if (error) std::rethrow_exception(error);
        return batch;
    }

    /// Slots [first, last) of `batch`: the images at order_[begin + k], as floats, augmented.
    void fill(Batch<float>& batch, std::size_t begin, std::size_t first, std::size_t last) const {
        const std::size_t bytes = set_->image_bytes();
        for (std::size_t k = first; k < last; ++k) {
            const std::size_t idx = order_[begin + k];
            const std::uint8_t* src = set_->image(idx);
            float* dst = batch.images.data() + k * bytes;
            for (std::size_t i = 0; i < bytes; ++i) dst[i] = src[i];
            batch.labels[k] = set_->labels[idx];
            if (o_.augment) {
                Generator gen(detail::mix_seed(o_.seed, static_cast<std::uint64_t>(epoch_), idx));
                o_.augment(dst, set_->height, set_->width, 3, gen);
            }
        }
    }

    const ImageSet* set_;
    std::vector<std::size_t> indices_;
    LoaderOptions o_;
    std::vector<std::size_t> order_;
    int epoch_ = 0;
    long next_batch_ = 0;
    std::future<Batch<float>> pending_;
};

/// The batches of one epoch as an input range: `for (auto& [images, labels] : loader.epoch(e))`.
class BatchLoader::EpochRange {
public:
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Batch<float>;
        using difference_type = std::ptrdiff_t;
        using pointer = Batch<float>*;
        using reference = Batch<float>&;

        iterator() = default;
        explicit iterator(BatchLoader* loader) : loader_(loader) { advance(); }
        reference operator*() const { return *batch_; }
        pointer operator->() const { return batch_.get(); }
        iterator& operator++() {
            advance();
            return *this;
        }
        void operator++(int) { advance(); }
        friend bool operator==(const iterator& a, const iterator& b) { return a.loader_ == b.loader_; }

    private:
        void advance() {
            if (!batch_) batch_ = std::make_shared<Batch<float>>();
            if (!loader_->next(*batch_)) loader_ = nullptr;
        }
        BatchLoader* loader_ = nullptr;
        std::shared_ptr<Batch<float>> batch_;
    };

    explicit EpochRange(BatchLoader& loader) : loader_(&loader) {}
    iterator begin() { return iterator(loader_); }
    iterator end() { return iterator(); }

private:
    BatchLoader* loader_;
};

inline BatchLoader::EpochRange BatchLoader::epoch(int e) {
    start_epoch(e);
    return EpochRange(*this);
}

}  // namespace ember::data
