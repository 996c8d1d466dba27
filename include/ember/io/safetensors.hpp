// ember/io/safetensors.hpp - read and write the safetensors format: an 8-byte little-endian header length, a
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the raw little-endian
// row-major tensor bytes. PyTorch, NumPy and the Hugging Face tools read these files.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ember/core/error.hpp"
#include "ember/core/tensor.hpp"

namespace ember::io {

static_assert(std::endian::native == std::endian::little, "ember's safetensors I/O assumes a little-endian host");

/// An integer tensor (dtype I32 or I64 in the file, e.g. class labels), its values widened to int64, row-major.
struct IntTensor {
    Shape shape;
    std::vector<std::int64_t> values;
};

/// The contents of a safetensors file: float tensors by name (F32 and F64 entries are converted to T), integer
/// tensors by name (I32 and I64 entries), the dtype each entry had in the file, and the string metadata.
template <Real T>
struct Safetensors {
    std::map<std::string, Tensor<T>> tensors;
    std::map<std::string, IntTensor> integers;
    std::map<std::string, std::string> dtypes;  // "F32", "F64", "I32" or "I64", for every entry above
    std::map<std::string, std::string> metadata;
};

/// The largest JSON header accepted, as in the reference implementation (huggingface/safetensors).
inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;
/// The deepest nesting of JSON arrays and objects accepted in a header. A valid header needs 3 ({name: {shape:
/// [..]}}); the bound is checked by one scan before nlohmann's parser, which recurses once per level and overflows
/// the stack near 100,000 levels (Note [bounded header]).
inline constexpr std::size_t kSafetensorsMaxDepth = 8;
/// The most entries (tensors, plus __metadata__) a header may hold, and the most members of any JSON array or
/// object in it, so that a forged header cannot make the parser build millions of values.
inline constexpr std::size_t kSafetensorsMaxEntries = 100'000;
/// The highest rank of a tensor's shape accepted.
inline constexpr std::size_t kSafetensorsMaxRank = 16;

// Note [bounded header]
// A safetensors header comes from a file, which may be forged or damaged: every figure it gives is bounded before
// it is used (header length, nesting depth, entry count, rank, offsets), and no message quotes more than ~80
// characters of it (detail::brief, detail::shown), so that a hostile header gives an IoError, never a crash, a
// stack overflow or a message of megabytes.

namespace detail {
template <Real T>
constexpr const char* dtype_name() { return std::is_same_v<T, float> ? "F32" : "F64"; }

/// Bytes per element of a dtype ember reads, 0 for any other.
inline std::uint64_t dtype_size(const std::string& dtype) {
    if (dtype == "F32" || dtype == "I32") return 4;
    if (dtype == "F64" || dtype == "I64") return 8;
    return 0;
}

/// `text` for a message: at most `limit` characters, then "..." and its full length where it was longer.
inline std::string shown(std::string_view text, std::size_t limit = 80) {
    if (text.size() <= limit) return std::string(text);
    return ember::detail::cat(text.substr(0, limit), "... (", text.size(), " characters)");
}

/// Appends `j` as compact JSON to `out`, stopping once `out` holds more than `limit` characters (the depth of `j`
/// is bounded by kSafetensorsMaxDepth, so the recursion is too).
inline void brief_into(const nlohmann::json& j, std::string& out, std::size_t limit) {
    if (out.size() > limit) return;
    if (j.is_object() || j.is_array()) {
        out += j.is_object() ? '{' : '[';
        bool first = true;
        for (auto it = j.begin(); it != j.end() && out.size() <= limit; ++it) {
            if (!first) out += ',';
            first = false;
            if (j.is_object()) {
                brief_into(nlohmann::json(it.key()), out, limit);
                out += ':';
            }
            brief_into(*it, out, limit);
        }
        out += j.is_object() ? '}' : ']';
    } else if (j.is_string()) {
        // replace: a cut may split a UTF-8 sequence, which a strict dump() would throw on
        out += nlohmann::json(std::string_view(j.get_ref<const std::string&>()).substr(0, limit))
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
        out += j.dump();
    }
}

/// A header value for a message: its compact JSON, cut to about 80 characters (Note [bounded header]).
inline std::string brief(const nlohmann::json& j, std::size_t limit = 80) {
    std::string out;
    brief_into(j, out, limit);
    if (out.size() > limit) {
        out.resize(limit);
        out += "...";
    }
    return out;
}

/// One entry to write: name, dtype, shape and the bytes (already little-endian, row-major).
struct RawEntry {
    std::string name;
    const char* dtype;
    std::vector<index_t> dims;
    const void* bytes;
    std::size_t size;
};

/// Writes `entries` and `metadata` to "<path>.tmp", then renames it over `path`. On any failure the temporary
/// file is removed and `path` is left as it was.
inline void write_safetensors(const std::filesystem::path& path, const std::vector<RawEntry>& entries,
                              const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const auto& e : entries) {
        EMBER_CHECK(e.name != "__metadata__" && !header.contains(e.name), ValueError, "save_safetensors '",
                    path.string(), "': duplicate or reserved tensor name '", e.name, "'");
        header[e.name] = {{"dtype", e.dtype}, {"shape", e.dims}, {"data_offsets", {offset, offset + e.size}}};
        offset += e.size;
    }
    std::string json = header.dump();
    json.append((8 - json.size() % 8) % 8, ' ');  // the data starts 8-byte aligned, as the format recommends

