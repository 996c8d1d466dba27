#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <ember/data/safetensors.hpp>

#include "helpers.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
fs::path temp_file(const std::string& name) {
    const auto dir = fs::temp_directory_path() / "ember-tests";
    fs::create_directories(dir);
    return dir / name;
}
void write_bytes(const fs::path& p, const std::string& header, const std::string& data) {
    std::ofstream out(p, std::ios::binary);
    const std::uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header << data;
}
}  // namespace

TEMPLATE_TEST_CASE("safetensors round trip is bit-exact with metadata", "[data][safetensors]", float, double) {
    Generator gen(1);
    auto a = Tensor<TestType>::normal({3, 4}, 0, 1, gen);
    auto b = Tensor<TestType>::normal({5}, 0, 1, gen);
    const auto path = temp_file("roundtrip.safetensors");
    data::save_safetensors<TestType>(path, {{"layer.kernel", a}, {"layer.bias", b}}, {{"classes", "[\"a\",\"b\"]"}});
    CHECK_FALSE(fs::exists(path.string() + ".tmp"));
    auto loaded = data::load_safetensors<TestType>(path);
    REQUIRE(loaded.tensors.size() == 2);
    CHECK(loaded.tensors.at("layer.kernel").shape() == Shape{3, 4});
    CHECK(loaded.tensors.at("layer.kernel").to_vector() == a.to_vector());
    CHECK(loaded.tensors.at("layer.bias").to_vector() == b.to_vector());
    CHECK(loaded.metadata.at("classes") == "[\"a\",\"b\"]");
    CHECK(loaded.dtypes.at("layer.bias") == (std::is_same_v<TestType, float> ? "F32" : "F64"));
    // the data section starts 8-byte aligned
    std::ifstream in(path, std::ios::binary);
    std::uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    CHECK(n % 8 == 0);
}

TEST_CASE("corrupt safetensors files are rejected with a message naming the problem", "[data][safetensors][errors]") {
    const auto p = temp_file("bad.safetensors");
    const std::string where = "'" + p.string() + "'";
    {
        std::ofstream out(p, std::ios::binary);
        out << "abc";
    }
    CHECK(test::error_message<IoError>([&] { data::load_safetensors<float>(p); }) ==
          where + " is not a safetensors file: 3 bytes, shorter than the 8-byte header length");
    write_bytes(p, "{}", "");
    {
        std::ofstream out(p, std::ios::binary);
        const std::uint64_t n = 1000;
        out.write(reinterpret_cast<const char*>(&n), 8);
        out << "{}";
    }
    CHECK(test::error_message<IoError>([&] { data::load_safetensors<float>(p); }) ==
          where + " is truncated or not a safetensors file: header of 1000 bytes in a file of 10 bytes");
    write_bytes(p, "{not json", "");
    CHECK_THAT(test::error_message<IoError>([&] { data::load_safetensors<float>(p); }), Catch::StartsWith(where + " has a malformed header: "));
    write_bytes(p, R"({"w":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", "ab");
    CHECK(test::error_message<IoError>([&] { data::load_safetensors<float>(p); }) ==
          where + ": tensor 'w' has dtype I8, only F32 and F64 are supported");
    write_bytes(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd");
    CHECK(test::error_message<IoError>([&] { data::load_safetensors<float>(p); }) ==
          where + ": tensor 'w' has data offsets outside the 4 data bytes (file truncated?)");
    write_bytes(p, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "abcdefgh");
    CHECK(test::error_message<IoError>([&] { data::load_safetensors<float>(p); }) ==
          where + ": tensor 'w' of shape [3] and dtype F32 needs 12 bytes, its offsets give 8");
    write_bytes(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                "abcdefgh");
    CHECK(test::error_message<IoError>([&] { data::load_safetensors<float>(p); }) == where + ": tensor data ranges overlap");
    write_bytes(p, R"({"w":{"dtype":"F32","shape":[2]}})", "");
    CHECK_THAT(test::error_message<IoError>([&] { data::load_safetensors<float>(p); }),
               Catch::StartsWith(where + ": malformed entry for tensor 'w': "));
    CHECK(test::error_message<IoError>([&] { data::load_safetensors<float>(temp_file("missing.safetensors")); }) ==
          "cannot open '" + temp_file("missing.safetensors").string() + "'");
}
