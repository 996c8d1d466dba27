// examples/melanoma/basics.hpp - the names every file of the melanoma program uses: the fs and json aliases,
// UsageError, and exact(), the text of a number as the options' records and the checkpoints keep it.
#pragma once

#include <nlohmann/json.hpp>

#include <charconv>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace melanoma {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// A usage problem: reported as "error: ..." with exit code 2 (bad input) rather than a crash.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The version of the checkpoints train writes (metadata "checkpoint_format"): 2 records the whole recipe.
/// Checkpoints of version 1 (no such entry) are refused with a message that names the version, not guessed at.
inline constexpr int kCheckpointFormat = 2;

/// A double as the shortest text that reads back to the same value.
inline std::string exact(double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

}  // namespace melanoma
