// ember/io/checkpoint.hpp - model checkpoints as safetensors files: the parameters under their names
// ("conv2d.kernel", ...) plus metadata: format version, input shape, architecture and anything the caller adds
// (class names, alert threshold). Written atomically; loading checks every name, dtype, shape and value.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "ember/io/safetensors.hpp"
#include "ember/nn/module.hpp"

namespace ember::io {

inline constexpr const char* kCheckpointFormat = "ember-checkpoint";
inline constexpr const char* kCheckpointVersion = "1";

/// "conv2d:Conv2D:[180, 180, 32];..." - the layer names, types and output shapes of a built model, so that a
/// checkpoint of another architecture is recognised before any weight is touched.
template <Real T>
std::string architecture_string(const nn::Module<T>& model) {
    return model.architecture();
}

namespace checkpoint_detail {
/// Where two different architecture strings part: "layer 5: dense:Dense:[3] in the checkpoint, dense:Dense:[4] in
/// the model", or which side has a layer the other lacks.
inline std::string first_layer_difference(const std::string& checkpoint, const std::string& model) {
    auto layers = [](const std::string& s) {
        std::vector<std::string> out;
        for (std::size_t begin = 0; begin < s.size();) {
            const std::size_t end = std::min(s.find(';', begin), s.size());
            out.push_back(s.substr(begin, end - begin));
            begin = end + 1;
        }
        return out;
    };
    const auto a = layers(checkpoint), b = layers(model);
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    const std::string layer = "layer " + std::to_string(i + 1);
    if (i < a.size() && i < b.size()) return layer + ": " + a[i] + " in the checkpoint, " + b[i] + " in the model";
    // one side has layer i, the other ends before it
    auto only_in = [&](const std::vector<std::string>& has, const char* where, const std::vector<std::string>& lacks,
                       const char* other) {
        return layer + " of " + std::to_string(has.size()) + " in the " + where + " (" + has[i] + ") is not in the " +
               other + ", which has " + std::to_string(lacks.size());
    };
    if (i < a.size()) return only_in(a, "checkpoint", b, "model");
    if (i < b.size()) return only_in(b, "model", a, "checkpoint");
    return "none (the same " + std::to_string(a.size()) + " layers)";
}

/// Checks what a file read from `path` says of itself against the built `model` - format `format` at `version`,
/// input shape, architecture - and returns how messages name it ("checkpoint '<path>'"). `kind` is "checkpoint"
/// or "training state". ValueError naming the first mismatch.
template <Real T>
std::string check_header(const io::Safetensors<T>& file, const std::filesystem::path& path, const std::string& kind,
                         const char* format, const char* version, const nn::Module<T>& model) {
    const std::string where = kind + " '" + path.string() + "'";
    auto meta = [&](const char* key) {
        auto it = file.metadata.find(key);
        return it == file.metadata.end() ? std::string("(missing)") : it->second;
    };
    EMBER_CHECK(meta("format") == format, ValueError, where, " is not an ember ", kind, " (format: ", meta("format"), ")");
    EMBER_CHECK(meta("format_version") == version, ValueError, where, " has format version ", meta("format_version"),
                ", this build reads version ", version);
    EMBER_CHECK(meta("input_shape") == model.input_shape().str(), ValueError, where, " is for input ",
                meta("input_shape"), ", the model takes ", model.input_shape());
    EMBER_CHECK(file.metadata.contains("architecture"), ValueError, where, " records no architecture");
    EMBER_CHECK(meta("architecture") == architecture_string(model), ValueError, where, " holds another architecture: ",
                first_layer_difference(meta("architecture"), architecture_string(model)));
    return where;
}

/// Checks that `file` holds tensor `name` with T's dtype and shape `shape` (ValueError otherwise; `hint` is added
/// to the message of a missing tensor, `who` names what expects the shape).
template <Real T>
void check_tensor(const io::Safetensors<T>& file, const std::string& where, const std::string& name, const Shape& shape,
                  const char* who = "the model", const std::string& hint = "") {
    auto it = file.tensors.find(name);
    EMBER_CHECK(it != file.tensors.end() || !file.integers.contains(name), ValueError, where, ": tensor '", name,
                "' has dtype ", file.dtypes.at(name), ", the model uses ", detail::dtype_name<T>());
    EMBER_CHECK(it != file.tensors.end(), ValueError, where, " has no tensor '", name, "'", hint);
    EMBER_CHECK(file.dtypes.at(name) == detail::dtype_name<T>(), ValueError, where, ": tensor '", name,
                "' has dtype ", file.dtypes.at(name), ", the model uses ", detail::dtype_name<T>());
    EMBER_CHECK(it->second.shape() == shape, ValueError, where, ": tensor '", name, "' has shape ", it->second.shape(),
                ", ", who, " expects ", shape);
}

/// The index of the first NaN or infinite value of `t`, or -1 where every value is finite. Tests the exponent bits
/// (all ones for NaN and infinities) rather than calling std::isfinite, which -ffinite-math-only may fold to true;
/// the integer OR over a block vectorises, and only a block that holds one is searched again.
template <Real T>
index_t first_non_finite(const Tensor<T>& t) {
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    constexpr auto exponent = static_cast<Bits>(sizeof(T) == 4 ? 0x7f800000ull : 0x7ff0000000000000ull);
    const T* data = t.data();
    const index_t n = t.numel();
    constexpr index_t block = 4096;
    for (index_t b = 0; b < n; b += block) {
        const index_t e = std::min(n, b + block);
        bool any = false;
        for (index_t i = b; i < e; ++i) {
            Bits bits;
            std::memcpy(&bits, data + i, sizeof bits);
            any |= (bits & exponent) == exponent;
        }
        if (!any) continue;
        for (index_t i = b; i < e; ++i) {
            Bits bits;
            std::memcpy(&bits, data + i, sizeof bits);
            if ((bits & exponent) == exponent) return i;
        }
    }
    return -1;
}

/// Checks that tensor `name` of `file` holds only finite values (ValueError naming it and the first bad index;
/// `kind` is "checkpoint" or "training state"): a NaN or infinite weight makes every prediction NaN, which no
/// comparison with a threshold ever flags.
template <Real T>
void check_finite(const io::Safetensors<T>& file, const std::string& where, const std::string& name,
                  const std::string& kind) {
    const index_t i = first_non_finite(file.tensors.at(name));
    EMBER_CHECK(i < 0, ValueError, where, ": tensor '", name, "' holds a NaN or infinite value (first at index ", i,
                "): the ", kind, " is corrupt or was written by a diverged run");
}
}  // namespace checkpoint_detail

/// Saves the parameters of a built `model` and `metadata` to `path` (atomically: written to "<path>.tmp", then
/// renamed). Adds format, format_version, input_shape and architecture to the metadata.
template <Real T>
void save_checkpoint(const std::filesystem::path& path, const nn::Module<T>& model,
                     std::map<std::string, std::string> metadata = {}) {
    EMBER_CHECK(model.built(), StateError, "save_checkpoint: the model is not built");
    metadata["format"] = kCheckpointFormat;
    metadata["format_version"] = kCheckpointVersion;
    metadata["input_shape"] = model.input_shape().str();
    metadata["architecture"] = architecture_string(model);
    std::vector<std::pair<std::string, Tensor<T>>> tensors;
    for (auto& p : model.named_weights()) tensors.emplace_back(p.name, p.value);
    io::save_safetensors<T>(path, tensors, metadata);
}

/// Reads a checkpoint's metadata and checks it against the built `model`, then copies every parameter in.
/// Throws IoError for an unreadable, truncated or malformed file, and ValueError naming the first mismatch
/// (another format, architecture, missing or extra tensor, dtype, shape) or the first tensor that holds a NaN or
/// an infinity - in which case the model is left unchanged.
/// Returns the metadata.
template <Real T>
std::map<std::string, std::string> load_checkpoint(const std::filesystem::path& path, nn::Module<T>& model) {
    EMBER_CHECK(model.built(), StateError, "load_checkpoint: build the model before loading '", path.string(), "'");
    auto file = io::load_safetensors<T>(path);
    const std::string where =
        checkpoint_detail::check_header(file, path, "checkpoint", kCheckpointFormat, kCheckpointVersion, model);
    const auto params = model.named_weights();  // parameters and buffers (moving statistics)
    for (const auto& p : params) checkpoint_detail::check_tensor(file, where, p.name, p.value.shape());
    if (file.dtypes.size() != params.size())  // every parameter was found above: the file has more; name one
        // float and integer tensors; not a structured binding: clang 14 cannot capture one
        for (const auto& entry : file.dtypes) {
            const std::string& name = entry.first;
            EMBER_CHECK(std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.name == name; }),
                        ValueError, where, " has a tensor '", detail::shown(name), "' the model does not have (",
                        file.dtypes.size(), " tensors, the model has ", params.size(), " weights)");
        }
    for (const auto& p : params) checkpoint_detail::check_finite(file, where, p.name, "checkpoint");
    for (const auto& p : params) {
        Tensor<T> dst = p.value;
        dst.copy_from(file.tensors.at(p.name));
    }
    return file.metadata;
}

/// Reads only the metadata of a checkpoint (class names, threshold, ...) without a model.
inline std::map<std::string, std::string> read_checkpoint_metadata(const std::filesystem::path& path) {
    return io::load_safetensors<float>(path).metadata;
}

}  // namespace ember::io
