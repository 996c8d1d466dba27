#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <ember/io/safetensors.hpp>

#include "helpers.hpp"

using namespace ember;
namespace fs = std::filesystem;

namespace {
fs::path temp_file(const std::string& name) {
    return ember::test::scratch_root() / name;
}
/// A file made of an 8-byte length, `header` and `data`; `declared` overrides the length field.
void write_bytes(const fs::path& p, const std::string& header, const std::string& data,
                 std::uint64_t declared = std::numeric_limits<std::uint64_t>::max()) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    const std::uint64_t n = declared == std::numeric_limits<std::uint64_t>::max() ? header.size() : declared;
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header << data;
}
std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
template <class T>
std::string bytes_of(std::initializer_list<T> values) {
    std::string s(values.size() * sizeof(T), '\0');
    std::memcpy(s.data(), values.begin(), s.size());
    return s;
}
}  // namespace

TEMPLATE_TEST_CASE("safetensors round trip is bit-exact with metadata", "[data][safetensors]", float, double) {
    Generator gen(1);
    auto a = Tensor<TestType>::normal({3, 4}, 0, 1, gen);
    auto b = Tensor<TestType>::normal({5}, 0, 1, gen);
    b.data()[0] = std::numeric_limits<TestType>::denorm_min();
    b.data()[1] = -std::numeric_limits<TestType>::infinity();
    b.data()[2] = std::numeric_limits<TestType>::quiet_NaN();
    b.data()[3] = TestType(-0.0);
    auto s = Tensor<TestType>::scalar(TestType(0.1));
    auto empty = Tensor<TestType>::zeros({0, 3});
    const auto path = temp_file("roundtrip.safetensors");
    io::save_safetensors<TestType>(path, {{"layer.kernel", a}, {"layer.bias", b}, {"scalar", s}, {"empty", empty}},
                                     {{"classes", "[\"a\",\"b\"]"}, {"note", "ünïcödé"}});
    CHECK_FALSE(fs::exists(path.string() + ".tmp"));
    auto loaded = io::load_safetensors<TestType>(path);
    REQUIRE(loaded.tensors.size() == 4);
    CHECK(loaded.integers.empty());
    const auto same_bits = [](const Tensor<TestType>& x, const Tensor<TestType>& y) {
        return x.shape() == y.shape() &&
               std::memcmp(x.data(), y.data(), static_cast<std::size_t>(x.numel()) * sizeof(TestType)) == 0;
    };
    CHECK(same_bits(loaded.tensors.at("layer.kernel"), a));
    CHECK(same_bits(loaded.tensors.at("layer.bias"), b));
    CHECK(same_bits(loaded.tensors.at("scalar"), s));
    CHECK(loaded.tensors.at("scalar").shape() == Shape{});
    CHECK(loaded.tensors.at("empty").shape() == Shape{0, 3});
    CHECK(loaded.metadata.at("classes") == "[\"a\",\"b\"]");
    CHECK(loaded.metadata.at("note") == "ünïcödé");
    CHECK(loaded.dtypes.at("layer.bias") == (std::is_same_v<TestType, float> ? "F32" : "F64"));

    // The layout another reader expects: 8-byte length, JSON header padded to 8 bytes, data in the given order.
    const std::string file = read_all(path);
    std::uint64_t n = 0;
    std::memcpy(&n, file.data(), 8);
    CHECK(n % 8 == 0);
    const auto header = nlohmann::json::parse(file.substr(8, n));
    CHECK(header.at("layer.kernel").at("shape") == nlohmann::json::array({3, 4}));
    CHECK(header.at("layer.kernel").at("data_offsets") == nlohmann::json::array({0, 12 * sizeof(TestType)}));
    CHECK(header.at("layer.bias").at("data_offsets").at(0) == 12 * sizeof(TestType));
    CHECK(header.at("__metadata__").at("classes") == "[\"a\",\"b\"]");
    CHECK(file.size() == 8 + n + 18 * sizeof(TestType));
    CHECK(std::memcmp(file.data() + 8 + n, a.data(), 12 * sizeof(TestType)) == 0);
}

