// Tests of ember/vision/image_folder.hpp: Keras' folder order, error messages, the parallel decode into ImageSet.
#include <catch2/catch.hpp>

#include <ember/vision/image_folder.hpp>

#include "helpers.hpp"
#include "image_files.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> relative_names(const vision::FolderIndex& index) {
    std::vector<std::string> names;
    for (const auto& f : index.files) names.push_back(f.path.lexically_relative(index.root).generic_string());
    return names;
}
}  // namespace

TEST_CASE("index_image_folder follows Keras: sorted classes and files, hidden and non-images skipped", "[data][folder]") {
    const auto root = test::fresh_dir("folder");
    test::write_image(root / "seborrheic keratosis" / "b.png", 4, 4, 3);
    test::write_image(root / "seborrheic keratosis" / "a.PNG", 4, 4, 3);
    test::write_image(root / "actinic keratosis" / "z.bmp", 4, 4, 3);
    test::write_image(root / ".hidden" / "x.png", 4, 4, 3);
    test::write_image(root / "actinic keratosis" / ".x.png", 4, 4, 3);
    test::write_text(root / "actinic keratosis" / "notes.txt", "not an image");
    test::write_text(root / "README", "a file at the top");
    const auto index = vision::index_image_folder(root);
    REQUIRE(index.class_names == std::vector<std::string>{"actinic keratosis", "seborrheic keratosis"});
    REQUIRE(index.files.size() == 3);
    CHECK(index.files[0].path.filename() == "z.bmp");
    CHECK(index.files[0].label == 0);
    CHECK(index.files[1].path.filename() == "a.PNG");
    CHECK(index.files[2].path.filename() == "b.png");
    CHECK(index.files[2].label == 1);
    CHECK(index.counts() == std::vector<long>{1, 2});
    REQUIRE(index.ignored.size() == 1);
    CHECK(index.ignored[0].filename() == "notes.txt");
    CHECK(index.extra_classes.empty());
    // with the class list of another folder (Test read with Train's classes): that order, a missing class is empty
    const auto again = vision::index_image_folder(root, {"seborrheic keratosis", "nevus"}, true);
    CHECK(again.files[0].label == 0);
    CHECK(again.counts() == std::vector<long>{2, 0});
    CHECK(again.extra_classes == std::vector<std::string>{"actinic keratosis"});
}

TEST_CASE("index_image_folder orders files as Keras' os.walk: folder by folder, names sorted bytewise", "[data][folder]") {
    const auto root = test::fresh_dir("folder-order");
    const fs::path c = root / "cls";
    for (const char* name : {"b.jpeg", "B.gif", "a.png", "a b.png", "sub/z.png", "sub/a.png", "sub a/m.png",
                             "-dash/k.png", "sub/deeper/q.bmp", ".hidden dir/h.png", "sub/.h.png", "10.png", "9.png"})
        test::write_image(c / name, 2, 2, 3);
    const auto index = vision::index_image_folder(root);
    // Python sorts the os.walk roots "cls" < "cls/-dash" < "cls/sub" < "cls/sub a" < "cls/sub/deeper" ... by
    // code point (' ' < '-' < '/'), and the names inside each folder the same way ('1' < '9', 'B' < 'a')
    CHECK(relative_names(index) == std::vector<std::string>{"cls/10.png", "cls/9.png", "cls/B.gif", "cls/a b.png",
                                                            "cls/a.png", "cls/b.jpeg", "cls/-dash/k.png",
                                                            "cls/sub/a.png", "cls/sub/z.png", "cls/sub a/m.png",
                                                            "cls/sub/deeper/q.bmp"});
}

TEST_CASE("index_image_folder errors name the folder", "[data][folder][errors]") {
    const auto root = test::fresh_dir("folder-bad");
    CHECK(test::error_message<IoError>([&] { vision::index_image_folder(root / "nope"); }) ==
          "data folder '" + (root / "nope").string() + "' does not exist or is not a directory");
    CHECK(test::error_message<IoError>([&] { vision::index_image_folder(root); }) ==
          "data folder '" + root.string() + "' has no class folders (expected <root>/<class name>/<images>)");
    test::write_text(root / "a-file.txt", "x");
    CHECK(test::error_message<IoError>([&] { vision::index_image_folder(root / "a-file.txt"); }) ==
          "data folder '" + (root / "a-file.txt").string() + "' does not exist or is not a directory");
    test::write_image(root / "melanoma" / "a.png", 4, 4, 3);
    fs::create_directories(root / "nevus");
    test::write_text(root / "nevus" / "readme.txt", "x");
    CHECK(test::error_message<IoError>([&] { vision::index_image_folder(root); }) ==
          "class folder '" + (root / "nevus").string() + "' holds no images (.bmp .gif .jpeg .jpg .png)");
    CHECK(test::error_message<IoError>([&] { vision::index_image_folder(root, {"melanoma", "vascular lesion"}); }) ==
          "class folder '" + (root / "vascular lesion").string() + "' does not exist");
    CHECK(test::error_message<ValueError>([&] { vision::index_image_folder(root, {"melanoma", "melanoma"}); }) ==
          "index_image_folder: the 2 class names given for '" + root.string() + "' repeat a name");
    const auto lenient = vision::index_image_folder(root, {}, true);
    CHECK(lenient.counts() == std::vector<long>{1, 0});
}

