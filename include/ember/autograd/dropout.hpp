// ember/autograd/dropout.hpp - differentiable inverted dropout with an explicit generator.
#pragma once

#include "ember/autograd/engine.hpp"
#include "ember/core/batch_shard.hpp"

namespace ember {

/// Inverted dropout (Keras' Dropout): when `training`, each element is zeroed with probability `rate` and the
/// kept ones are scaled by 1 / (1 - rate), so the expected value is unchanged; otherwise x is returned as is.
/// The mask is drawn from `gen`. In a data-parallel step (current_batch_shard() set, x holding rows [offset, offset
/// + rows) of the global batch) the draws are those of the whole global batch, and x's rows keep theirs: every
/// process advances `gen` alike and N processes mask what one process would. Throws ValueError unless 0 <= rate < 1.
template <Real T>
Tensor<T> dropout(const Tensor<T>& x, double rate, bool training, Generator& gen) {
    EMBER_CHECK(rate >= 0.0 && rate < 1.0, ValueError, "dropout: rate must be in [0, 1), got ", rate);
    if (!training || rate == 0.0) return x;
    const T scale = static_cast<T>(1.0 / (1.0 - rate));
    Tensor<T> mask = Tensor<T>::empty(x.shape());
    const BatchShard shard = current_batch_shard();
    const index_t rows = x.rank() > 0 ? x.size(0) : 1;
    const bool sharded = shard.global_rows > 0 && x.rank() > 0 && shard.offset + rows <= shard.global_rows;
    const index_t per_row = rows > 0 ? x.numel() / rows : 0;
    const index_t skip_before = sharded ? shard.offset * per_row : 0;
    const index_t skip_after = sharded ? (shard.global_rows - shard.offset - rows) * per_row : 0;
    gen.discard(static_cast<std::uint64_t>(skip_before));
    for (T& m : mask.span()) m = gen.uniform() >= rate ? scale : T(0);
    gen.discard(static_cast<std::uint64_t>(skip_after));
    Tensor<T> y = Tensor<T>::empty(x.shape());
    const T* px = x.data();
    const T* pm = mask.data();
    T* py = y.data();
    for (index_t i = 0, n = x.numel(); i < n; ++i) py[i] = px[i] * pm[i];
    return autograd::record(std::move(y), Op::dropout, {x}, [mask](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        const T* pg = g.data();
        const T* pm = mask.data();
        T* pd = gi[0].data();
        for (index_t i = 0, n = g.numel(); i < n; ++i) pd[i] += pg[i] * pm[i];
    });
}

}  // namespace ember
