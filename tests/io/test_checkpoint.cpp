#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include <ember/nn/nn.hpp>
#include <ember/io/checkpoint.hpp>

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

TEST_CASE("checkpoints round-trip bit-exactly with metadata", "[io][checkpoint]") {
    auto a = small_model();
    a.build({8, 8, 3}, 1);
    auto b = small_model();
    b.build({8, 8, 3}, 2);
    const auto path = temp("model.safetensors");
    io::save_checkpoint(path, a, {{"class_names", "[\"x\",\"y\",\"z\"]"}, {"alert_threshold", "0.3"}});
    const auto meta = io::load_checkpoint(path, b);
    CHECK(meta.at("alert_threshold") == "0.3");
    CHECK(meta.at("format") == "ember-checkpoint");
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i].value.to_vector() == pb[i].value.to_vector());
    CHECK(io::read_checkpoint_metadata(path).at("class_names") == "[\"x\",\"y\",\"z\"]");
}

TEST_CASE("loading a checkpoint of another architecture or a truncated one fails clearly", "[io][checkpoint][errors]") {
    auto a = small_model(3);
    a.build({8, 8, 3}, 1);
    const auto path = temp("arch.safetensors");
    io::save_checkpoint(path, a);
    auto other = small_model(4);
    other.build({8, 8, 3}, 1);
    const auto before = other.parameters()[0].to_vector();
    const std::string last = other[4].name() + ":Dense:";
    CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(path, other); }) ==
          "checkpoint '" + path.string() + "' holds another architecture: layer 5: " + last + "[3] in the checkpoint, " +
              last + "[4] in the model");
    CHECK(other.parameters()[0].to_vector() == before);  // untouched
    // a layer more or less: which one, and how many each side has
    nn::Sequential<float> longer{nn::Rescaling(1.0f / 255), nn::Conv2D(4, 3, nn::same, nn::relu), nn::MaxPool2D(2),
                                 nn::Flatten(), nn::Dense(3), nn::Dense(3)};
    longer.build({8, 8, 3}, 1);
    CHECK_THAT(test::error_message<ValueError>([&] { io::load_checkpoint(path, longer); }),
               Catch::EndsWith("holds another architecture: layer 6 of 6 in the model (" + longer[5].name() +
                               ":Dense:[3]) is not in the checkpoint, which has 5"));
    io::save_checkpoint(path, longer);
    CHECK_THAT(test::error_message<ValueError>([&] { io::load_checkpoint(path, a); }),
               Catch::EndsWith("holds another architecture: layer 6 of 6 in the checkpoint (" + longer[5].name() +
                               ":Dense:[3]) is not in the model, which has 5"));
    io::save_checkpoint(path, a);
    auto bigger = small_model(3);
    bigger.build({16, 16, 3}, 1);
    CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(path, bigger); }) ==
          "checkpoint '" + path.string() + "' is for input [8, 8, 3], the model takes [16, 16, 3]");
    // the same architecture saved in double precision: the first tensor's dtype is named
    nn::Sequential<double> wide{nn::Rescaling<double>(1.0 / 255), nn::Conv2D<double>(4, 3, nn::same, nn::relu),
                                nn::MaxPool2D<double>(2), nn::Flatten<double>(), nn::Dense<double>(3)};
    wide.build({8, 8, 3}, 1);
    const auto wide_path = temp("double.safetensors");
    io::save_checkpoint(wide_path, wide);
    const std::string first = a.named_parameters()[0].name;
    const auto a_before = a.parameters()[0].to_vector();
    CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(wide_path, a); }) ==
          "checkpoint '" + wide_path.string() + "': tensor '" + first + "' has dtype F64, the model uses F32");
    CHECK(a.parameters()[0].to_vector() == a_before);
    // without architecture metadata, and the difference helper's edge cases
    io::save_safetensors<float>(path, {{"w", Tensor<float>::zeros({2})}},
                                  {{"format", io::kCheckpointFormat}, {"format_version", io::kCheckpointVersion},
                                   {"input_shape", "[8, 8, 3]"}});
    CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(path, a); }) ==
          "checkpoint '" + path.string() + "' records no architecture");
    io::save_checkpoint(path, a);
    CHECK(io::checkpoint_detail::first_layer_difference("", "x:X:[1]") ==
          "layer 1 of 1 in the model (x:X:[1]) is not in the checkpoint, which has 0");
    CHECK(io::checkpoint_detail::first_layer_difference("x:X:[1];y:Y:[2]", "x:X:[1];y:Y:[2]") == "none (the same 2 layers)");
    // a tensor missing, or one more than the model has: each is named
    {
        std::vector<std::pair<std::string, Tensor<float>>> tensors;
        for (const auto& p : a.named_parameters()) tensors.emplace_back(p.name, p.value);
        const auto meta = io::read_checkpoint_metadata(path);
        const auto edited = temp("edited.safetensors");
        const std::string dropped = tensors.back().first;
        io::save_safetensors<float>(edited, {tensors.begin(), tensors.end() - 1}, meta);
        CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(edited, a); }) ==
              "checkpoint '" + edited.string() + "' has no tensor '" + dropped + "'");
        tensors.emplace_back("zz.extra", Tensor<float>::zeros({2}));
        io::save_safetensors<float>(edited, tensors, meta);
        CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(edited, a); }) ==
              "checkpoint '" + edited.string() + "' has a tensor 'zz.extra' the model does not have (" +
                  std::to_string(tensors.size()) + " tensors, the model has " + std::to_string(tensors.size() - 1) +
                  " weights)");
    }
    // truncate the file
    const auto size = fs::file_size(path);
    fs::resize_file(path, size - 10);
    CHECK_THROWS_AS(io::load_checkpoint(path, a), IoError);
    // a plain safetensors file that is not a checkpoint
    io::save_safetensors<float>(path, {{"w", Tensor<float>::zeros({2})}});
    CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(path, a); }) ==
          "checkpoint '" + path.string() + "' is not an ember checkpoint (format: (missing))");
}

