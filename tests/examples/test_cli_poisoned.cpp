// Tests of how `melanoma evaluate` and `predict` refuse a checkpoint they cannot trust: a weight that is NaN or
// infinite (which would print p(melanoma) = nan and raise no alert), metadata missing or out of range key by key, a
// checkpoint of an older format, a training state, a folder, a tensor of another dtype.
#include <catch2/catch.hpp>

#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include <ember/io/safetensors.hpp>

#include "melanoma_cli.hpp"

using namespace melanoma_cli;

namespace {
/// A copy of `ckpt` named `name` beside it with one float of its first tensor (at `index`) set to `value`, the
/// bytes rewritten in place; returns the copy and the tensor's name.
std::pair<fs::path, std::string> poisoned_copy(const fs::path& ckpt, const std::string& name, std::size_t index,
                                               float value) {
    std::string file = bytes(ckpt);
    std::uint64_t n = 0;
    std::memcpy(&n, file.data(), 8);
    const auto header = nlohmann::ordered_json::parse(file.substr(8, n));
    auto first = header.begin();
    if (first.key() == "__metadata__") ++first;
    REQUIRE(first.value().at("dtype") == "F32");
    const std::size_t at = 8 + n + first.value().at("data_offsets")[0].get<std::size_t>() + 4 * index;
    std::memcpy(file.data() + at, &value, 4);
    const fs::path out = ckpt.parent_path() / name;
    std::ofstream(out, std::ios::binary) << file;
    return {out, first.key()};
}
}  // namespace

TEST_CASE("a checkpoint holding an infinite or NaN weight is refused, not scored to p(melanoma) = nan",
          "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-poisoned");
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "run")).code == 0);
    const fs::path ckpt = root / "run" / "best.safetensors";
    const fs::path image = root / "Test" / "melanoma" / "t1.png";
    const auto [inf, tensor] = poisoned_copy(ckpt, "inf.safetensors", 17, std::numeric_limits<float>::infinity());
    const std::string refused = "error: checkpoint '" + inf.string() + "': tensor '" + tensor +
                                "' holds a NaN or infinite value (first at index 17): the checkpoint is corrupt or was "
                                "written by a diverged run";
    auto r = melanoma("predict --model " + q(inf) + " " + q(image));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains(refused) && !Catch::Contains("p(melanoma) ="));
    r = melanoma("evaluate --data " + q(root) + " --model " + q(inf) + " --out " + q(root / "ev"));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains(refused));
    // a NaN, in an ensemble with a sound member
    const auto [nan, same] = poisoned_copy(ckpt, "nan.safetensors", 0, std::numeric_limits<float>::quiet_NaN());
    r = melanoma("predict --model " + q(ckpt) + " --model " + q(nan) + " " + q(image));
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Catch::Contains("error: checkpoint '" + nan.string() + "': tensor '" + same +
                                         "' holds a NaN or infinite value (first at index 0)"));
    // the unpoisoned checkpoint still scores
    CHECK(melanoma("predict --model " + q(ckpt) + " " + q(image)).code == 0);
}

