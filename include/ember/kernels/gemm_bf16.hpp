// ember/kernels/gemm_bf16.hpp - bfloat16 numbers and a GEMM on them: C (+)= bf16(op(A)) * bf16(op(B)) with float
// accumulation, on AMX tiles (tdpbf16ps: Intel Sapphire Rapids and later) or AVX512_BF16's vdpbf16ps (two products
// per float lane per instruction) where the CPU has them, chosen at run time, so one binary runs everywhere;
// elsewhere on a scalar loop that adds as vdpbf16ps does (slow: for tests and for correctness on any CPU).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/shape.hpp"

#if defined(__x86_64__) && !defined(EMBER_FORCE_SCALAR)
#include <cpuid.h>
#include <immintrin.h>
#define EMBER_HAVE_BF16_KERNEL 1
#endif
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ember::kernels {

/// The bfloat16 nearest to x (round to nearest, ties to even), as its 16 bits: float's sign, 8-bit exponent and
/// the top 7 bits of its mantissa. NaN stays NaN (quiet); infinities stay infinite.
inline std::uint16_t to_bf16_bits(float x) {
    const auto bits = std::bit_cast<std::uint32_t>(x);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // NaN
    const std::uint32_t round = 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>((bits + round) >> 16);
}
/// The float a bfloat16 stands for (exact: every bfloat16 is a float).
inline float from_bf16_bits(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }
/// x rounded to the nearest bfloat16, as a float.
inline float round_to_bf16(float x) { return from_bf16_bits(to_bf16_bits(x)); }

/// Whether this CPU runs vdpbf16ps (AVX512_BF16: AMD Zen 4 and later, Intel Cooper Lake and Sapphire Rapids and
/// later). Asked once.
inline bool cpu_has_bf16() {
#ifdef EMBER_HAVE_BF16_KERNEL
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512bf16") != 0;
    }();
    return has;
#else
    return false;
#endif
}

