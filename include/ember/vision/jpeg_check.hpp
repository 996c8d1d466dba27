// ember/vision/jpeg_check.hpp - a bounds-checked walk over a JPEG's marker segments, run before stb_image sees it.
// Input: the whole file in memory (SOI, then segments of big-endian length, entropy-coded data after each SOS).
//
// Note [JPEG pre-check]: stb_image 2.27 (Debian libstb-dev) reads its input safely (every read is bounds-checked and
// pads with zeros), but it trusts two things in the data that index its own tables:
//  - DHT: stbi__build_huffman writes one size entry per declared code into a 257-entry array without checking that
//    the 16 counts add up to at most 256 (a DHT whose counts sum to 472 writes 215 bytes past it, and the symbol
//    values after it overflow the 256-entry `values` array), and it finds an over-full code (more codes of a length
//    than fit) only after writing them. Fuzzing found this (../shared/crashes/stb_jpeg_dht_huffman_overflow.min.jpg).
//  - SOS: a scan may name a Huffman table that no DHT defined; stb_image's tables live in a malloc'd, uninitialised
//    struct, and its decoder then indexes with garbage (maxcode[] walked past its end, delta[] giving any index).
// This walk refuses both before any stb_image call (stbi_info parses the DHT segments before the SOF too, so even
// probing the size is unsafe without it), with a message naming the table. It follows stb_image's own marker
// grammar (fill bytes, stuffed 0xFF00 and RSTn inside scans, DHTs between progressive scans), so it sees every DHT
// and SOS that stb_image would process, in the same order; at a marker stb_image itself refuses, it stops and lets
// stb_image give its reason. It also checks the SOF (1-4 components, sampling factors 1..4, the length they imply)
// and the SOS lengths, which stb_image checks too: a cheap second line that keeps its messages ember's.
// Why not libjpeg-turbo: a second decoder is a new dependency with its own build, and JPEG pixels would then differ
// between formats' code paths; stb_image stays the one decoder, and this file adds exactly the checks it misses.
// The cost is one pass over the bytes (see docs/architecture.md, "Untrusted images").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ember/core/error.hpp"

namespace ember::vision::detail {

/// The walk of Note [JPEG pre-check]: one object per file, its checks one member function per segment kind.
class JpegWalk {
public:
    JpegWalk(std::span<const std::uint8_t> jpeg, const std::string& name, std::string_view verb)
        : jpeg_(jpeg), name_(name), verb_(verb) {}

    /// Walks every segment stb_image would process; throws IoError at the first unsafe one.
    void run() {
        EMBER_CHECK(jpeg_.size() >= 2 && jpeg_[0] == 0xFF && jpeg_[1] == 0xD8, IoError, verb_, " '", name_,
                    "': not a JPEG file (no SOI marker)");
        pos_ = 2;
        while (next_segment()) {}
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw IoError(ember::detail::cat(verb_, " '", name_, "': ", what));
    }
    template <class... A>
    [[noreturn]] void corrupt(const A&... what) const {
        fail(ember::detail::cat("corrupt JPEG: ", what...));
    }
    [[nodiscard]] std::size_t be16(std::size_t at) const {
        return static_cast<std::size_t>(jpeg_[at] << 8 | jpeg_[at + 1]);
    }

    /// Finds and checks the next segment; false when the walk ends (EOI, the end of the bytes, or a marker
    /// stb_image refuses itself, so that nothing after it is ever decoded).
    bool next_segment() {
        const std::size_t size = jpeg_.size();
        // The next marker: 0xFF, any 0xFF fill bytes, then the marker byte. Inside a scan's entropy-coded data
        // 0xFF00 is a stuffed 0xFF and RST0-7 are restart markers: both are data, as for stb_image.
        while (pos_ < size && jpeg_[pos_] != 0xFF) ++pos_;
        while (pos_ < size && jpeg_[pos_] == 0xFF) ++pos_;
        if (pos_ >= size) return false;  // no EOI: stb_image reports the truncation
        const std::uint8_t m = jpeg_[pos_++];
        if (in_scan_ && (m == 0x00 || (m >= 0xD0 && m <= 0xD7))) return true;
        const bool sof = m == 0xC0 || m == 0xC1 || m == 0xC2;  // the frames stb_image decodes
        const bool with_length = sof || m == 0xC4 || m == 0xDA || m == 0xDB || m == 0xDC || m == 0xDD ||
                                 (m >= 0xE0 && m <= 0xEF) || m == 0xFE;
        // EOI ends the image; any other marker here (a second SOF or SOI, a lossless or arithmetic-coded frame,
        // a misplaced RST) is one stb_image refuses itself.
        if (!with_length || (sof && sof_seen_)) return false;
        seg_ = pos_ - 2;
        if (pos_ + 2 > size) fail(ember::detail::cat("truncated JPEG file (the segment at byte ", seg_, " has no length)"));
        const std::size_t len = be16(pos_);  // counts its own two bytes
        if (len < 2) corrupt("the segment at byte ", seg_, " declares a length of ", len, " (at least 2)");
        if (pos_ + len > size)
            fail(ember::detail::cat("truncated JPEG file (the segment at byte ", seg_, " declares ", len, " bytes, ",
                                    size - pos_, " remain)"));
        const std::size_t body = pos_ + 2, end = pos_ + len;
        in_scan_ = false;
        if (m == 0xC4) check_dht(body, end);
        if (sof) check_sof(body, len, m == 0xC2);
        if (m == 0xDA && !sof_seen_) return false;  // a scan before the frame header: stb_image refuses it
        if (m == 0xDA) check_sos(body, len);
        pos_ = end;
        return true;
    }