    const auto tmp = std::filesystem::path(path.string() + ".tmp");
    const auto fail = [&](const std::string& what) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        throw IoError(what);
    };
    // POSIX (Linux) I/O rather than std::ofstream, for fsync: the data reach the disk before the rename makes them
    // `path`, and the folder's new entry after it, so that a power loss leaves the old file or the new one, never
    // an empty or half-written one (ext4's and xfs's delayed allocation can otherwise lose both).
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) fail(ember::detail::cat("cannot write '", tmp.string(), "'"));
    const auto write_all = [&](const void* bytes, std::size_t size) {
        const char* p = static_cast<const char*>(bytes);
        while (size > 0) {
            const ssize_t n = ::write(fd, p, size);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            p += n;
            size -= static_cast<std::size_t>(n);
        }
        return true;
    };
    const std::uint64_t n = json.size();
    bool ok = write_all(&n, 8) && write_all(json.data(), json.size());
    for (const auto& e : entries) ok = ok && write_all(e.bytes, e.size);
    const int write_errno = ok ? 0 : errno;
    const bool synced = ok && ::fsync(fd) == 0;
    const int sync_errno = synced ? 0 : errno;
    const bool closed = ::close(fd) == 0;  // NFS reports some write errors only here
    if (!ok)
        fail(ember::detail::cat("error while writing '", tmp.string(), "': ", std::generic_category().message(write_errno),
                                " (disk full?)"));
    if (!synced)
        fail(ember::detail::cat("error while writing '", tmp.string(), "': fsync failed: ",
                                std::generic_category().message(sync_errno)));
    if (!closed) fail(ember::detail::cat("error while writing '", tmp.string(), "': close failed (disk full?)"));
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) fail(ember::detail::cat("cannot rename '", tmp.string(), "' to '", path.string(), "': ", ec.message()));
    // The rename is durable once the folder is synced. EINVAL: a file system that cannot sync a folder (some
    // network and FUSE ones), where there is nothing more to do.
    const auto folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const bool dir_synced = dfd >= 0 && (::fsync(dfd) == 0 || errno == EINVAL);
    const int dir_errno = dir_synced ? 0 : errno;
    if (dfd >= 0) ::close(dfd);
    if (!dir_synced)
        throw IoError(ember::detail::cat("'", path.string(), "' was written, but its folder '", folder.string(),
                                         "' could not be synced (", std::generic_category().message(dir_errno),
                                         "): a power loss may lose it"));
}

