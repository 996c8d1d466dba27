// ember/distributed/fingerprint.hpp - refusing a data-parallel job whose processes were started differently (other
// options, another data folder): each describes its start in lines, and the lines are compared across processes.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/train/process_group.hpp"

namespace ember::distributed {

namespace fingerprint_detail {
inline std::uint64_t fnv1a(const std::string& text) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
    return h;
}
inline std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at <= text.size()) {
        const std::size_t end = std::min(text.find('\n', at), text.size());
        out.push_back(text.substr(at, end - at));
        at = end + 1;
    }
    return out;
}
/// "line 3: rank 0 has 'a', rank 1 has 'b'" for the first line where `theirs` differs from `root`'s.
inline std::string first_difference(const std::string& root, const std::string& theirs, int rank) {
    const auto a = split_lines(root), b = split_lines(theirs);
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    const auto show = [](const std::vector<std::string>& v, std::size_t k) {
        return k < v.size() ? "'" + v[k] + "'" : std::string("nothing");
    };
    return "line " + std::to_string(i + 1) + ": rank 0 has " + show(a, i) + ", rank " + std::to_string(rank) +
           " has " + show(b, i);
}
}  // namespace fingerprint_detail

/// Compares `lines` (what this process was started with: "option=value" lines, the data files, ...) across the
/// processes of `group`. When any differs from process 0's, every process throws the same ValueError naming `what`,
/// the first differing line and the ranks, so that the job ends at its start instead of training on mixed data.
inline void require_same_start(train::ProcessGroup& group, const std::vector<std::string>& lines,
                               const std::string& what) {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    const std::uint64_t mine = fingerprint_detail::fnv1a(text);
    const auto hashes = group.gather_all({reinterpret_cast<const std::byte*>(&mine), sizeof mine});
    bool same = true;
    for (const auto& h : hashes) same = same && h.size() == sizeof mine && std::memcmp(h.data(), &mine, sizeof mine) == 0;
    if (same) return;  // every process saw every hash: all decide alike
    const auto texts = group.gather_all({reinterpret_cast<const std::byte*>(text.data()), text.size()});
    const auto as_string = [](const std::vector<std::byte>& b) {
        return std::string(reinterpret_cast<const char*>(b.data()), b.size());
    };
    for (std::size_t r = 1; r < texts.size(); ++r)
        if (texts[r] != texts[0])
            throw ValueError("the processes of this job were started with different " + what + " (" +
                             fingerprint_detail::first_difference(as_string(texts[0]), as_string(texts[r]),
                                                                  static_cast<int>(r)) +
                             "): start every process with the same options and data");
}

}  // namespace ember::distributed