TEST_CASE("safetensors converts F32 <-> F64 on load and reads I32/I64 integer tensors", "[data][safetensors]") {
    const auto p = temp_file("mixed.safetensors");
    const std::string header =
        R"({"f":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("d":{"dtype":"F64","shape":[2],"data_offsets":[8,24]},)"
        R"("i":{"dtype":"I32","shape":[3],"data_offsets":[24,36]},)"
        R"("l":{"dtype":"I64","shape":[1,2],"data_offsets":[36,52]}})";
    write_bytes(p, header,
                bytes_of<float>({0.1f, -2.5f}) + bytes_of<double>({0.1, 1e300}) + bytes_of<std::int32_t>({-1, 0, 7}) +
                    bytes_of<std::int64_t>({std::int64_t(1) << 40, -3}));
    auto as_double = io::load_safetensors<double>(p);
    CHECK(as_double.tensors.at("f").to_vector() == std::vector<double>{double(0.1f), -2.5});
    CHECK(as_double.tensors.at("d").to_vector() == std::vector<double>{0.1, 1e300});
    CHECK(as_double.integers.at("i").shape == Shape{3});
    CHECK(as_double.integers.at("i").values == std::vector<std::int64_t>{-1, 0, 7});
    CHECK(as_double.integers.at("l").shape == Shape{1, 2});
    CHECK(as_double.integers.at("l").values == std::vector<std::int64_t>{std::int64_t(1) << 40, -3});
    CHECK(as_double.dtypes == std::map<std::string, std::string>{{"f", "F32"}, {"d", "F64"}, {"i", "I32"}, {"l", "I64"}});
    auto as_float = io::load_safetensors<float>(p);
    CHECK(as_float.tensors.at("f").to_vector() == std::vector<float>{0.1f, -2.5f});
    CHECK(as_float.tensors.at("d").data()[0] == 0.1f);
    CHECK(std::isinf(as_float.tensors.at("d").data()[1]));  // beyond float's range: IEEE conversion gives inf

    // everything a Safetensors holds is written back, integers as I64
    const auto q = temp_file("mixed2.safetensors");
    io::save_safetensors(q, as_double);
    auto again = io::load_safetensors<double>(q);
    CHECK(again.tensors.at("d").to_vector() == as_double.tensors.at("d").to_vector());
    CHECK(again.integers.at("i").values == as_double.integers.at("i").values);
    CHECK(again.dtypes.at("i") == "I64");
    CHECK(again.metadata.empty());
}

TEST_CASE("corrupt safetensors files are rejected with a message naming the file and the problem",
          "[data][safetensors][errors]") {
    const auto p = temp_file("bad.safetensors");
    const std::string where = "'" + p.string() + "'";
    const auto message = [&] { return test::error_message<IoError>([&] { (void)io::load_safetensors<float>(p); }); };

    SECTION("truncated before the header length") {
        std::ofstream(p, std::ios::binary | std::ios::trunc) << "abc";
        CHECK(message() == where + " is not a safetensors file: 3 bytes, shorter than the 8-byte header length");
    }
    SECTION("header length beyond the file") {
        write_bytes(p, "{}", "", 1000);
        CHECK(message() == where + " is truncated or not a safetensors file: header of 1000 bytes in a file of 10 bytes");
    }
    SECTION("malformed JSON, or JSON that is not an object") {
        write_bytes(p, "{not json", "");
        CHECK_THAT(message(), Catch::StartsWith(where + " has a malformed header: ") && Catch::Contains("parse error"));
        write_bytes(p, "", "");
        CHECK_THAT(message(), Catch::StartsWith(where + " has a malformed header: "));
        write_bytes(p, "[1, 2]", "");
        CHECK(message() == where + " has a malformed header: not a JSON object");
    }
    SECTION("unknown dtype") {
        write_bytes(p, R"({"w":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", "ab");
        CHECK(message() == where + ": tensor 'w' has dtype I8, only F32, F64, I32 and I64 are supported");
    }
    SECTION("offsets beyond the data (a truncated file)") {
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd");
        CHECK(message() == where + ": tensor 'w' has data offsets outside the 4 data bytes: [0, 8] (file truncated?)");
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", "abcdefgh");
        CHECK(message() == where + ": tensor 'w' has data offsets [8, 4] that end before they begin");
    }
    SECTION("a saved file cut in half") {
        io::save_safetensors<float>(p, {{"a", Tensor<float>::zeros({64})}, {"b", Tensor<float>::ones({64})}});
        fs::resize_file(p, fs::file_size(p) / 2);
        CHECK_THAT(message(), Catch::StartsWith(where + ": tensor '") &&
                                  Catch::Contains("' has data offsets outside the ") &&
                                  Catch::EndsWith("(file truncated?)"));
    }
    SECTION("offsets not matching shape x dtype size") {
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "abcdefgh");
        CHECK(message() == where + ": tensor 'w' of shape [3] and dtype F32 needs 12 bytes, its offsets give 8");
        write_bytes(p, R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", "abcdefgh");
        CHECK(message() == where + ": tensor 'w' has shape [4294967296,4294967296], too large to address");
    }
    SECTION("overlapping ranges, gaps and trailing bytes") {
        write_bytes(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    "abcdefgh");
        CHECK(message() == where + ": the data of tensors 'a' [0, 8) and 'b' [4, 8) overlap");
        write_bytes(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                    "abcdefghijkl");
        CHECK(message() == where + ": data bytes [4, 8) before tensor 'b' belong to no tensor");
        write_bytes(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "abcdefgh");
        CHECK(message() == where + ": 4 bytes after the last tensor's data belong to no tensor");
    }
    SECTION("malformed entries and metadata") {
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[2]}})", "");
        CHECK_THAT(message(), Catch::StartsWith(where + ": malformed entry for tensor 'w': expected an object with "
                                                        "dtype, shape and data_offsets, got {"));
        write_bytes(p, R"({"w":[1,2]})", "");
        CHECK_THAT(message(), Catch::StartsWith(where + ": malformed entry for tensor 'w'"));
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "");
        CHECK(message() == where + ": tensor 'w' has a malformed shape: -1 is not a non-negative integer");
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}})", "");
        CHECK(message() == where + ": tensor 'w' has a malformed shape: 1.5 is not a non-negative integer");
        write_bytes(p, R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", "abcdefgh");
        CHECK(message() == where + ": tensor 'w' has a malformed shape: 2");
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", "abcdefgh");
        CHECK(message() == where + ": tensor 'w' has malformed data_offsets: [0] is not [begin, end]");
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", "abcdefgh");
        CHECK(message() == where + ": tensor 'w' has a malformed data_offsets: -8 is not a non-negative integer");
        write_bytes(p, R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", "abcdefgh");
        CHECK(message() == where + ": tensor 'w' has a malformed dtype: 32");
        write_bytes(p, R"({"__metadata__":{"k":1}})", "");
        CHECK(message() == where + ": __metadata__ value of 'k' is not a string");
        write_bytes(p, R"({"__metadata__":"k"})", "");
        CHECK(message() == where + ": __metadata__ must be an object of strings");
    }
    SECTION("missing file") {
        const auto missing = temp_file("missing.safetensors");
        CHECK(test::error_message<IoError>([&] { (void)io::load_safetensors<float>(missing); }) ==
              "cannot open '" + missing.string() + "'");
    }
}

