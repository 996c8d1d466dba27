#include <catch2/catch.hpp>

#include <ember/data/image_folder.hpp>

#include "helpers.hpp"
#include "image_files.hpp"

using namespace ember;
namespace fs = std::filesystem;

TEST_CASE("index_image_folder follows Keras: sorted classes and files, hidden and non-images skipped", "[data][folder]") {
    const auto root = test::fresh_dir("folder");
    test::write_image(root / "seborrheic keratosis" / "b.png", 4, 4, 3);
    test::write_image(root / "seborrheic keratosis" / "a.PNG", 4, 4, 3);
    test::write_image(root / "actinic keratosis" / "z.bmp", 4, 4, 3);
    test::write_image(root / ".hidden" / "x.png", 4, 4, 3);
    test::write_image(root / "actinic keratosis" / ".x.png", 4, 4, 3);
    test::write_text(root / "actinic keratosis" / "notes.txt", "not an image");
    test::write_text(root / "README", "a file at the top");
    const auto index = data::index_image_folder(root);
    REQUIRE(index.class_names == std::vector<std::string>{"actinic keratosis", "seborrheic keratosis"});
    REQUIRE(index.files.size() == 3);
    CHECK(index.files[0].path.filename() == "z.bmp");
    CHECK(index.files[0].label == 0);
    CHECK(index.files[1].path.filename() == "a.PNG");
    CHECK(index.files[2].path.filename() == "b.png");
    CHECK(index.files[2].label == 1);
    CHECK(index.counts() == std::vector<long>{1, 2});
    // with the class list of another folder (Test read with Train's classes)
    const auto again = data::index_image_folder(root, {"seborrheic keratosis", "actinic keratosis", "nevus"}, true);
    CHECK(again.files[0].label == 0);
    CHECK(again.counts() == std::vector<long>{2, 1, 0});
}

TEST_CASE("index_image_folder errors name the folder", "[data][folder][errors]") {
    const auto root = test::fresh_dir("folder-bad");
    CHECK(test::error_message<IoError>([&] { data::index_image_folder(root / "nope"); }) ==
          "data folder '" + (root / "nope").string() + "' does not exist or is not a directory");
    CHECK(test::error_message<IoError>([&] { data::index_image_folder(root); }) ==
          "data folder '" + root.string() + "' has no class folders (expected <root>/<class name>/<images>)");
    test::write_image(root / "melanoma" / "a.png", 4, 4, 3);
    fs::create_directories(root / "nevus");
    test::write_text(root / "nevus" / "readme.txt", "x");
    CHECK(test::error_message<IoError>([&] { data::index_image_folder(root); }) ==
          "class folder '" + (root / "nevus").string() + "' holds no images (.bmp .gif .jpeg .jpg .png)");
}

TEST_CASE("load_images decodes, resizes, skips corrupt files with a warning, or fails in strict mode", "[data][folder]") {
    const auto root = test::fresh_dir("load");
    test::write_image(root / "a" / "1.png", 8, 6, 3);
    test::write_image(root / "a" / "2.png", 4, 4, 1);
    test::write_text(root / "b" / "broken.jpg", "garbage");
    test::write_image(root / "b" / "3.bmp", 4, 4, 4);
    const auto index = data::index_image_folder(root);
    std::vector<std::string> warnings;
    std::size_t last_progress = 0;
    data::LoadOptions o;
    o.height = 4;
    o.width = 4;
    o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
    o.on_progress = [&](std::size_t done, std::size_t total) {
        CHECK(total == 4);
        last_progress = done;
    };
    const auto set = data::load_images(index, o);
    CHECK(set.size() == 3);
    CHECK(set.labels == std::vector<std::int32_t>{0, 0, 1});
    CHECK(set.pixels.size() == 3 * 4 * 4 * 3);
    CHECK(last_progress == 4);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::StartsWith("warning: skipped cannot decode '" + (root / "b" / "broken.jpg").string()));
    // 2.png was already 4x4: stored as is, gray repeated into RGB
    CHECK(set.image(1)[(1 * 4 + 2) * 3 + 1] == test::pattern(1, 2, 0));
    o.strict = true;
    CHECK_THAT(test::error_message<IoError>([&] { data::load_images(index, o); }),
               Catch::StartsWith("cannot decode '" + (root / "b" / "broken.jpg").string()));
}

TEST_CASE("the isic-mini sample indexes as 9 classes of 30 training images", "[data][folder][isic]") {
    const fs::path train = fs::path(EMBER_SHARED_DATA_DIR) / "isic-mini" / "Train";
    if (!fs::is_directory(train)) {
        WARN("skipped: " << train.string() << " not found (../shared/data is only beside the project checkout)");
        return;
    }
    const auto index = data::index_image_folder(train);
    REQUIRE(index.class_names.size() == 9);
    CHECK(index.class_names[3] == "melanoma");
    for (long c : index.counts()) CHECK(c == 30);
    data::LoadOptions o;
    const auto set = data::load_images(index, o);
    CHECK(set.size() == 270);
    CHECK(set.height == 180);
}