/// A non-negative integer of a header field, or IoError naming the file, tensor and field.
inline std::uint64_t header_uint(const nlohmann::json& v, const std::string& where, const std::string& name,
                                 const char* field) {
    EMBER_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0), IoError, where,
                ": tensor '", shown(name), "' has a malformed ", field, ": ", brief(v), " is not a non-negative integer");
    return v.get<std::uint64_t>();
}
}  // namespace detail

/// Writes `tensors` (as F32 for float, F64 for double, in the given order) and `metadata` to `path`
/// atomically: the bytes go to "<path>.tmp", which is then renamed over `path`, so an interrupted write never
/// leaves a half-written file under `path`. Throws ValueError for a duplicate, reserved ("__metadata__") or
/// undefined tensor, IoError when the file cannot be written.
template <Real T>
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor<T>>>& tensors,
                      const std::map<std::string, std::string>& metadata = {}) {
    std::vector<detail::RawEntry> entries;
    for (const auto& [name, t] : tensors) {
        EMBER_CHECK(t.defined(), ValueError, "save_safetensors '", path.string(), "': tensor '", name,
                    "' is undefined");
        entries.push_back({name, detail::dtype_name<T>(), t.shape().dims(), t.data(),
                           static_cast<std::size_t>(t.numel()) * sizeof(T)});
    }
    detail::write_safetensors(path, entries, metadata);
}

/// Writes everything `contents` holds: its float tensors (as F32 for float, F64 for double), its integer
/// tensors as I64, and its metadata; tensors in name order. Atomic and throwing as the overload above.
template <Real T>
void save_safetensors(const std::filesystem::path& path, const Safetensors<T>& contents) {
    std::vector<detail::RawEntry> entries;
    for (const auto& [name, t] : contents.tensors) {
        EMBER_CHECK(t.defined(), ValueError, "save_safetensors '", path.string(), "': tensor '", name,
                    "' is undefined");
        entries.push_back({name, detail::dtype_name<T>(), t.shape().dims(), t.data(),
                           static_cast<std::size_t>(t.numel()) * sizeof(T)});
    }
    for (const auto& [name, t] : contents.integers) {
        EMBER_CHECK(static_cast<index_t>(t.values.size()) == t.shape.numel(), ValueError, "save_safetensors '",
                    path.string(), "': integer tensor '", name, "' of shape ", t.shape, " holds ", t.values.size(),
                    " values");
        entries.push_back({name, "I64", t.shape.dims(), t.values.data(), t.values.size() * sizeof(std::int64_t)});
    }
    detail::write_safetensors(path, entries, contents.metadata);
}

