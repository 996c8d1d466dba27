#include <catch2/catch.hpp>

#include <ember/kernels/pool.hpp>

#include "helpers.hpp"
#include "reference.hpp"

using namespace ember;

TEST_CASE("max_pool2d kernels match the reference and route gradients to the argmax", "[kernels][pool]") {
    Generator gen(5);
    struct Case { index_t n, h, w, c, ph, pw, sh, sw; };
    for (auto cs : {Case{2, 45, 45, 3, 2, 2, 2, 2}, Case{1, 7, 5, 17, 3, 2, 1, 2}, Case{3, 4, 4, 1, 2, 2, 1, 1}}) {
        auto x = Tensor<float>::uniform({cs.n, cs.h, cs.w, cs.c}, -1, 1, gen);
        const auto g = kernels::Pool2DGeometry::make(cs.n, cs.h, cs.w, cs.c, cs.ph, cs.pw, cs.sh, cs.sw);
        auto ref = test::max_pool_reference(x, cs.ph, cs.pw, cs.sh, cs.sw);
        auto y = Tensor<float>::empty(ref.shape());
        std::vector<std::int32_t> arg(static_cast<std::size_t>(y.numel()));
        kernels::max_pool2d_forward(g, x.data(), y.data(), arg.data());
        CHECK(y.to_vector() == ref.to_vector());
        auto y_only = Tensor<float>::empty(ref.shape());  // inference: no argmax
        kernels::max_pool2d_forward(g, x.data(), y_only.data(), static_cast<std::int32_t*>(nullptr));
        CHECK(y_only.to_vector() == ref.to_vector());
        auto dy = Tensor<float>::ones(y.shape());
        auto dx = Tensor<float>::zeros(x.shape());
        kernels::max_pool2d_backward(g, dy.data(), arg.data(), dx.data());
        double total = 0;
        for (float v : dx.span()) total += v;
        CHECK(total == Approx(static_cast<double>(y.numel())));
        for (index_t i = 0; i < y.numel(); ++i) {
            const index_t img = i / (g.oh * g.ow * g.c);
            CHECK(x.data()[img * cs.h * cs.w * cs.c + arg[static_cast<std::size_t>(i)]] == y.data()[i]);
        }
    }
}

TEST_CASE("max_pool2d drops the odd last row and column (45 -> 22)", "[kernels][pool]") {
    const auto g = kernels::Pool2DGeometry::make(1, 45, 45, 64, 2, 2, 2, 2);
    CHECK(g.oh == 22);
    CHECK(g.ow == 22);
}
