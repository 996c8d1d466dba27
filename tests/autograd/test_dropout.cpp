#include <catch2/catch.hpp>

#include <ember/autograd/dropout.hpp>

#include "helpers.hpp"

using namespace ember;

TEST_CASE("dropout scales kept units by 1/(1-rate) and routes gradients through the mask", "[autograd][dropout]") {
    Generator gen(7);
    auto x = Tensor<double>::ones({100000}).requires_grad(true);
    auto y = dropout(x, 0.25, true, gen);
    index_t kept = 0;
    for (double v : y.span()) {
        REQUIRE((v == 0.0 || v == Approx(1 / 0.75)));
        kept += v != 0.0;
    }
    CHECK(static_cast<double>(kept) / 100000 == Approx(0.75).margin(0.01));
    sum(y).backward();
    for (index_t i = 0; i < y.numel(); ++i) REQUIRE(x.grad().data()[i] == y.data()[i]);
}

TEST_CASE("dropout is the identity in inference mode and reproducible with a seed", "[autograd][dropout]") {
    Generator gen(7);
    auto x = Tensor<float>::full({10}, 3);
    auto y = dropout(x, 0.5, false, gen);
    CHECK(y.shares_storage_with(x));
    Generator a(1), b(1);
    CHECK(dropout(x, 0.5, true, a).to_vector() == dropout(x, 0.5, true, b).to_vector());
    CHECK(test::error_message<ValueError>([&] { dropout(x, 1.0, true, a); }) == "dropout: rate must be in [0, 1), got 1");
}

TEST_CASE("in a data-parallel step each shard draws the global batch's mask for its rows", "[autograd][dropout]") {
    Generator whole_gen(5);
    const auto x = Tensor<double>::full({7, 3, 2}, 1.0);
    const auto whole = dropout(x, 0.5, true, whole_gen).to_vector();
    std::vector<double> joined;
    Generator shard_gen[2] = {Generator(5), Generator(5)};
    for (int s = 0; s < 2; ++s) {
        const index_t offset = s == 0 ? 0 : 3, rows = s == 0 ? 3 : 4;
        const BatchShardScope scope({offset, 7});
        const auto part = dropout(Tensor<double>::full({rows, 3, 2}, 1.0), 0.5, true, shard_gen[s]);
        for (double v : part.span()) joined.push_back(v);
    }
    CHECK(joined == whole);
    CHECK(shard_gen[0].state().words == whole_gen.state().words);  // every process's generator advanced alike
    CHECK(shard_gen[1].state().words == whole_gen.state().words);
    CHECK(current_batch_shard().global_rows == 0);  // the scope restored "whole batch"
}