TEST_CASE("save_safetensors rejects bad names and unwritable places, leaving no temporary file",
          "[data][safetensors][errors]") {
    const auto p = temp_file("save.safetensors");
    const auto t = Tensor<float>::zeros({2});
    CHECK(test::error_message<ValueError>([&] { io::save_safetensors<float>(p, {{"w", t}, {"w", t}}); }) ==
          "save_safetensors '" + p.string() + "': duplicate or reserved tensor name 'w'");
    CHECK(test::error_message<ValueError>([&] { io::save_safetensors<float>(p, {{"__metadata__", t}}); }) ==
          "save_safetensors '" + p.string() + "': duplicate or reserved tensor name '__metadata__'");
    CHECK(test::error_message<ValueError>([&] { io::save_safetensors<float>(p, {{"w", Tensor<float>()}}); }) ==
          "save_safetensors '" + p.string() + "': tensor 'w' is undefined");
    io::Safetensors<float> bad;
    bad.integers["y"] = {Shape{3}, {1, 2}};
    CHECK(test::error_message<ValueError>([&] { io::save_safetensors(p, bad); }) ==
          "save_safetensors '" + p.string() + "': integer tensor 'y' of shape [3] holds 2 values");

    // a directory in the way of the rename: the old target stays, the temporary file is removed
    const auto dir = temp_file("a-directory.safetensors");
    fs::create_directories(dir / "inside");
    CHECK_THAT(test::error_message<IoError>([&] { io::save_safetensors<float>(dir, {{"w", t}}); }),
               Catch::StartsWith("cannot rename '" + dir.string() + ".tmp' to '" + dir.string() + "': "));
    CHECK(fs::is_directory(dir / "inside"));
    CHECK_FALSE(fs::exists(dir.string() + ".tmp"));
    const auto nowhere = temp_file("no-such-dir") / "x.safetensors";
    CHECK(test::error_message<IoError>([&] { io::save_safetensors<float>(nowhere, {{"w", t}}); }) ==
          "cannot write '" + nowhere.string() + ".tmp'");
}