TEST_CASE("a checkpoint of any built Module, not only a Sequential, round-trips and is checked", "[io][checkpoint]") {
    nn::Dense<double> a(3, nn::relu), b(3, nn::relu), wider(4, nn::relu);
    a.build({5}, 1);
    b.build({5}, 2);
    wider.build({5}, 1);
    const auto path = temp("dense.safetensors");
    io::save_checkpoint(path, a, {{"note", "one layer"}});
    CHECK(io::read_checkpoint_metadata(path).at("architecture") == "dense:Dense:[3];kernel:[5, 3];bias:[3]");
    CHECK(io::load_checkpoint(path, b).at("note") == "one layer");
    CHECK(b.kernel().to_vector() == a.kernel().to_vector());
    CHECK(b.bias().to_vector() == a.bias().to_vector());
    const auto before = wider.kernel().to_vector();
    CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(path, wider); }) ==
          "checkpoint '" + path.string() + "' holds another architecture: layer 1: dense:Dense:[3] in the checkpoint, "
          "dense:Dense:[4] in the model");
    CHECK(wider.kernel().to_vector() == before);
    nn::Dense<double> unbuilt(3);
    CHECK(test::error_message<StateError>([&] { io::save_checkpoint(path, unbuilt); }) ==
          "save_checkpoint: the model is not built");
}

TEST_CASE("a checkpoint holding a NaN or an infinity is refused, naming the tensor, and changes nothing",
          "[io][checkpoint][errors]") {
    auto a = small_model(3);
    a.build({8, 8, 3}, 1);
    auto b = small_model(3);
    b.build({8, 8, 3}, 2);
    const auto path = temp("poisoned.safetensors");
    const auto params = a.named_parameters();
    std::vector<std::vector<float>> before;
    for (const auto& p : b.parameters()) before.push_back(p.to_vector());
    const auto refused = [&](std::size_t tensor, index_t at, float value) {
        Tensor<float> w = params[tensor].value;
        const float kept = w.data()[at];
        w.data()[at] = value;
        io::save_checkpoint(path, a);
        w.data()[at] = kept;
        CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(path, b); }) ==
              "checkpoint '" + path.string() + "': tensor '" + params[tensor].name + "' holds a NaN or infinite value " +
                  "(first at index " + std::to_string(at) + "): the checkpoint is corrupt or was written by a diverged run");
        const auto now = b.parameters();
        for (std::size_t i = 0; i < now.size(); ++i) CHECK(now[i].to_vector() == before[i]);
    };
    refused(0, 17, std::numeric_limits<float>::infinity());
    refused(0, 0, std::numeric_limits<float>::quiet_NaN());
    refused(params.size() - 1, params.back().value.numel() - 1, -std::numeric_limits<float>::infinity());
    // the largest finite values and the subnormals pass
    Tensor<float> w = params[0].value;
    w.data()[3] = std::numeric_limits<float>::max();
    w.data()[4] = -std::numeric_limits<float>::denorm_min();
    io::save_checkpoint(path, a);
    io::load_checkpoint(path, b);
    CHECK(b.parameters()[0].to_vector() == a.parameters()[0].to_vector());
}

TEST_CASE("first_non_finite finds the first NaN or infinity across blocks, for float and double", "[io][checkpoint]") {
    auto f = Tensor<float>::zeros({10'000});
    CHECK(io::checkpoint_detail::first_non_finite(f) == -1);
    f.data()[9'999] = std::numeric_limits<float>::signaling_NaN();
    f.data()[5'000] = -std::numeric_limits<float>::quiet_NaN();
    CHECK(io::checkpoint_detail::first_non_finite(f) == 5'000);
    auto d = Tensor<double>::full({4'097}, std::numeric_limits<double>::max());
    CHECK(io::checkpoint_detail::first_non_finite(d) == -1);
    d.data()[4'096] = std::numeric_limits<double>::infinity();
    CHECK(io::checkpoint_detail::first_non_finite(d) == 4'096);
    CHECK(io::checkpoint_detail::first_non_finite(Tensor<float>::zeros({0})) == -1);
}

TEST_CASE("a tensor of an integer dtype where the model has floats is named with its dtype", "[io][checkpoint][errors]") {
    auto a = small_model(3);
    a.build({8, 8, 3}, 1);
    const auto path = temp("int.safetensors");
    io::save_checkpoint(path, a);
    auto file = io::load_safetensors<float>(path);
    const std::string name = a.named_parameters()[1].name;
    const Shape shape = file.tensors.at(name).shape();
    file.tensors.erase(name);
    file.integers[name] = {shape, std::vector<std::int64_t>(static_cast<std::size_t>(shape.numel()))};
    io::save_safetensors(path, file);
    CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(path, a); }) ==
          "checkpoint '" + path.string() + "': tensor '" + name + "' has dtype I64, the model uses F32");
    // an integer tensor the model does not have is an extra tensor like any other
    io::save_checkpoint(path, a);
    file = io::load_safetensors<float>(path);
    file.integers["zz.labels"] = {Shape{2}, {0, 1}};
    io::save_safetensors(path, file);
    CHECK_THAT(test::error_message<ValueError>([&] { io::load_checkpoint(path, a); }),
               Catch::StartsWith("checkpoint '" + path.string() + "' has a tensor 'zz.labels' the model does not have"));
}
