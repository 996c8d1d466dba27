#include <catch2/catch.hpp>

#include <ember/core/shape.hpp>

#include "helpers.hpp"

using ember::Shape;

TEST_CASE("Shape counts, indexes and prints its extents", "[core][shape]") {
    const Shape s{32, 180, 180, 3};
    CHECK(s.rank() == 4);
    CHECK(s.numel() == 32 * 180 * 180 * 3);
    CHECK(s[0] == 32);
    CHECK(s[-1] == 3);
    CHECK(s.str() == "[32, 180, 180, 3]");
    CHECK(s.strides() == std::vector<ember::index_t>{180 * 180 * 3, 180 * 3, 3, 1});
    CHECK(s.drop_front() == Shape{180, 180, 3});
    CHECK(Shape{180, 180, 3}.prepend(8) == Shape{8, 180, 180, 3});
    CHECK(Shape{}.numel() == 1);
    CHECK(Shape{}.str() == "[]");
    CHECK(Shape{4, 0, 2}.numel() == 0);
}

TEST_CASE("Shape rejects negative extents and out-of-range dimensions", "[core][shape][errors]") {
    CHECK(ember::test::error_message<ember::ShapeError>([] { Shape{2, -1}; }) ==
          "Shape: extents must be >= 0, got [2, -1]");
    CHECK(ember::test::error_message<ember::IndexError>([] { (void)Shape{2, 3}[2]; }) ==
          "dimension 2 is out of range for shape [2, 3]");
    CHECK_THROWS_AS((Shape{2, 3}[-3]), ember::IndexError);
}