TEST_CASE("a hostile header is refused before parsing: nesting, entry count, rank, and messages stay short",
          "[data][safetensors][errors]") {
    const auto p = temp_file("hostile.safetensors");
    const std::string where = "'" + p.string() + "'";
    const auto message = [&] { return test::error_message<IoError>([&] { (void)io::load_safetensors<float>(p); }); };

    SECTION("nesting 100,000 deep (nlohmann's recursive parser overflowed the stack): refused at level 9") {
        const std::size_t depth = 100'000;
        write_bytes(p, "{\"w\":" + std::string(depth, '[') + std::string(depth, ']') + "}", "");
        CHECK(message() == where + " has a malformed header: entry 'w' nests JSON deeper than 8 levels (at byte 12 of "
                                   "the header); a safetensors header needs 3");
        write_bytes(p, std::string(depth, '[') + std::string(depth, ']'), "");
        CHECK(message() == where + " has a malformed header: the header nests JSON deeper than 8 levels (at byte 8 of "
                                   "the header); a safetensors header needs 3");
        // unbalanced: the scan refuses it as well, before any parser sees it
        write_bytes(p, "{\"__metadata__\":" + std::string(depth, '{'), "");
        CHECK_THAT(message(), Catch::Contains("entry '__metadata__' nests JSON deeper than 8 levels"));
    }
    SECTION("8 levels pass the scan; brackets inside strings and escaped quotes do not count") {
        write_bytes(p, R"({"__metadata__":{"k":[[[[[["x"]]]]]]}})", "");
        CHECK(message() == where + ": __metadata__ value of 'k' is not a string");
        write_bytes(p, R"({"__metadata__":{"k":[[[[[[["x"]]]]]]]}})", "");
        CHECK_THAT(message(), Catch::Contains("entry '__metadata__' nests JSON deeper than 8 levels (at byte 27"));
        write_bytes(p, R"({"__metadata__":{"k\"[[[[[[[[[[":"\"[[[[[[[[[[[[{{{{{{{{{{\\"}})", "");
        const auto loaded = io::load_safetensors<float>(p);
        CHECK(loaded.metadata.at("k\"[[[[[[[[[[") == "\"[[[[[[[[[[[[{{{{{{{{{{\\");
    }
    SECTION("more entries than kSafetensorsMaxEntries, or a shape of 100,001 dimensions") {
        std::string many = "{";
        for (std::size_t i = 0; i <= io::kSafetensorsMaxEntries + 1; ++i) many += "\"t" + std::to_string(i) + "\":0,";
        many.back() = '}';
        write_bytes(p, many, "");
        CHECK_THAT(message(), Catch::StartsWith(where + " has a malformed header: more than 100000 entries (at byte "));
        std::string dims = R"({"w":{"dtype":"F32","shape":[)";
        for (std::size_t i = 0; i <= io::kSafetensorsMaxEntries; ++i) dims += "1,";
        dims.back() = ']';
        write_bytes(p, dims + R"(,"data_offsets":[0,4]}})", "abcd");
        CHECK_THAT(message(), Catch::StartsWith(where + " has a malformed header: entry 'w' holds a JSON array or "
                                                        "object of more than 100000 values (at byte "));
    }
    SECTION("a shape of rank 17") {
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})",
                    "abcd");
        CHECK(message() == where + ": tensor 'w' has a shape of 17 dimensions, more than the 16 supported");
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})",
                    "abcd");
        CHECK(io::load_safetensors<float>(p).tensors.at("w").shape().rank() == 16);
    }
    SECTION("a long value or name is quoted to about 80 characters") {
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[2],"junk":")" + std::string(100'000, 'x') + "\"}}", "");
        const std::string m = message();
        CHECK_THAT(m, Catch::StartsWith(where + ": malformed entry for tensor 'w': expected an object with dtype, "
                                                "shape and data_offsets, got {\"dtype\":\"F32\",\"junk\":\"xxx") &&
                          Catch::EndsWith("xxx..."));
        CHECK(m.size() < where.size() + 200);
        const std::string name(5000, 'n');
        write_bytes(p, "{\"" + name + R"(":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", "ab");
        CHECK(message() == where + ": tensor '" + std::string(80, 'n') +
                               "... (5000 characters)' has dtype I8, only F32, F64, I32 and I64 are supported");
        // a cut inside a UTF-8 sequence does not throw while the message is made
        std::string accents = "a";
        for (int i = 0; i < 100; ++i) accents += "\xc3\xa9";
        write_bytes(p, R"({"w":{"dtype":"F32","shape":[2],"junk":")" + accents + "\"}}", "");
        CHECK_THAT(message(), Catch::Contains("malformed entry for tensor 'w'"));
        CHECK(io::detail::brief(nlohmann::json::array({1, 2, "a"})) == "[1,2,\"a\"]");
    }
}

TEST_CASE("save_safetensors writes through fsync, into the current folder too", "[data][safetensors]") {
    // The folder of a bare file name is ".", which the folder's fsync opens.
    const fs::path dir = temp_file("cwd-save");
    fs::create_directories(dir);
    const fs::path previous = fs::current_path();
    fs::current_path(dir);
    io::save_safetensors<float>("bare.safetensors", {{"w", Tensor<float>::ones({3})}});
    fs::current_path(previous);
    CHECK(io::load_safetensors<float>(dir / "bare.safetensors").tensors.at("w").to_vector() == std::vector<float>{1, 1, 1});
    CHECK_FALSE(fs::exists(dir / "bare.safetensors.tmp"));
}