    /// DHT: one or more tables, each [class << 4 | id] [16 counts: codes of length 1..16] [symbols].
    void check_dht(std::size_t at, std::size_t end) {
        while (at < end) {
            const int tc = jpeg_[at] >> 4, th = jpeg_[at] & 15;
            const auto bad = [&](const auto&... why) { corrupt("Huffman table ", tc, "/", th, " is invalid (", why..., ")"); };
            if (tc > 1 || th > 3) bad("the class must be 0 (DC) or 1 (AC) and the id 0..3");
            if (end - at < 17) bad("its 16 code counts run past the end of the DHT segment");
            std::size_t symbols = 0, codes = 0;  // codes: the canonical code after length L, in units of 2^-L
            for (int l = 1; l <= 16; ++l) {
                const std::size_t n = jpeg_[at + static_cast<std::size_t>(l)];
                symbols += n;
                codes = codes * 2 + n;
                // Kraft: at most 2^L codes of length <= L (counted in units of length L), else the canonical
                // construction overflows (what stbi__build_huffman checks only after writing them)
                if (codes > (std::size_t{1} << l))
                    bad("the code lengths are not a prefix code: length ", l, " needs ", codes, " codes, ",
                        (std::size_t{1} << l), " exist");
            }
            if (symbols > 256) bad("its code counts add up to ", symbols, " symbols, at most 256");
            if (end - at - 17 < symbols) bad("its ", symbols, " symbols run past the end of the DHT segment");
            defined_[tc][th] = true;
            at += 17 + symbols;
        }
    }

    /// SOF: [precision] [height] [width] [components] then per component [id] [h << 4 | v] [quant table].
    void check_sof(std::size_t body, std::size_t len, bool progressive) {
        const std::size_t nc = len >= 8 ? jpeg_[body + 5] : 0;
        if (len < 8 || nc < 1 || nc > 4 || len != 8 + 3 * nc)
            corrupt("the frame header (SOF) at byte ", seg_, " declares ", nc, " components in ", len,
                    " bytes (expected 1 to 4 components and 8 + 3 x components bytes)");
        for (std::size_t c = 0; c < nc; ++c) {
            const int hv = jpeg_[body + 7 + 3 * c], h = hv >> 4, v = hv & 15;
            if (h < 1 || h > 4 || v < 1 || v > 4)
                corrupt("component ", c, " has sampling factors ", h, "x", v, " (each must be 1..4)");
        }
        sof_seen_ = true;
        progressive_ = progressive;
    }

    /// SOS: [components] then per component [id] [dc << 4 | ac], then [Ss] [Se] [Ah << 4 | Al].
    void check_sos(std::size_t body, std::size_t len) {
        const std::size_t ns = jpeg_[body];
        if (ns < 1 || ns > 4 || len != 6 + 2 * ns)
            corrupt("the scan header (SOS) at byte ", seg_, " declares ", ns, " components in ", len,
                    " bytes (expected 1 to 4 components and 6 + 2 x components bytes)");
        const int ss = jpeg_[body + 1 + 2 * ns], ah = jpeg_[body + 3 + 2 * ns] >> 4;
        // baseline scans decode with both tables; progressive DC first scans with the DC table, AC scans with the
        // AC table, DC refinement scans with none
        const bool uses_dc = !progressive_ || (ss == 0 && ah == 0), uses_ac = !progressive_ || ss > 0;
        for (std::size_t c = 0; c < ns; ++c) {
            const int td = jpeg_[body + 2 + 2 * c] >> 4, ta = jpeg_[body + 2 + 2 * c] & 15;
            if (uses_dc && (td > 3 || !defined_[0][td]))
                corrupt("the scan at byte ", seg_, " uses Huffman table 0/", td, ", which no DHT segment defines");
            if (uses_ac && (ta > 3 || !defined_[1][ta]))
                corrupt("the scan at byte ", seg_, " uses Huffman table 1/", ta, ", which no DHT segment defines");
        }
        in_scan_ = true;
    }

    std::span<const std::uint8_t> jpeg_;
    const std::string& name_;
    std::string_view verb_;
    std::size_t pos_ = 0, seg_ = 0;
    bool defined_[2][4] = {};  // [class: 0 DC, 1 AC][id]: a DHT has defined this Huffman table
    bool sof_seen_ = false, progressive_ = false, in_scan_ = false;
};

/// Throws IoError "<verb> '<name>': corrupt JPEG: <what>" (or "truncated JPEG file (...)") when the marker
/// segments of `jpeg` (a whole JPEG file, starting with SOI) would make stb_image index past its tables; returns
/// normally for every file stb_image can decode safely. See Note [JPEG pre-check].
inline void check_jpeg_segments(std::span<const std::uint8_t> jpeg, const std::string& name,
                                std::string_view verb = "cannot decode") {
    JpegWalk(jpeg, name, verb).run();
}

}  // namespace ember::vision::detail