namespace bf16_detail {
// Note [bf16 GEMM layout]: vdpbf16ps multiplies pairs: float lane l of the result gains x[2l] * y[2l] +
// x[2l+1] * y[2l+1]. So depth comes in pairs. B is packed as NR-column panels of [K/2][NR][2] (a column's two depth
// values side by side); A is converted to bfloat16 row by row ([rows][K/2][2]: a row-major row's depth pairs are
// already side by side, so converting is a contiguous, vectorised pass), and row r's pair q is broadcast as one
// 32-bit value against a B vector of 16 columns. An odd depth is padded with a zero.
inline constexpr int kMR = 12, kNV = 2, kNR = 32;  // 24 zmm accumulators, as the float kernel
inline constexpr index_t kKC = 512, kMC = 16 * kMR;
inline constexpr index_t kAmxRows = 32, kAmxPairs = 16;  // a block of C on AMX: 32 x 32 (Note [AMX tiles])
static_assert(kMC % kAmxRows == 0, "an AMX block reads 32 rows of A: the last must stay in the A buffer");

/// op(X)[i][p] of a row-major X: [rows, depth] (or, transposed, [depth, rows]) with leading dimension ld.
inline float element(const float* x, bool trans, index_t ld, index_t i, index_t p) {
    return trans ? x[p * ld + i] : x[i * ld + p];
}

/// Rows [i0, i0 + rows) x depth [p0, p0 + kc) of op(X) as panels of `width` rows and kc2 >= kc / 2 depth pairs:
/// panel q at out + q * width * kc2 * 2, element (r, p) at [(p / 2) * width + r] * 2 + p % 2, zero beyond the rows
/// and the depth.
inline void pack_pairs(const float* x, bool trans, index_t ld, index_t i0, index_t rows, index_t p0, index_t kc,
                       index_t kc2, int width, std::uint16_t* out) {
    for (index_t q0 = 0; q0 < rows; q0 += width) {
        std::uint16_t* panel = out + q0 * kc2 * 2;
        for (index_t p = 0; p < 2 * kc2; ++p)
            for (int r = 0; r < width; ++r) {
                const bool inside = q0 + r < rows && p < kc;
                panel[((p / 2) * width + r) * 2 + p % 2] =
                    inside ? to_bf16_bits(element(x, trans, ld, i0 + q0 + r, p0 + p)) : std::uint16_t{0};
            }
    }
}

#ifdef EMBER_HAVE_BF16_KERNEL
/// n floats to bfloat16 (vcvtneps2bf16: to nearest even, as to_bf16_bits, but subnormals flushed).
__attribute__((target("avx512f,avx512bf16"))) inline void convert_row_avx512(const float* x, index_t n,
                                                                             std::uint16_t* out) {
    index_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
    for (; i < n; ++i) out[i] = to_bf16_bits(x[i]);
}
#endif

/// Rows [i0, i0 + rows) x depth [p0, p0 + kc) of op(A) in bfloat16, row r at out + r * 2 * kc2 (kc2 >= kc / 2
/// pairs; the depth beyond kc padded with zeros).
inline void convert_rows(const float* a, bool trans, index_t lda, index_t i0, index_t rows, index_t p0, index_t kc,
                         index_t kc2, [[maybe_unused]] bool vector, std::uint16_t* out) {
    for (index_t r = 0; r < rows; ++r) {
        std::uint16_t* row = out + r * 2 * kc2;
#ifdef EMBER_HAVE_BF16_KERNEL
        if (vector && !trans) {
            convert_row_avx512(a + (i0 + r) * lda + p0, kc, row);
            std::fill(row + kc, row + 2 * kc2, std::uint16_t{0});
            continue;
        }
#endif
        for (index_t p = 0; p < 2 * kc2; ++p) row[p] = p < kc ? to_bf16_bits(element(a, trans, lda, i0 + r, p0 + p)) : 0;
    }
}

/// The scalar micro-kernel: what vdpbf16ps computes, lane by lane (the odd product added first, then the even one,
/// each addition rounded to float; the products of two bfloat16 are exact in float).
/// Row r's pair q of A is at a + (r * kc2 + q) * 2; rows >= mr are not read.
inline void micro_kernel_scalar(index_t kc2, const std::uint16_t* a, index_t mr, const std::uint16_t* b, float* acc) {
    for (index_t q = 0; q < kc2; ++q)
        for (int r = 0; r < mr; ++r) {
            const float a0 = from_bf16_bits(a[(r * kc2 + q) * 2]), a1 = from_bf16_bits(a[(r * kc2 + q) * 2 + 1]);
            for (int j = 0; j < kNR; ++j) {
                float& c = acc[r * kNR + j];
                c += a1 * from_bf16_bits(b[(q * kNR + j) * 2 + 1]);
                c += a0 * from_bf16_bits(b[(q * kNR + j) * 2]);
            }
        }
}

#ifdef EMBER_HAVE_BF16_KERNEL
/// acc[MR][NR] = A rows x B panel over kc2 depth pairs (Note [bf16 GEMM layout]); rows >= mr are not read.
__attribute__((target("avx512f,avx512bf16"))) inline void micro_kernel_avx512(index_t kc2, const std::uint16_t* a,
                                                                              index_t mr, const std::uint16_t* b,
                                                                              float* acc) {
    __m512 c[kMR][kNV];
    for (int r = 0; r < kMR; ++r)
        for (int v = 0; v < kNV; ++v) c[r][v] = _mm512_setzero_ps();
    for (index_t q = 0; q < kc2; ++q) {
        const std::uint16_t* bq = b + q * kNR * 2;
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bq), b1 = (__m512bh)_mm512_loadu_si512(bq + 32);
#pragma GCC unroll 12
        for (int r = 0; r < kMR; ++r) {
            std::int32_t pair;  // a short block repeats its last row (in bounds; store_tile keeps mr rows)
            std::memcpy(&pair, a + (std::min<index_t>(r, mr - 1) * kc2 + q) * 2, sizeof pair);
            const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
            c[r][0] = _mm512_dpbf16_ps(c[r][0], av, b0);
            c[r][1] = _mm512_dpbf16_ps(c[r][1], av, b1);
        }
    }
    for (int r = 0; r < kMR; ++r)
        for (int v = 0; v < kNV; ++v) _mm512_storeu_ps(acc + r * kNR + v * 16, c[r][v]);
}
#endif

