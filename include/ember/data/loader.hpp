// ember/data/loader.hpp - BatchSource, what a training loop reads batches from, and DataLoader: mini-batches cut from
// any Dataset, reshuffled every epoch, the next batch assembled on background threads while one trains.
#pragma once

#include <algorithm>
#include <exception>
#include <future>
#include <iterator>
#include <memory>
#include <vector>

#include "ember/core/random.hpp"
#include "ember/core/tensor.hpp"
#include "ember/data/dataset.hpp"

namespace ember::data {

/// A source of mini-batches, epoch by epoch: what train::fit and train::evaluate read. DataLoader is one; a
/// program with its own batching implements these three functions.
template <Real T>
class BatchSource {
public:
    virtual ~BatchSource() = default;
    /// Batches in one epoch (for progress bars).
    [[nodiscard]] virtual long batches_per_epoch() const = 0;
    /// Starts epoch `epoch` (1-based in fit; evaluation passes 0): reshuffles a training source.
    virtual void start_epoch(int epoch) = 0;
    /// Writes the next batch of the epoch to `out`; false, with `out` untouched, once the epoch is exhausted.
    virtual bool next(Batch<T>& out) = 0;
};

/// How DataLoader cuts, orders and assembles.
struct LoaderOptions {
    index_t batch_size = 32;
    bool shuffle = false;        ///< a new order every epoch (training); else the indices' order
    std::uint64_t seed = 0;      ///< order and per-sample randomness are functions of (seed, epoch): reproducible
    bool prefetch = true;        ///< assemble the next batch on a background thread
    int workers = 1;             ///< threads that assemble one batch (each a share of its samples)
    /// Data-parallel training over `shards` processes: batch_size is the global batch, and this process assembles
    /// only share `shard` of each global batch (rows [n * shard / shards, n * (shard + 1) / shards) of its n rows),
    /// so that the processes together see exactly the batches one process sees.
    int shard = 0;
    int shards = 1;
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

/// Batches over `indices` of a dataset (which must outlive the loader), batch_size at a time; the last batch of
/// an epoch holds the remainder (kept, as in Keras). With `shuffle`, epoch e visits the indices in an order drawn
/// from Generator(f(seed, e)) (a full Fisher-Yates shuffle); sample i of epoch e draws its randomness from
/// Generator(g(seed, e, i)), so a run is the same whatever the batch size, the number of workers, thread timing
/// or prefetching.
///     loader.start_epoch(e); Batch<float> b; while (loader.next(b)) { ... }
/// or `for (auto& b : loader.epoch(e)) { ... }`.
template <Dataset D>
class DataLoader final : public BatchSource<typename D::value_type> {
public:
    using T = typename D::value_type;

    /// Every sample of `dataset`, in order. Throws ValueError for batch_size <= 0 or workers <= 0.
    DataLoader(const D& dataset, LoaderOptions o = {}) : DataLoader(dataset, all_indices(dataset), o) {}
    /// The samples `indices` of `dataset`. Also throws IndexError for an index outside the dataset.
    DataLoader(const D& dataset, std::vector<std::size_t> indices, LoaderOptions o)
        : set_(&dataset), indices_(std::move(indices)), o_(o), order_(indices_) {
        EMBER_CHECK(o_.batch_size > 0, ValueError, "DataLoader: batch size must be > 0, got ", o_.batch_size);
        EMBER_CHECK(o_.workers > 0, ValueError, "DataLoader: workers must be > 0, got ", o_.workers);
        EMBER_CHECK(o_.shards > 0 && o_.shard >= 0 && o_.shard < o_.shards, ValueError, "DataLoader: shard ",
                    o_.shard, " of ", o_.shards, " (need 0 <= shard < shards)");
        for (std::size_t i : indices_)
            EMBER_CHECK(i < dataset.size(), IndexError, "DataLoader: index ", i, " outside a dataset of ",
                        dataset.size(), " samples");
    }
    DataLoader(const D&&, LoaderOptions = {}) = delete;  // a temporary dataset would dangle
    DataLoader(const D&&, std::vector<std::size_t>, LoaderOptions) = delete;
    DataLoader(const DataLoader&) = delete;
    DataLoader& operator=(const DataLoader&) = delete;
    ~DataLoader() override {
        if (pending_.valid()) pending_.wait();
    }

    /// ceil(size / batch_size).
    [[nodiscard]] long batches_per_epoch() const override {
        return static_cast<long>((static_cast<index_t>(indices_.size()) + o_.batch_size - 1) / o_.batch_size);
    }
    /// Samples per epoch.
    [[nodiscard]] std::size_t size() const { return indices_.size(); }
    /// The order of the current epoch (indices into the dataset).
    [[nodiscard]] const std::vector<std::size_t>& order() const { return order_; }
    [[nodiscard]] const D& dataset() const { return *set_; }

