// ember/core/batch_shard.hpp - where this process's rows sit in a data-parallel global batch, for the layers that draw
// randomness per row (Dropout): they draw for the whole global batch and keep their rows, so that N processes with
// B/N rows each draw exactly what one process with B rows draws.
#pragma once

#include "ember/core/shape.hpp"

namespace ember {

/// The rows [offset, offset + local rows) of a global batch of `global_rows` rows; global_rows == 0: the local batch
/// is the whole batch (one process, or no data-parallel training).
struct BatchShard {
    index_t offset = 0;
    index_t global_rows = 0;
};

namespace detail {
inline BatchShard& batch_shard_slot() {
    thread_local BatchShard shard;
    return shard;
}
}  // namespace detail

/// The shard of the forward pass running on this thread (train::fit sets it around each data-parallel step).
inline BatchShard current_batch_shard() { return detail::batch_shard_slot(); }

/// Sets the current thread's batch shard for its lifetime, then restores the previous one.
class BatchShardScope {
public:
    explicit BatchShardScope(BatchShard shard) : saved_(detail::batch_shard_slot()) { detail::batch_shard_slot() = shard; }
    ~BatchShardScope() { detail::batch_shard_slot() = saved_; }
    BatchShardScope(const BatchShardScope&) = delete;
    BatchShardScope& operator=(const BatchShardScope&) = delete;

private:
    BatchShard saved_;
};

}  // namespace ember