namespace detail {
/// One tensor's entry of a safetensors header, checked: its dtype, shape and byte range in the data section.
struct Entry {
    std::string name, dtype;
    Shape shape;
    std::uint64_t begin, end;
};

/// Checks, in one pass over the raw bytes, that a JSON header nests arrays and objects at most
/// kSafetensorsMaxDepth deep and that no array or object has more than kSafetensorsMaxEntries members (brackets
/// and commas inside strings, escaped quotes included, do not count). IoError naming the file and the entry (the
/// last key read at the top level) otherwise. The JSON itself is checked by the parser that follows.
inline void check_header_bounds(std::string_view json, const std::string& where) {
    std::size_t depth = 0;
    std::size_t members[kSafetensorsMaxDepth + 1] = {};  // commas seen in each open container
    std::string_view key;                                // the last string closed at depth 1: the current entry
    const auto entry = [&] {
        return key.data() == nullptr ? std::string("the header") : ember::detail::cat("entry '", shown(key), "'");
    };
    for (std::size_t i = 0; i < json.size(); ++i) {
        const char c = json[i];
        if (c == '"') {
            const std::size_t begin = ++i;
            while (i < json.size() && json[i] != '"') i += json[i] == '\\' ? 2 : 1;
            if (depth == 1) key = json.substr(begin, std::min(i, json.size()) - begin);
        } else if (c == '{' || c == '[') {
            EMBER_CHECK(depth < kSafetensorsMaxDepth, IoError, where, " has a malformed header: ", entry(),
                        " nests JSON deeper than ", kSafetensorsMaxDepth, " levels (at byte ", i,
                        " of the header); a safetensors header needs 3");
            members[++depth] = 0;
        } else if (c == '}' || c == ']') {
            if (depth > 0) --depth;  // an unbalanced bracket is the parser's to report
        } else if (c == ',' && depth > 0) {
            EMBER_CHECK(++members[depth] < kSafetensorsMaxEntries + (depth == 1), IoError, where,
                        " has a malformed header: ",
                        depth == 1 ? ember::detail::cat("more than ", kSafetensorsMaxEntries, " entries")
                                   : ember::detail::cat(entry(), " holds a JSON array or object of more than ",
                                                        kSafetensorsMaxEntries, " values"),
                        " (at byte ", i, " of the header)");
        }
    }
}

/// Reads and parses the JSON header of an open file of `file_size` bytes; returns it and its length.
inline std::pair<nlohmann::json, std::uint64_t> read_header(std::ifstream& in, const std::string& where,
                                                            std::uint64_t file_size) {
    EMBER_CHECK(file_size >= 8, IoError, where, " is not a safetensors file: ", file_size,
                " bytes, shorter than the 8-byte header length");
    std::uint64_t header_len = 0;
    in.read(reinterpret_cast<char*>(&header_len), 8);
    EMBER_CHECK(header_len <= file_size - 8, IoError, where, " is truncated or not a safetensors file: header of ",
                header_len, " bytes in a file of ", file_size, " bytes");
    EMBER_CHECK(header_len <= kSafetensorsMaxHeader, IoError, where, " has a header of ", header_len,
                " bytes, more than the format's limit of ", kSafetensorsMaxHeader);
    std::string json(static_cast<std::size_t>(header_len), '\0');
    in.read(json.data(), static_cast<std::streamsize>(header_len));
    EMBER_CHECK(in.good(), IoError, "cannot read the header of ", where);
    check_header_bounds(json, where);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(json);
    } catch (const nlohmann::json::exception& e) {  // its "last read: '...'" may quote a long token
        throw IoError(ember::detail::cat(where, " has a malformed header: ", shown(e.what(), 200)));
    }
    EMBER_CHECK(header.is_object(), IoError, where, " has a malformed header: not a JSON object");
    return {std::move(header), header_len};
}

/// The shape of entry `name` from its JSON array, and its size in bytes at `elem` bytes per value (checked
/// for overflow).
inline std::pair<Shape, std::uint64_t> parse_shape(const nlohmann::json& js, std::uint64_t elem, const std::string& where,
                                                   const std::string& name) {
    EMBER_CHECK(js.is_array(), IoError, where, ": tensor '", shown(name), "' has a malformed shape: ", brief(js));
    EMBER_CHECK(js.size() <= kSafetensorsMaxRank, IoError, where, ": tensor '", shown(name), "' has a shape of ",
                js.size(), " dimensions, more than the ", kSafetensorsMaxRank, " supported");
    std::vector<index_t> dims;
    std::uint64_t bytes = elem;
    bool overflow = false;
    for (const auto& d : js) {
        const std::uint64_t v = header_uint(d, where, name, "shape");
        overflow = overflow || v > static_cast<std::uint64_t>(std::numeric_limits<index_t>::max()) ||
                   (v != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / v);
        if (!overflow) bytes *= v;
        dims.push_back(overflow ? 0 : static_cast<index_t>(v));
    }
    EMBER_CHECK(!overflow, IoError, where, ": tensor '", shown(name), "' has shape ", brief(js), ", too large to address");
    return {Shape(std::move(dims)), bytes};
}

