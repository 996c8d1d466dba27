#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <ember/nn/nn.hpp>
#include <ember/train/checkpoint.hpp>

#include "helpers.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
nn::Sequential<float> small_model(index_t classes = 3) {
    nn::Sequential<float> m{nn::Rescaling(1.0f / 255), nn::Conv2D(4, 3, nn::same, nn::relu), nn::MaxPool2D(2),
                            nn::Flatten(), nn::Dense(classes)};
    return m;
}
fs::path temp(const std::string& name) {
    return ember::test::scratch_root() / name;
}
}  // namespace

TEST_CASE("checkpoints round-trip bit-exactly with metadata", "[train][checkpoint]") {
    auto a = small_model();
    a.build({8, 8, 3}, 1);
    auto b = small_model();
    b.build({8, 8, 3}, 2);
    const auto path = temp("model.safetensors");
    train::save_checkpoint(path, a, {{"class_names", "[\"x\",\"y\",\"z\"]"}, {"alert_threshold", "0.3"}});
    const auto meta = train::load_checkpoint(path, b);
    CHECK(meta.at("alert_threshold") == "0.3");
    CHECK(meta.at("format") == "ember-checkpoint");
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i].value.to_vector() == pb[i].value.to_vector());
    CHECK(train::read_checkpoint_metadata(path).at("class_names") == "[\"x\",\"y\",\"z\"]");
}

TEST_CASE("loading a checkpoint of another architecture or a truncated one fails clearly", "[train][checkpoint][errors]") {
    auto a = small_model(3);
    a.build({8, 8, 3}, 1);
    const auto path = temp("arch.safetensors");
    train::save_checkpoint(path, a);
    auto other = small_model(4);
    other.build({8, 8, 3}, 1);
    const auto before = other.parameters()[0].to_vector();
    CHECK_THAT(test::error_message<ValueError>([&] { train::load_checkpoint(path, other); }),
               Catch::StartsWith("checkpoint '" + path.string() + "' holds another architecture:"));
    CHECK(other.parameters()[0].to_vector() == before);  // untouched
    auto bigger = small_model(3);
    bigger.build({16, 16, 3}, 1);
    CHECK(test::error_message<ValueError>([&] { train::load_checkpoint(path, bigger); }) ==
          "checkpoint '" + path.string() + "' is for input [8, 8, 3], the model takes [16, 16, 3]");
    // truncate the file
    const auto size = fs::file_size(path);
    fs::resize_file(path, size - 10);
    CHECK_THROWS_AS(train::load_checkpoint(path, a), IoError);
    // a plain safetensors file that is not a checkpoint
    data::save_safetensors<float>(path, {{"w", Tensor<float>::zeros({2})}});
    CHECK(test::error_message<ValueError>([&] { train::load_checkpoint(path, a); }) ==
          "checkpoint '" + path.string() + "' is not an ember checkpoint (format: (missing))");
}
