// Tests of ember/distributed/: MpiGroup's collectives (sums identical on every process, broadcast, gathering rows
// of different lengths) and require_same_start, run under mpirun with 2 processes (or alone, as one of one).
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include <ember/distributed/distributed.hpp>

#include "world.hpp"

using namespace ember;
using test::world;

TEST_CASE("a program started alone is one process of one", "[distributed]") {
    if (!distributed::mpi_running()) {
        CHECK(distributed::world_rank() == 0);
        CHECK(distributed::world_size() == 1);
        CHECK(distributed::local_size() == 1);
        CHECK_THROWS_AS(distributed::MpiGroup(), StateError);
    } else {
        CHECK(distributed::world_size() >= 1);
        CHECK(distributed::local_size() >= 1);
    }
}

TEST_CASE("the ring sum adds every process's values, bit-identically on every process", "[distributed]") {
    auto* g = world();
    if (!g) return;
    for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
        std::vector<double> v(n);
        for (std::size_t i = 0; i < n; ++i) v[i] = 0.1 * static_cast<double>(i + 1) * (g->rank() + 1) + 1e-9 * g->rank();
        g->sum(std::span<double>(v));
        double expected_0 = 0;
        for (int r = 0; r < g->size(); ++r) expected_0 += 0.1 * (r + 1) + 1e-9 * r;
        CHECK(v[0] == Approx(expected_0).epsilon(1e-14));
        const auto all = g->gather_all({reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(double)});
        for (const auto& other : all) CHECK(std::memcmp(other.data(), v.data(), v.size() * sizeof(double)) == 0);
    }
    std::vector<float> f{1.5f, -2.0f, 0.25f};
    g->sum(std::span<float>(f));
    CHECK(f[0] == 1.5f * static_cast<float>(g->size()));
}

TEST_CASE("broadcast copies process 0's bytes; gather_all keeps each process's length", "[distributed]") {
    auto* g = world();
    if (!g) return;
    int value = g->rank() == 0 ? 42 : -1;
    g->broadcast({reinterpret_cast<std::byte*>(&value), sizeof value}, 0);
    CHECK(value == 42);
    std::vector<std::byte> mine(static_cast<std::size_t>(g->rank()) + 1, std::byte{static_cast<unsigned char>(g->rank())});
    const auto all = g->gather_all(mine);
    REQUIRE(static_cast<int>(all.size()) == g->size());
    for (int r = 0; r < g->size(); ++r) {
        CHECK(all[static_cast<std::size_t>(r)].size() == static_cast<std::size_t>(r) + 1);
        CHECK(all[static_cast<std::size_t>(r)].front() == std::byte{static_cast<unsigned char>(r)});
    }
    // rows: process r holds r + 1 rows of 2 values each; an empty shard takes part too
    const index_t rows = g->rank() == 1 ? 0 : g->rank() + 1;
    auto local = Tensor<float>::full({rows, 2}, static_cast<float>(g->rank()));
    const auto global = train::gather_rows(*g, local);
    index_t expected = 0;
    for (int r = 0; r < g->size(); ++r) expected += r == 1 ? 0 : r + 1;
    CHECK(global.shape() == Shape{expected, 2});
    CHECK(global.data()[0] == 0.0f);
}

TEST_CASE("processes started with different options are refused on every process, naming the line", "[distributed]") {
    auto* g = world();
    if (!g) return;
    CHECK_NOTHROW(distributed::require_same_start(*g, {"batch=32", "data=/a"}, "options"));
    if (g->size() < 2) return;
    const std::string folder = g->rank() == 1 ? "data=/b" : "data=/a";
    try {
        distributed::require_same_start(*g, {"batch=32", folder}, "options");
        FAIL("no error");
    } catch (const ValueError& e) {
        const std::string what = e.what();
        CHECK_THAT(what, Catch::Contains("different options"));
        CHECK_THAT(what, Catch::Contains("line 2: rank 0 has 'data=/a', rank 1 has 'data=/b'"));
    }
}