/// Checks one tensor entry of the header against a data section of `data_size` bytes.
inline Entry parse_entry(const std::string& name, const nlohmann::json& entry, const std::string& where,
                         std::uint64_t data_size) {
    EMBER_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") && entry.contains("data_offsets"),
                IoError, where, ": malformed entry for tensor '", shown(name),
                "': expected an object with dtype, shape and data_offsets, got ", brief(entry));
    const auto& jd = entry["dtype"];
    const auto& jo = entry["data_offsets"];
    EMBER_CHECK(jd.is_string(), IoError, where, ": tensor '", shown(name), "' has a malformed dtype: ", brief(jd));
    const std::string dtype = jd.template get<std::string>();
    const std::uint64_t elem = dtype_size(dtype);
    EMBER_CHECK(elem != 0, IoError, where, ": tensor '", shown(name), "' has dtype ", shown(dtype),
                ", only F32, F64, I32 and I64 are supported");
    auto [shape, bytes] = parse_shape(entry["shape"], elem, where, name);
    EMBER_CHECK(jo.is_array() && jo.size() == 2, IoError, where, ": tensor '", shown(name),
                "' has malformed data_offsets: ", brief(jo), " is not [begin, end]");
    const std::uint64_t begin = header_uint(jo[0], where, name, "data_offsets");
    const std::uint64_t end = header_uint(jo[1], where, name, "data_offsets");
    EMBER_CHECK(begin <= end, IoError, where, ": tensor '", shown(name), "' has data offsets [", begin, ", ", end,
                "] that end before they begin");
    EMBER_CHECK(end <= data_size, IoError, where, ": tensor '", shown(name), "' has data offsets outside the ", data_size,
                " data bytes: [", begin, ", ", end, "] (file truncated?)");
    EMBER_CHECK(end - begin == bytes, IoError, where, ": tensor '", shown(name), "' of shape ", shape, " and dtype ", dtype,
                " needs ", bytes, " bytes, its offsets give ", end - begin);
    return {name, dtype, std::move(shape), begin, end};
}

/// Checks that the entries' byte ranges tile the data section exactly: no overlap, no gap, nothing after.
inline void check_tiling(const std::vector<Entry>& entries, const std::string& where, std::uint64_t data_size) {
    std::vector<const Entry*> order;
    for (const auto& e : entries) order.push_back(&e);
    std::sort(order.begin(), order.end(),
              [](const Entry* a, const Entry* b) { return std::pair(a->begin, a->end) < std::pair(b->begin, b->end); });
    std::uint64_t covered = 0;
    const Entry* previous = nullptr;
    for (const Entry* e : order) {
        EMBER_CHECK(e->begin >= covered, IoError, where, ": the data of tensors '", shown(previous->name), "' [",
                    previous->begin, ", ", previous->end, ") and '", shown(e->name), "' [", e->begin, ", ", e->end,
                    ") overlap");
        EMBER_CHECK(e->begin == covered, IoError, where, ": data bytes [", covered, ", ", e->begin,
                    ") before tensor '", shown(e->name), "' belong to no tensor");
        covered = e->end;
        previous = e;
    }
    EMBER_CHECK(covered == data_size, IoError, where, ": ", data_size - covered, " bytes after the last tensor's data",
                " belong to no tensor");
}

