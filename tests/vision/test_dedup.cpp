// Tests of ember/vision/dedup.hpp on a small in-memory set with planted copies.
#include <catch2/catch.hpp>

#include <ember/vision/dedup.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// A size x size image filled with `value` (one distinct image per value).
vision::Image flat(std::uint8_t value, int size = 4) {
    vision::Image img;
    img.height = img.width = size;
    img.channels = 3;
    img.pixels.assign(static_cast<std::size_t>(size * size * 3), value);
    return img;
}

/// An empty set of size x size images with the classes "a" and "b".
vision::ImageSet empty_set(int size = 4) {
    vision::ImageSet set;
    set.height = set.width = size;
    set.class_names = {"a", "b"};
    return set;
}

/// One 5x5 image of class "a": another size than flat()'s default.
vision::ImageSet set_of_5x5() {
    vision::ImageSet set = empty_set(5);
    set.push_back(flat(1, 5), 0, "o.jpg");
    return set;
}
}  // namespace

TEST_CASE("deduplicate keeps one copy per class and drops images filed under two classes", "[data][dedup]") {
    vision::ImageSet set;
    set.height = set.width = 4;
    set.class_names = {"a", "b", "c"};
    set.push_back(flat(1), 0, "a/1.jpg");
    set.push_back(flat(2), 0, "a/2.jpg");
    set.push_back(flat(1), 0, "a/1-copy.jpg");   // same class copy of 0: dropped
    set.push_back(flat(3), 1, "b/3.jpg");         // contradictory with 5 and 6: all three dropped
    set.push_back(flat(4), 1, "b/4.jpg");
    set.push_back(flat(3), 2, "c/3.jpg");
    set.push_back(flat(3), 2, "c/3-again.jpg");
    set.push_back(flat(2), 0, "a/2-copy.png");    // same pixels, another file: a copy
    const auto r = vision::deduplicate(set);
    CHECK(r.keep == std::vector<std::size_t>{0, 1, 4});
    CHECK(r.same_class_copies == 2);
    CHECK(r.contradictory == 3);
    CHECK(r.contradictory_groups == 1);

    const auto sub = vision::subset(set, r.keep);
    REQUIRE(sub.size() == 3);
    CHECK(sub.labels == std::vector<std::int32_t>{0, 0, 1});
    CHECK(sub.paths[2] == "b/4.jpg");
    CHECK(sub.image(2)[0] == 4);
    CHECK(sub.class_names == set.class_names);
    CHECK(test::error_message<IndexError>([&] { vision::subset(set, {9}); }) ==
          "subset: index 9 out of range for a set of 8 images");
}

TEST_CASE("copies_in finds the images of one set that another set holds", "[data][dedup]") {
    vision::ImageSet train = empty_set(), test = empty_set();
    train.push_back(flat(1), 0, "t/1.jpg");
    train.push_back(flat(2), 1, "t/2.jpg");
    test.push_back(flat(2), 0, "s/2.jpg");  // a copy, whatever its label
    test.push_back(flat(3), 1, "s/3.jpg");
    CHECK(vision::copies_in(test, train) == std::vector<bool>{true, false});
    CHECK(test::error_message<ShapeError>([&] { vision::copies_in(test, set_of_5x5()); }) ==
          "copies_in: the sets hold images of different sizes (4x4 and 5x5)");
}

TEST_CASE("ImageSet::append adds another set's images after its own, and refuses other sizes or classes", "[data][dedup]") {
    vision::ImageSet a = empty_set(), b = empty_set();
    a.push_back(flat(1), 0, "a/1.jpg");
    b.push_back(flat(2), 1, "x/b/2.jpg");
    b.push_back(flat(3), 0, "x/a/3.jpg");
    a.append(b);
    REQUIRE(a.size() == 3);
    CHECK(a.labels == std::vector<std::int32_t>{0, 1, 0});
    CHECK(a.paths[2] == "x/a/3.jpg");
    CHECK(a.image(1)[0] == 2);
    CHECK(a.image(2)[a.image_bytes() - 1] == 3);
    CHECK(a.pixels.size() == 3 * a.image_bytes());
    a.append(vision::ImageSet{});  // nothing to add: no size to check
    CHECK(a.size() == 3);

    vision::ImageSet other_classes = b;
    other_classes.class_names = {"b", "a"};
    CHECK(test::error_message<ValueError>([&] { a.append(other_classes); }) ==
          "ImageSet::append: the sets' class names differ (index both folders with the same class names)");
    CHECK(test::error_message<ShapeError>([&] { a.append(set_of_5x5()); }) == "ImageSet::append: expected 4x4x3 images, got 5x5x3");
    CHECK(a.size() == 3);
}
