// tests/examples/melanoma_cli.hpp - what the tests of the melanoma program share: running it, the small datasets
// and recipe files they write, and reading the checkpoints it writes.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <ember/io/safetensors.hpp>
#include <ember/vision/color.hpp>
#include <ember/vision/image.hpp>

#include "image_files.hpp"

namespace melanoma_cli {

namespace fs = std::filesystem;
using ember::test::fresh_dir;
using ember::test::write_image;
using ember::test::write_text;

struct Run {
    int code = 0;
    std::string output;  // stdout and stderr together
};

/// Runs the program with `args`; `env` ("NAME=value ...") prefixes the command, for its environment.
inline Run melanoma(const std::string& args, const std::string& env = "") {
    // ctest runs test cases in parallel processes: each run gets its own log file
    static int runs = 0;
    const fs::path log = ember::test::scratch_root() / ("melanoma-cli-" + std::to_string(runs++) + ".log");
    fs::create_directories(log.parent_path());
    const std::string cmd = env + " '" + MELANOMA_BIN + "' " + args + " > '" + log.string() + "' 2>&1";
    const int status = std::system(cmd.c_str());
    Run r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    r.output = ss.str();
    fs::remove(log);
    return r;
}

inline std::string q(const fs::path& p) { return std::string("'").append(p.string()).append("'"); }

/// A file's bytes.
inline std::string bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/// A safetensors checkpoint's tensor bytes: what follows its 8-byte length and JSON header.
inline std::string tensor_bytes(const std::string& ckpt) {
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(ckpt[static_cast<std::size_t>(i)]);
    return ckpt.substr(8 + n);
}

/// A recipe file named `name`.json in this test process's scratch folder, holding `json_text` as it is (so that
/// a test can write invalid JSON too).
inline fs::path recipe_file(const std::string& name, const std::string& json_text) {
    const fs::path file = ember::test::scratch_root() / "recipes" / (name + ".json");
    write_text(file, json_text);
    return file;
}

/// `--recipe '<file>'` for a recipe file written as recipe_file() writes it: what the tests give train, cv and
/// release where they used to give the options a recipe now holds.
inline std::string recipe_arg(const std::string& name, const std::string& json_text) {
    return "--recipe " + q(recipe_file(name, json_text));
}

/// The metadata of a safetensors file (a checkpoint or backup.safetensors), from its header.
inline std::map<std::string, std::string> checkpoint_metadata(const fs::path& file) {
    const std::string b = bytes(file);
    REQUIRE(b.size() >= 8);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
    const auto header = nlohmann::json::parse(b.substr(8, n));
    return header.value("__metadata__", nlohmann::json::object()).get<std::map<std::string, std::string>>();
}

/// The recipe a checkpoint records (its metadata "recipe": every field, at the value the run trained with).
inline nlohmann::json checkpoint_recipe(const fs::path& file) {
    const auto meta = checkpoint_metadata(file);
    REQUIRE(meta.count("recipe") == 1);
    return nlohmann::json::parse(meta.at("recipe"));
}

/// A copy of `ckpt` named `name` beside it with metadata `key` set to `value` (erased where `value` is null).
inline fs::path with_metadata(const fs::path& ckpt, const std::string& name, const std::string& key, const char* value) {
    auto file = ember::io::load_safetensors<float>(ckpt);
    if (value)
        file.metadata[key] = value;
    else
        file.metadata.erase(key);
    const fs::path out = ckpt.parent_path() / name;
    ember::io::save_safetensors(out, file);
    return out;
}

/// Two classes ("benign lesion", "melanoma") of small PNG images: `per_class` of each in Train, one in Test.
inline fs::path tiny_dataset(const std::string& name, int per_class = 6) {
    const fs::path root = fresh_dir(name);
    for (int i = 0; i < per_class; ++i) {
        write_image(root / "Train" / "benign lesion" / std::string("b").append(std::to_string(i)).append(".png"), 24, 20, 3, i);
        write_image(root / "Train" / "melanoma" / std::string("m").append(std::to_string(i)).append(".png"), 20, 24, 3, 100 + i);
    }
    write_image(root / "Test" / "benign lesion" / "t0.png", 24, 24, 3, 7);
    write_image(root / "Test" / "melanoma" / "t1.png", 24, 24, 3, 107);
    return root;
}

/// Two classes a model learns in one epoch: dark "benign lesion" and bright "melanoma" images (a faint diagonal
/// texture each), 6 of each in Train.
inline fs::path separable_dataset(const std::string& name) {
    const fs::path root = fresh_dir(name);
    const auto write = [](const fs::path& p, int w, int h, int level) {
        std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * 3));
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int c = 0; c < 3; ++c) px[static_cast<std::size_t>((y * w + x) * 3 + c)] = static_cast<std::uint8_t>(level + (x + y) % 7);
        ember::test::write_pixels(p, w, h, 3, px);
    };
    for (int i = 0; i < 6; ++i) {
        write(root / "Train" / "benign lesion" / std::string("b").append(std::to_string(i)).append(".png"), 24, 20, 30 + 3 * i);
        write(root / "Train" / "melanoma" / std::string("m").append(std::to_string(i)).append(".png"), 20, 24, 200 + 3 * i);
    }
    return root;
}

/// A PNG whose header declares a zero width.
inline void write_zero_width_png(const fs::path& p) {
    const unsigned char bytes[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                   0, 0, 0, 0, 0, 0, 0, 10, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

}  // namespace melanoma_cli