/// Reads entry `e`'s bytes (at `data_start + e.begin`) into `result`, converting to T (floats) or int64.
template <Real T>
void read_entry(std::ifstream& in, const Entry& e, std::uint64_t data_start, const std::string& where,
                std::vector<char>& buffer, Safetensors<T>& result) {
    const auto n = static_cast<std::size_t>(e.shape.numel());
    in.seekg(static_cast<std::streamoff>(data_start + e.begin));
    const auto read = [&](void* dst) {
        in.read(static_cast<char*>(dst), static_cast<std::streamsize>(e.end - e.begin));
        EMBER_CHECK(in.good() || e.end == e.begin, IoError, "cannot read tensor '", shown(e.name), "' from ", where);
    };
    const auto convert = [&](auto* dst, auto source_tag) {
        using S = decltype(source_tag);
        buffer.resize(static_cast<std::size_t>(e.end - e.begin));
        read(buffer.data());
        for (std::size_t i = 0; i < n; ++i) {
            S v;
            std::memcpy(&v, buffer.data() + i * sizeof(S), sizeof(S));
            dst[i] = static_cast<std::remove_pointer_t<decltype(dst)>>(v);
        }
    };
    if (e.dtype == "I32" || e.dtype == "I64") {
        IntTensor t{e.shape, std::vector<std::int64_t>(n)};
        if (e.dtype == "I64")
            read(t.values.data());
        else
            convert(t.values.data(), std::int32_t{});
        result.integers.emplace(e.name, std::move(t));
    } else {
        Tensor<T> t = Tensor<T>::empty(e.shape);
        if (e.dtype == dtype_name<T>())
            read(t.data());
        else if (e.dtype == "F32")
            convert(t.data(), float{});
        else
            convert(t.data(), double{});
        result.tensors.emplace(e.name, std::move(t));
    }
    result.dtypes.emplace(e.name, e.dtype);
}
}  // namespace detail

/// Reads a safetensors file: F32/F64 tensors converted to T (F64 -> float rounds, to +-inf beyond float's range;
/// `dtypes` tells what the file held), I32/I64 tensors into `integers`. Checks the whole structure before reading
/// any tensor data and throws IoError naming the file and the problem: shorter than 8 bytes, header length beyond
/// the file, malformed JSON or entry, unknown dtype, shape x dtype not matching the offsets, offsets outside the
/// data, or data ranges that overlap, leave a gap or stop before the end of the file (the reference
/// implementation's rule: the ranges tile the data section exactly), and a header nested deeper than
/// kSafetensorsMaxDepth, with more than kSafetensorsMaxEntries entries or members of one array or object, or a
/// shape of rank above kSafetensorsMaxRank (Note [bounded header]).
template <Real T>
Safetensors<T> load_safetensors(const std::filesystem::path& path) {
    std::string where = "'";  // appended, not "'" + string: GCC 12 -O3 warns (falsely) on that operator+
    where += path.string();
    where += "'";
    std::ifstream in(path, std::ios::binary);
    EMBER_CHECK(in.good(), IoError, "cannot open ", where);
    in.seekg(0, std::ios::end);
    const auto end_pos = in.tellg();
    EMBER_CHECK(end_pos >= 0, IoError, "cannot read ", where, " (not a regular file?)");
    const auto file_size = static_cast<std::uint64_t>(end_pos);
    in.seekg(0);
    const auto [header, header_len] = detail::read_header(in, where, file_size);
    const std::uint64_t data_start = 8 + header_len;
    const std::uint64_t data_size = file_size - data_start;
    // Pass 1: check every entry and the layout of the data section before reading a byte of it.
    std::vector<detail::Entry> entries;
    Safetensors<T> result;
    for (const auto& [name, entry] : header.items()) {
        if (name != "__metadata__") {
            entries.push_back(detail::parse_entry(name, entry, where, data_size));
            continue;
        }
        EMBER_CHECK(entry.is_object(), IoError, where, ": __metadata__ must be an object of strings");
        for (const auto& [k, v] : entry.items()) {
            EMBER_CHECK(v.is_string(), IoError, where, ": __metadata__ value of '", detail::shown(k), "' is not a string");
            result.metadata[k] = v.template get<std::string>();
        }
    }
    detail::check_tiling(entries, where, data_size);
    // Pass 2: read each tensor.
    std::vector<char> buffer;
    for (const auto& e : entries) detail::read_entry(in, e, data_start, where, buffer, result);
    return result;
}

}  // namespace ember::io