TEST_CASE("load_images decodes, resizes, skips corrupt files with a warning, or fails in strict mode", "[data][folder]") {
    const auto root = test::fresh_dir("load");
    test::write_image(root / "a" / "1.png", 8, 6, 3);
    test::write_image(root / "a" / "2.png", 4, 4, 1);
    test::write_text(root / "b" / "broken.jpg", "garbage");
    test::write_image(root / "b" / "3.bmp", 4, 4, 4);
    test::write_text(root / "b" / "4.png", "");
    const auto index = vision::index_image_folder(root);
    std::vector<std::string> warnings;
    std::vector<std::size_t> progress;
    vision::LoadOptions o;
    o.height = 4;
    o.width = 4;
    o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
    o.on_progress = [&](std::size_t done, std::size_t total) {
        CHECK(total == 5);
        progress.push_back(done);
    };
    const auto set = vision::load_images(index, o);
    CHECK(set.size() == 3);
    CHECK(set.labels == std::vector<std::int32_t>{0, 0, 1});
    CHECK(set.paths[2].filename() == "3.bmp");
    CHECK(set.counts() == std::vector<long>{2, 1});
    CHECK(set.pixels.size() == 3 * 4 * 4 * 3);
    CHECK(progress == std::vector<std::size_t>{1, 2, 3, 4, 5});
    REQUIRE(warnings.size() == 2);  // in file order
    CHECK(warnings[0] == "warning: skipped cannot decode '" + (root / "b" / "4.png").string() + "': the file is empty (0 bytes)");
    CHECK(warnings[1] == "warning: skipped cannot decode '" + (root / "b" / "broken.jpg").string() +
                             "': not a JPEG, PNG, BMP or GIF file");
    // 1.png (8x6) was resized as TensorFlow does; 2.png was already 4x4: stored as is, gray repeated into RGB
    const auto expected = vision::resize_bilinear_u8(vision::decode_image(root / "a" / "1.png"), 4, 4);
    CHECK(std::equal(expected.pixels.begin(), expected.pixels.end(), set.image(0)));
    CHECK(set.image(1)[(1 * 4 + 2) * 3 + 1] == test::pattern(1, 2, 0));
    CHECK(set.image(2)[(3 * 4 + 1) * 3 + 2] == test::pattern(3, 1, 2));  // 3.bmp moved down over the skipped files
    o.strict = true;
    o.on_progress = nullptr;
    CHECK_THAT(test::error_message<IoError>([&] { vision::load_images(index, o); }),
               Catch::StartsWith("cannot decode '" + (root / "b" / "4.png").string() + "'") ||
                   Catch::StartsWith("cannot decode '" + (root / "b" / "broken.jpg").string() + "'"));
    o.strict = false;
    vision::FolderIndex only_bad{root, {"b"}, {{root / "b" / "broken.jpg", 0}}, {}, {}};
    CHECK(test::error_message<IoError>([&] { vision::load_images(only_bad, o); }) ==
          "no image in '" + root.string() + "' could be decoded");
    CHECK(test::error_message<IoError>([&] { vision::load_images(vision::FolderIndex{root, {"b"}, {}, {}, {}}, o); }) ==
          "data folder '" + root.string() + "' holds no images (.bmp .gif .jpeg .jpg .png)");
}

TEST_CASE("load_images refuses images over LoadOptions::limits before decoding them", "[data][folder]") {
    const auto root = test::fresh_dir("load-limits");
    test::write_image(root / "a" / "small.png", 4, 4, 3);
    test::write_image(root / "a" / "large.png", 8, 6, 3);  // 48 pixels
    const auto index = vision::index_image_folder(root);
    vision::LoadOptions o;
    o.height = o.width = 4;
    o.limits.max_pixels = 40;
    std::vector<std::string> warnings;
    o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
    const auto set = vision::load_images(index, o);
    REQUIRE(set.size() == 1);
    CHECK(set.paths[0].filename() == "small.png");
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::Contains("large.png") && Catch::Contains("over the limit of 40"));
}

TEST_CASE("load_images in parallel gives the same set as one thread", "[data][folder]") {
    const auto root = test::fresh_dir("load-many");
    for (int i = 0; i < 40; ++i)
        test::write_image(root / (i % 3 == 0 ? "x" : "y") / ("img" + std::to_string(i) + ".png"), 5 + i % 4, 7, 3, i);
    test::write_text(root / "y" / "bad.png", "nope");
    const auto index = vision::index_image_folder(root);
    vision::LoadOptions o;
    o.height = o.width = 6;
    o.on_warning = [](const std::string&) {};
    const int threads = ember::max_threads();
    const auto parallel = vision::load_images(index, o);
    ember::set_num_threads(1);
    const auto serial = vision::load_images(index, o);
    ember::set_num_threads(threads);
    CHECK(parallel.size() == 40);
    CHECK(parallel.pixels == serial.pixels);
    CHECK(parallel.labels == serial.labels);
    CHECK(parallel.paths == serial.paths);
}

TEST_CASE("the isic-mini sample indexes as 9 classes of 30 training images", "[data][folder][isic]") {
    const fs::path train = fs::path(EMBER_SHARED_DATA_DIR) / "isic-mini" / "Train";
    if (test::shared_data_missing(train)) return;
    const auto index = vision::index_image_folder(train);
    REQUIRE(index.class_names.size() == 9);
    CHECK(index.class_names[3] == "melanoma");
    CHECK(index.class_names[5] == "pigmented benign keratosis");
    for (long c : index.counts()) CHECK(c == 30);
    CHECK(index.ignored.empty());
    const auto set = vision::load_images(index);
    CHECK(set.size() == 270);
    CHECK(set.height == 180);
    CHECK(set.pixels.size() == 270u * 180 * 180 * 3);
    // every isic-mini image is already 180x180: the cache holds the decoded bytes unchanged
    const auto first = vision::decode_image(index.files[0].path);
    CHECK(std::equal(first.pixels.begin(), first.pixels.end(), set.image(0)));
}
