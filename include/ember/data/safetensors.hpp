// ember/data/safetensors.hpp - read and write the safetensors format: an 8-byte little-endian header length, a
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the raw little-endian
// tensor bytes. PyTorch, NumPy and the Hugging Face tools read these files.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ember/core/error.hpp"
#include "ember/core/tensor.hpp"

namespace ember::data {

static_assert(std::endian::native == std::endian::little, "ember's safetensors I/O assumes a little-endian host");

/// The contents of a safetensors file: float tensors by name (F32 and F64 entries are converted to T) and the
/// string metadata.
template <Real T>
struct Safetensors {
    std::map<std::string, Tensor<T>> tensors;
    std::map<std::string, std::string> dtypes;  // the dtype each tensor had in the file ("F32", "F64")
    std::map<std::string, std::string> metadata;
};

namespace detail {
template <Real T>
constexpr const char* dtype_name() { return std::is_same_v<T, float> ? "F32" : "F64"; }
}  // namespace detail

/// Writes `tensors` (in the given order) and `metadata` to `path` atomically: the bytes go to "<path>.tmp",
/// which is then renamed over `path`, so a crash never leaves a half-written file. Throws IoError.
template <Real T>
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor<T>>>& tensors,
                      const std::map<std::string, std::string>& metadata = {}) {
    nlohmann::ordered_json header;
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::size_t offset = 0;
    for (const auto& [name, t] : tensors) {
        EMBER_CHECK(name != "__metadata__" && !header.contains(name), ValueError, "save_safetensors: duplicate or reserved tensor name '", name, "'");
        const std::size_t bytes = static_cast<std::size_t>(t.numel()) * sizeof(T);
        header[name] = {{"dtype", detail::dtype_name<T>()}, {"shape", t.shape().dims()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string json = header.dump();
    while ((json.size() + 8) % 8 != 0) json.push_back(' ');  // data starts 8-byte aligned, as the format recommends
    const auto tmp = std::filesystem::path(path.string() + ".tmp");
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        EMBER_CHECK(out.good(), IoError, "cannot write '", tmp.string(), "'");
        const std::uint64_t n = json.size();
        out.write(reinterpret_cast<const char*>(&n), 8);
        out.write(json.data(), static_cast<std::streamsize>(json.size()));
        for (const auto& [name, t] : tensors)
            out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.numel() * static_cast<index_t>(sizeof(T))));
        out.flush();
        EMBER_CHECK(out.good(), IoError, "error while writing '", tmp.string(), "' (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    EMBER_CHECK(!ec, IoError, "cannot rename '", tmp.string(), "' to '", path.string(), "': ", ec.message());
}

/// Reads a safetensors file, converting F32/F64 tensors to T. Checks the whole structure and throws IoError
/// naming the file and the problem: too short, header length beyond the file, malformed JSON, unknown dtype,
/// offsets out of range, overlapping or not matching shape x dtype.
template <Real T>
Safetensors<T> load_safetensors(const std::filesystem::path& path) {
    const std::string where = "'" + path.string() + "'";
    std::ifstream in(path, std::ios::binary);
    EMBER_CHECK(in.good(), IoError, "cannot open ", where);
    in.seekg(0, std::ios::end);
    const auto file_size = static_cast<std::uint64_t>(in.tellg());
    in.seekg(0);
    EMBER_CHECK(file_size >= 8, IoError, where, " is not a safetensors file: ", file_size, " bytes, shorter than the 8-byte header length");
    std::uint64_t header_len = 0;
    in.read(reinterpret_cast<char*>(&header_len), 8);
    EMBER_CHECK(header_len <= file_size - 8, IoError, where, " is truncated or not a safetensors file: header of ",
                header_len, " bytes in a file of ", file_size, " bytes");
    std::string json(header_len, '\0');
    in.read(json.data(), static_cast<std::streamsize>(header_len));
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(json);
    } catch (const nlohmann::json::exception& e) {
        throw IoError(ember::detail::cat(where, " has a malformed header: ", e.what()));
    }
    EMBER_CHECK(header.is_object(), IoError, where, " has a malformed header: not a JSON object");
    const std::uint64_t data_size = file_size - 8 - header_len;
    std::vector<char> data(data_size);
    in.read(data.data(), static_cast<std::streamsize>(data_size));
    EMBER_CHECK(in.good() || data_size == 0, IoError, "cannot read ", where);

    Safetensors<T> result;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            EMBER_CHECK(entry.is_object(), IoError, where, ": __metadata__ must be an object of strings");
            for (const auto& [k, v] : entry.items()) {
                EMBER_CHECK(v.is_string(), IoError, where, ": __metadata__ value of '", k, "' is not a string");
                result.metadata[k] = v.template get<std::string>();
            }
            continue;
        }
        try {
            const std::string dtype = entry.at("dtype").template get<std::string>();
            const auto dims = entry.at("shape").template get<std::vector<index_t>>();
            const auto offs = entry.at("data_offsets").template get<std::vector<std::uint64_t>>();
            EMBER_CHECK(dtype == "F32" || dtype == "F64", IoError, where, ": tensor '", name, "' has dtype ", dtype,
                        ", only F32 and F64 are supported");
            EMBER_CHECK(offs.size() == 2 && offs[0] <= offs[1] && offs[1] <= data_size, IoError, where, ": tensor '", name,
                        "' has data offsets outside the ", data_size, " data bytes (file truncated?)");
            const Shape shape{std::vector<index_t>(dims)};
            const std::uint64_t elem = dtype == "F32" ? 4 : 8;
            EMBER_CHECK(offs[1] - offs[0] == static_cast<std::uint64_t>(shape.numel()) * elem, IoError, where, ": tensor '",
                        name, "' of shape ", shape, " and dtype ", dtype, " needs ", shape.numel() * static_cast<index_t>(elem),
                        " bytes, its offsets give ", offs[1] - offs[0]);
            ranges.emplace_back(offs[0], offs[1]);
            Tensor<T> t = Tensor<T>::empty(shape);
            const char* src = data.data() + offs[0];
            for (index_t i = 0; i < shape.numel(); ++i) {
                if (elem == 4) {
                    float v;
                    std::memcpy(&v, src + i * 4, 4);
                    t.data()[i] = static_cast<T>(v);
                } else {
                    double v;
                    std::memcpy(&v, src + i * 8, 8);
                    t.data()[i] = static_cast<T>(v);
                }
            }
            result.tensors.emplace(name, std::move(t));
            result.dtypes.emplace(name, dtype);
        } catch (const nlohmann::json::exception& e) {
            throw IoError(ember::detail::cat(where, ": malformed entry for tensor '", name, "': ", e.what()));
        } catch (const ShapeError& e) {
            throw IoError(ember::detail::cat(where, ": tensor '", name, "' has an invalid shape: ", e.what()));
        }
    }
    std::sort(ranges.begin(), ranges.end());
    for (std::size_t i = 1; i < ranges.size(); ++i)
        EMBER_CHECK(ranges[i].first >= ranges[i - 1].second, IoError, where, ": tensor data ranges overlap");
    return result;
}

}  // namespace ember::data
