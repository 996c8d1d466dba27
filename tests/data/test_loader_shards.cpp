// Tests of DataLoader's shards (LoaderOptions::shard, shards): the processes of a data-parallel run each assemble
// their share of every global batch, and together see exactly the batches, samples and per-sample randomness of one
// process; a share may be empty; a shard outside [0, shards) is refused.
#include <catch2/catch.hpp>

#include <vector>

#include <ember/data/dataset.hpp>
#include <ember/data/loader.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// n samples of 4 values: the index, then three random draws from the sample's generator.
data::TensorDataset<float> drawing_set(index_t n) {
    auto x = Tensor<float>::empty({n, 4});
    for (index_t i = 0; i < n; ++i) x.data()[i * 4] = static_cast<float>(i);
    auto draw = [](float* v, const Shape&, Generator& gen) {
        for (int k = 1; k < 4; ++k) v[k] = static_cast<float>(gen.uniform());
    };
    return data::TensorDataset<float>(x, Tensor<float>::zeros({n}), draw);
}
}  // namespace

TEST_CASE("shards of every global batch, concatenated, are one process's batches", "[data][loader][shards]") {
    const auto set = drawing_set(29);  // batches of 8: 8, 8, 8, 5
    for (int shards : {2, 3, 8}) {
        data::DataLoader whole(set, {.batch_size = 8, .shuffle = true, .seed = 3});
        std::vector<std::unique_ptr<data::DataLoader<data::TensorDataset<float>>>> parts;
        for (int s = 0; s < shards; ++s)
            parts.push_back(std::make_unique<data::DataLoader<data::TensorDataset<float>>>(
                set, data::LoaderOptions{.batch_size = 8, .shuffle = true, .seed = 3, .shard = s, .shards = shards}));
        for (int epoch : {1, 2}) {
            whole.start_epoch(epoch);
            for (auto& p : parts) p->start_epoch(epoch);
            CHECK(parts.front()->batches_per_epoch() == whole.batches_per_epoch());
            data::Batch<float> all;
            while (whole.next(all)) {
                std::vector<float> joined;
                index_t offset = 0;
                for (auto& p : parts) {
                    data::Batch<float> b;
                    REQUIRE(p->next(b));
                    CHECK(b.global_offset == offset);
                    CHECK(b.global_rows == all.size());
                    offset += b.size();
                    for (float v : b.inputs.span()) joined.push_back(v);
                }
                CHECK(offset == all.size());
                CHECK(joined == all.inputs.to_vector());
            }
        }
    }
}

TEST_CASE("a shard may be empty; shard numbers are checked", "[data][loader][shards][errors]") {
    const auto set = drawing_set(3);
    data::DataLoader loader(set, {.batch_size = 8, .shard = 0, .shards = 4});  // 3 rows over 4 shards: 0, 0, 1, 2
    loader.start_epoch(0);
    data::Batch<float> b;
    REQUIRE(loader.next(b));
    CHECK(b.size() == 0);
    CHECK(b.global_rows == 3);
    CHECK(test::error_message<ValueError>([&] { data::DataLoader(set, {.shard = 2, .shards = 2}); }) ==
          "DataLoader: shard 2 of 2 (need 0 <= shard < shards)");
    CHECK(test::error_message<ValueError>([&] { data::DataLoader(set, {.shard = 0, .shards = 0}); }) ==
          "DataLoader: shard 0 of 0 (need 0 <= shard < shards)");
}