    /// Starts epoch `epoch`: a new order when shuffling (a function of seed and epoch only), then the first batch
    /// is prefetched.
    void start_epoch(int epoch) override {
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

    /// Rethrows what the dataset's get() threw.
    bool next(Batch<T>& out) override {
        const long b = next_batch_;
        if (b >= batches_per_epoch()) return false;
        ++next_batch_;
        out = pending_.valid() ? pending_.get() : assemble(b);
        if (o_.prefetch && next_batch_ < batches_per_epoch()) launch(next_batch_);
        return true;
    }

    class EpochRange;
    /// A single-pass range over the batches of epoch `e` (calls start_epoch(e) first).
    EpochRange epoch(int e);

private:
    static std::vector<std::size_t> all_indices(const D& dataset) {
        std::vector<std::size_t> all(dataset.size());
        for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
        return all;
    }

    void launch(long b) {
        pending_ = std::async(std::launch::async, [this, b] { return assemble(b); });
    }

    /// Batch `b` of the current order (this process's shard of it); with several workers each fills a contiguous
    /// share of it. What a worker throws is rethrown here (the first, by worker), after all of them finished.
    Batch<T> assemble(long b) const {
        const std::size_t global_begin = static_cast<std::size_t>(b) * static_cast<std::size_t>(o_.batch_size);
        const std::size_t global_n =
            std::min(order_.size(), global_begin + static_cast<std::size_t>(o_.batch_size)) - global_begin;
        const auto shards = static_cast<std::size_t>(o_.shards), shard = static_cast<std::size_t>(o_.shard);
        const std::size_t first = global_n * shard / shards;
        const std::size_t begin = global_begin + first, n = global_n * (shard + 1) / shards - first;
        Batch<T> batch;
        if (o_.shards > 1) {
            batch.global_offset = static_cast<index_t>(first);
            batch.global_rows = static_cast<index_t>(global_n);
        }
        batch.inputs = Tensor<T>::empty(Shape(set_->input_shape()).prepend(static_cast<index_t>(n)));
        batch.targets = Tensor<T>::empty(Shape(set_->target_shape()).prepend(static_cast<index_t>(n)));
        const std::size_t workers = std::min(n, static_cast<std::size_t>(o_.workers));
        auto share = [&](std::size_t w) { fill(batch, begin, n * w / workers, n * (w + 1) / workers); };
        if (workers <= 1) {
            fill(batch, begin, 0, n);
            return batch;
        }
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

    /// Slots [first, last) of `batch`: the samples at order_[begin + k].
    void fill(Batch<T>& batch, std::size_t begin, std::size_t first, std::size_t last) const {
        const auto in = static_cast<std::size_t>(batch.inputs.numel() / std::max<index_t>(batch.inputs.size(0), 1));
        const auto out = static_cast<std::size_t>(batch.targets.numel() / std::max<index_t>(batch.targets.size(0), 1));
        for (std::size_t k = first; k < last; ++k) {
            const std::size_t idx = order_[begin + k];
            Generator gen(detail::mix_seed(o_.seed, static_cast<std::uint64_t>(epoch_), idx));
            set_->get(idx, batch.inputs.data() + k * in, batch.targets.data() + k * out, gen);
        }
    }

    const D* set_;
    std::vector<std::size_t> indices_;
    LoaderOptions o_;
    std::vector<std::size_t> order_;
    int epoch_ = 0;
    long next_batch_ = 0;
    std::future<Batch<T>> pending_;
};

/// The batches of one epoch as an input range: `for (auto& [inputs, targets] : loader.epoch(e))`.
template <Dataset D>
class DataLoader<D>::EpochRange {
public:
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Batch<T>;
        using difference_type = std::ptrdiff_t;
        using pointer = Batch<T>*;
        using reference = Batch<T>&;

        iterator() = default;
        explicit iterator(DataLoader* loader) : loader_(loader) { advance(); }
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
            if (!batch_) batch_ = std::make_shared<Batch<T>>();
            if (!loader_->next(*batch_)) loader_ = nullptr;
        }
        DataLoader* loader_ = nullptr;
        std::shared_ptr<Batch<T>> batch_;
    };

    explicit EpochRange(DataLoader& loader) : loader_(&loader) {}
    iterator begin() { return iterator(loader_); }
    iterator end() { return iterator(); }

private:
    DataLoader* loader_;
};

template <Dataset D>
typename DataLoader<D>::EpochRange DataLoader<D>::epoch(int e) {
    start_epoch(e);
    return EpochRange(*this);
}

}  // namespace ember::data
