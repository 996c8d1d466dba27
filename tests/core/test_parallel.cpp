#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

#include <ember/core/parallel.hpp>

using namespace ember;

TEST_CASE("parallel_for covers the range exactly once in disjoint chunks", "[core][parallel]") {
    for (index_t n : {0, 1, 5, 1000}) {
        std::vector<int> hits(static_cast<std::size_t>(n), 0);
        ember::parallel_for(0, n, 1, [&](index_t lo, index_t hi) {
            for (index_t i = lo; i < hi; ++i) ++hits[static_cast<std::size_t>(i)];
        });
        for (int h : hits) CHECK(h == 1);
    }
}

TEST_CASE("parallel_for keeps ranges below the grain on one chunk", "[core][parallel]") {
    std::atomic<int> calls{0};
    ember::parallel_for(0, 10, 100, [&](index_t lo, index_t hi) {
        ++calls;
        CHECK(lo == 0);
        CHECK(hi == 10);
    });
    CHECK(calls == 1);
}

TEST_CASE("an exception inside a parallel region is rethrown on the caller", "[core][parallel][errors]") {
    ember::set_num_threads(2);
    CHECK_THROWS_WITH(ember::parallel_for(0, 100, 1,
                                            [](index_t lo, index_t) {
                                                if (lo >= 0) throw std::runtime_error("worker failed");
                                            }),
                      "worker failed");
    CHECK_THROWS_WITH(ember::parallel_region([](int, int) { throw std::runtime_error("region failed"); }),
                      "region failed");
}