#ifdef EMBER_HAVE_BF16_KERNEL
// Note [AMX tiles]: an AMX tile is 16 rows of 64 bytes; tdpbf16ps multiplies an A tile (16 rows x 16 depth
// pairs) by a B tile (16 depth pairs x 16 columns, each row a column's pairs: the B panel layout above, read with
// a stride of one 32-column panel row, 128 bytes) into a C tile of 16 x 16 floats. A 32 x 32 block of C takes
// four C tiles, two A tiles and two B tiles: all eight. The configuration is per thread, so every call loads it.
struct alignas(64) TileConfig {
    std::uint8_t palette = 1, start_row = 0;
    std::uint8_t reserved[14] = {};
    std::uint16_t bytes_per_row[16] = {};
    std::uint8_t rows[16] = {};
};

__attribute__((target("amx-tile,amx-bf16"))) inline void amx_begin() {
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) {
        cfg.bytes_per_row[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
}
__attribute__((target("amx-tile"))) inline void amx_end() { _tile_release(); }

/// acc[32][32] = rows [0, 32) of A (row r at a + r * 2 * kc2) x a 32-column B panel, over kc2 pairs (a multiple of
/// 16). Rows of A beyond the block's valid ones are read (the buffer holds them) and their results ignored.
__attribute__((target("amx-tile,amx-bf16"))) inline void micro_kernel_amx(index_t kc2, const std::uint16_t* a,
                                                                          const std::uint16_t* b, float* acc) {
    asm volatile("" ::: "memory");  // GCC's tile-load intrinsics declare no memory input: A and B must be stored
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const auto a_stride = static_cast<long>(kc2 * 4);
    for (index_t q0 = 0; q0 < kc2; q0 += kAmxPairs) {
        _tile_loadd(4, a + q0 * 2, a_stride);
        _tile_loadd(5, a + (16 * kc2 + q0) * 2, a_stride);
        _tile_loadd(6, b + q0 * kNR * 2, kNR * 4);
        _tile_loadd(7, b + q0 * kNR * 2 + 32, kNR * 4);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, acc, kNR * 4);
    _tile_stored(1, acc + 16, kNR * 4);
    _tile_stored(2, acc + 16 * kNR, kNR * 4);
    _tile_stored(3, acc + 16 * kNR + 16, kNR * 4);
}
#endif

}  // namespace bf16_detail

/// Whether this CPU has AMX-BF16 tiles and Linux lets this process use them (asked once: the permission to use
/// the tiles' 8 KiB of state is per process, ARCH_REQ_XCOMP_PERM).
inline bool cpu_has_amx_bf16() {
#if defined(EMBER_HAVE_BF16_KERNEL) && defined(__linux__)
    static const bool has = [] {
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;  // no leaf 7
        const bool tiles = ((edx >> 22) & 1u) != 0 && ((edx >> 24) & 1u) != 0;  // AMX-BF16, AMX-TILE
        constexpr long kReqXcompPerm = 0x1023, kXtiledata = 18;
        return tiles && syscall(SYS_arch_prctl, kReqXcompPerm, kXtiledata) == 0;
    }();
    return has;
#else
    return false;
#endif
}

