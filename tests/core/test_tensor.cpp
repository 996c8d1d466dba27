#include <catch2/catch.hpp>

#include <sstream>

#include <ember/core/tensor.hpp>

#include "helpers.hpp"

using ember::Shape;
using ember::Tensor;
using ember::test::error_message;

TEMPLATE_TEST_CASE("Tensor factories fill, copy and draw", "[core][tensor]", float, double) {
    auto z = Tensor<TestType>::zeros({2, 3});
    CHECK(z.numel() == 6);
    for (auto v : z.span()) CHECK(v == 0);
    auto o = Tensor<TestType>::ones({4});
    for (auto v : o.span()) CHECK(v == 1);
    auto f = Tensor<TestType>::full({2, 2}, TestType(2.5));
    CHECK(f(1, 1) == TestType(2.5));
    auto d = Tensor<TestType>::from_data({2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK(d(0, 2) == 3);
    CHECK(d(1, 0) == 4);
    CHECK(d.at({1, 2}) == 6);
    CHECK(Tensor<TestType>::scalar(3).item() == 3);
    ember::Generator g1(1), g2(1);
    auto u1 = Tensor<TestType>::uniform({100}, -2, 3, g1);
    auto u2 = Tensor<TestType>::uniform({100}, -2, 3, g2);
    CHECK(u1.to_vector() == u2.to_vector());
    for (auto v : u1.span()) {
        CHECK(v >= -2);
        CHECK(v < 3);
    }
    auto n = Tensor<TestType>::normal({1000}, 5, 0, g1);
    for (auto v : n.span()) CHECK(v == 5);
}

TEST_CASE("Tensor storage is 64-byte aligned", "[core][tensor]") {
    for (int n : {1, 3, 17, 1000}) {
        auto t = Tensor<float>::empty({n});
        CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    }
}

TEST_CASE("Tensor handles share data, and clone copies, and views share storage", "[core][tensor]") {
    auto a = Tensor<float>::from_data({2, 3}, {1, 2, 3, 4, 5, 6});
    auto b = a;  // a handle
    b(0, 0) = 10;
    CHECK(a(0, 0) == 10);
    auto c = a.clone();
    c(0, 0) = 20;
    CHECK(a(0, 0) == 10);
    CHECK_FALSE(c.shares_storage_with(a));
    auto v = a.view_detached({3, 2});
    CHECK(v.shares_storage_with(a));
    CHECK(v(2, 1) == 6);
    auto rows = a.slice_rows(1, 2);
    CHECK(rows.shape() == Shape{1, 3});
    CHECK(rows(0, 0) == 4);
    rows(0, 0) = 40;
    CHECK(a(1, 0) == 40);
    auto d = a.detach();
    CHECK(d.shares_storage_with(a));
    CHECK_FALSE(d.requires_grad());
}

TEST_CASE("Tensor prints its type, shape and values", "[core][tensor]") {
    std::ostringstream os;
    os << Tensor<float>::from_data({2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK(os.str() == "Tensor<float>[2, 3] [[1, 2, 3], [4, 5, 6]]");
    std::ostringstream big;
    big << Tensor<double>::zeros({2000});
    CHECK(big.str() == "Tensor<double>[2000] [0, 0, 0, ..., 0, 0, 0]");
    std::ostringstream undefined;
    undefined << Tensor<float>();
    CHECK(undefined.str() == "Tensor<float>(undefined)");
}

TEST_CASE("Tensor errors name the shapes and indices", "[core][tensor][errors]") {
    CHECK(error_message<ember::ShapeError>([] { Tensor<float>::from_data({2, 2}, {1, 2, 3}); }) ==
          "Tensor::from_data: shape [2, 2] holds 4 elements, got 3 values");
    auto t = Tensor<float>::zeros({2, 3});
    CHECK(error_message<ember::IndexError>([&] { (void)t(2, 0); }) ==
          "Tensor: index 2 out of range for dimension 0 of shape [2, 3]");
    CHECK(error_message<ember::IndexError>([&] { (void)t(0); }) == "Tensor: 1 indices given for a tensor of shape [2, 3]");
    CHECK(error_message<ember::ShapeError>([&] { (void)t.item(); }) ==
          "Tensor::item: needs exactly one element, shape is [2, 3]");
    CHECK(error_message<ember::ShapeError>([&] { (void)t.view_detached({4}); }) ==
          "Tensor::view_detached: cannot view shape [2, 3] as [4]");
    CHECK(error_message<ember::StateError>([] { (void)Tensor<float>().shape(); }) ==
          "use of an undefined (default-constructed) Tensor");
    ember::Generator g;
    CHECK(error_message<ember::ValueError>([&] { Tensor<float>::uniform({2}, 1, 0, g); }) ==
          "Tensor::uniform: need lo <= hi, got lo=1 hi=0");
}
