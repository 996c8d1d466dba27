#include <catch2/catch.hpp>

#include <ember/core/tensor.hpp>

using ember::BlockCache;
using ember::Tensor;

TEST_CASE("large tensor buffers are reused instead of returned to the system", "[core][allocator]") {
    auto& cache = BlockCache::instance();
    const auto saved = cache.limit();
    cache.set_limit(std::size_t{64} << 20);
    const float* first = nullptr;
    {
        auto t = Tensor<float>::zeros({1024, 1024});  // 4 MiB: cached when freed
        first = t.data();
    }
    CHECK(cache.cached_bytes() >= (std::size_t{4} << 20));
    auto again = Tensor<float>::zeros({1024, 1024});
    CHECK(again.data() == first);
    for (float v : again.span()) REQUIRE(v == 0.0f);  // zeros() clears a reused block
    cache.set_limit(0);
    CHECK(cache.cached_bytes() == 0);
    cache.set_limit(saved);
}