namespace bf16_detail {
/// Adds (or writes) the valid mr x nr corner of a tile into C.
inline void store_tile(const float* acc, index_t mr, index_t nr, bool accumulate, float* c, index_t ldc) {
    for (index_t r = 0; r < mr; ++r)
        for (index_t j = 0; j < nr; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + acc[r * kNR + j];
}
}  // namespace bf16_detail

/// Which units gemm_bf16 runs on: the best the CPU has (AMX tiles, else vdpbf16ps, else the scalar loop), or one
/// named (for tests and benchmarks; a unit the CPU lacks falls back to the scalar loop).
enum class Bf16Unit { best, amx, avx512, scalar };

namespace bf16_detail {
inline Bf16Unit resolve(Bf16Unit u) {
    if (u == Bf16Unit::best) return cpu_has_amx_bf16() ? Bf16Unit::amx : cpu_has_bf16() ? Bf16Unit::avx512 : Bf16Unit::scalar;
    if (u == Bf16Unit::amx && !cpu_has_amx_bf16()) return Bf16Unit::scalar;
    if (u == Bf16Unit::avx512 && !cpu_has_bf16()) return Bf16Unit::scalar;
    return u;
}

/// One block of C: rows [r0, r0 + rows) of the converted A block against the B panel at bp, into C at c.
inline void block([[maybe_unused]] Bf16Unit unit, index_t kc2, const std::uint16_t* ap, index_t rows, const std::uint16_t* bp, index_t nr,
                  bool add, float* c, index_t ldc) {
    alignas(64) float acc[kAmxRows * kNR];
#ifdef EMBER_HAVE_BF16_KERNEL
    if (unit == Bf16Unit::amx) {
        micro_kernel_amx(kc2, ap, bp, acc);
        return store_tile(acc, rows, nr, add, c, ldc);
    }
    if (unit == Bf16Unit::avx512) {
        micro_kernel_avx512(kc2, ap, rows, bp, acc);
        return store_tile(acc, rows, nr, add, c, ldc);
    }
#endif
    std::fill_n(acc, kMR * kNR, 0.0f);
    micro_kernel_scalar(kc2, ap, rows, bp, acc);
    store_tile(acc, rows, nr, add, c, ldc);
}
}  // namespace bf16_detail

/// C[M,N] = (accumulate ? C : 0) + bf16(op(A)) * bf16(op(B)), row-major, every product summed in float: op(A) is
/// [M,K] (A is [M,K] with lda >= K, or with `trans_a` [K,M] with lda >= M), likewise op(B) [K,N]. A and B are
/// rounded to bfloat16 as they are packed. It runs on AMX tiles or vdpbf16ps where the CPU has them (`unit`), else
/// on a scalar loop. For values in float's normal range the vdpbf16ps path and the scalar loop compute the same bits
/// on CPUs that follow Intel's pseudo-code (the same pairs in the same order; a product of two bfloat16 is exact, so
/// FMA contraction changes nothing); the vector path flushes subnormals to zero, and AMX sums in its own order.
/// Error, to first order and in float's normal range: at most (2^-7 + 2^-16 + (K + 1) 2^-24) (|C0| + sum |a||b|).
/// On AMX it loads its own tile configuration and releases the tiles when it returns. Runs on the calling thread.
/// Throws ValueError for a negative size.
inline void gemm_bf16(bool trans_a, bool trans_b, index_t m, index_t n, index_t k, const float* a, index_t lda,
                      const float* b, index_t ldb, bool accumulate, float* c, index_t ldc, Bf16Unit unit = Bf16Unit::best) {
    using namespace bf16_detail;
    EMBER_CHECK(m >= 0 && n >= 0 && k >= 0, ValueError, "gemm_bf16: negative size M=", m, " N=", n, " K=", k);
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (!accumulate)
            for (index_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
        return;
    }
    unit = resolve(unit);
    const bool amx = unit == Bf16Unit::amx;
    const bool convert_vector = unit != Bf16Unit::scalar && cpu_has_bf16();  // vcvtneps2bf16 is AVX512_BF16's
    const index_t mr_step = amx ? kAmxRows : kMR, pair_step = amx ? kAmxPairs : 1;
    const index_t n_pad = (n + kNR - 1) / kNR * kNR, kc2_max = (kKC / 2 + pair_step - 1) / pair_step * pair_step;
    std::vector<std::uint16_t> bpack(static_cast<std::size_t>(n_pad * 2 * kc2_max));
    std::vector<std::uint16_t> apack(static_cast<std::size_t>(kMC * 2 * kc2_max));  // kMC is a multiple of 32
#ifdef EMBER_HAVE_BF16_KERNEL
    if (amx) amx_begin();
#endif
    for (index_t p0 = 0; p0 < k; p0 += kKC) {
        const index_t kc = std::min(kKC, k - p0), kc2 = ((kc + 1) / 2 + pair_step - 1) / pair_step * pair_step;
        pack_pairs(b, !trans_b, ldb, 0, n, p0, kc, kc2, kNR, bpack.data());  // B's columns are op(B)^T's rows
        for (index_t i0 = 0; i0 < m; i0 += kMC) {
            const index_t mc = std::min(kMC, m - i0);
            convert_rows(a, trans_a, lda, i0, mc, p0, kc, kc2, convert_vector, apack.data());
            for (index_t j0 = 0; j0 < n; j0 += kNR)
                for (index_t r0 = 0; r0 < mc; r0 += mr_step)
                    block(unit, kc2, apack.data() + r0 * kc2 * 2, std::min(mr_step, mc - r0), bpack.data() + j0 * kc2 * 2,
                          std::min<index_t>(kNR, n - j0), accumulate || p0 > 0, c + (i0 + r0) * ldc + j0, ldc);
        }
    }
#ifdef EMBER_HAVE_BF16_KERNEL
    if (amx) amx_end();
#endif
}

}  // namespace ember::kernels