TEST_CASE("a checkpoint's metadata is checked key by key, and what is no checkpoint is named", "[examples][melanoma]") {
    const fs::path root = tiny_dataset("cli-bad-meta");
    REQUIRE(melanoma("train --data " + q(root) + " --epochs 1 --batch 4 --out " + q(root / "run")).code == 0);
    const fs::path ckpt = root / "run" / "best.safetensors";
    const fs::path image = root / "Test" / "melanoma" / "t1.png";
    const auto predict = [&](const fs::path& model) { return melanoma("predict --model " + q(model) + " " + q(image)); };
    const auto refused = [&](const fs::path& model, int code, const std::string& message) {
        const auto r = predict(model);
        CHECK(r.code == code);
        CHECK_THAT(r.output, Catch::Contains("error: checkpoint '" + model.string() + "'" + message));
    };
    refused(with_metadata(ckpt, "no-threshold.safetensors", "alert_threshold", nullptr), 1,
            " has no alert_threshold metadata");
    refused(with_metadata(ckpt, "word.safetensors", "alert_threshold", "high"), 1,
            ": its alert_threshold 'high' is not a number");
    refused(with_metadata(ckpt, "half-number.safetensors", "alert_threshold", "0.5x"), 1,
            ": its alert_threshold '0.5x' is not a number");
    refused(with_metadata(ckpt, "inf.safetensors", "alert_threshold", "inf"), 1,
            ": its alert_threshold 'inf' is not a probability in [0, 1]");
    refused(with_metadata(ckpt, "above.safetensors", "alert_threshold", "1.5"), 1,
            ": its alert_threshold '1.5' is not a probability in [0, 1]");
    refused(with_metadata(ckpt, "no-names.safetensors", "class_names", nullptr), 1, " has no class_names metadata");
    refused(with_metadata(ckpt, "string-names.safetensors", "class_names", "\"melanoma\""), 1,
            ": its class_names '\"melanoma\"' is not a JSON array of class names (strings)");
    refused(with_metadata(ckpt, "number-names.safetensors", "class_names", "[\"nevus\", 3]"), 1,
            ": its class_names '[\"nevus\", 3]' is not a JSON array of class names (strings)");
    refused(with_metadata(ckpt, "three-names.safetensors", "class_names", R"(["benign lesion","melanoma","nevus"])"), 1,
            ": its class_names lists 3 classes, its model has 2 outputs");
    refused(with_metadata(ckpt, "same-names.safetensors", "class_names", R"(["melanoma","melanoma"])"), 1,
            ": its class_names '[\"melanoma\",\"melanoma\"]' holds an empty or repeated name ('melanoma')");
    refused(with_metadata(ckpt, "long-names.safetensors", "class_names", std::string(1000, '[').c_str()), 1,
            ": its class_names '" + std::string(80, '[') + "... (1000 characters)' is not JSON");

    // a checkpoint of format 1 (written before checkpoints recorded their recipe) or of a later format is refused by
    // both, naming the formats, before any image is read
    const std::string format = " was written by an older version of melanoma train (checkpoint format 1; this program "
                               "reads format 2): train the model again with this version";
    const fs::path old = with_metadata(ckpt, "format-1.safetensors", "checkpoint_format", nullptr);
    refused(old, 2, format);
    auto r = melanoma("evaluate --data " + q(root) + " --model " + q(old) + " --out " + q(root / "ev-old"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("error: checkpoint '" + old.string() + "'" + format) && !Catch::Contains("Found"));
    refused(with_metadata(ckpt, "format-3.safetensors", "checkpoint_format", "3"), 2,
            " was written by another version of melanoma train (checkpoint format 3; this program reads format 2)");

    // the run's training state, its folder, and a tensor of another dtype
    refused(root / "run" / "backup.safetensors", 2,
            " is a training state (train writes it as backup.safetensors for train --resume), not a model checkpoint: "
            "use the run's best.safetensors or last.safetensors");
    r = melanoma("evaluate --data " + q(root) + " --model " + q(root / "run" / "backup.safetensors") + " --out " +
                 q(root / "ev"));
    CHECK(r.code == 2);
    CHECK_THAT(r.output, Catch::Contains("is a training state"));
    refused(root / "run", 2, " is a directory, not a checkpoint file");
    refused(root / "missing.safetensors", 2, " does not exist");
    auto file = ember::io::load_safetensors<float>(ckpt);
    const std::string name = file.tensors.begin()->first;
    const ember::Shape shape = file.tensors.begin()->second.shape();
    file.tensors.erase(name);
    file.integers[name] = {shape, std::vector<std::int64_t>(static_cast<std::size_t>(shape.numel()))};
    ember::io::save_safetensors(root / "int.safetensors", file);
    refused(root / "int.safetensors", 1, ": tensor '" + name + "' has dtype I64, the model uses F32");
}
