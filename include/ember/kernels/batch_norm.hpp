// ember/kernels/batch_norm.hpp - batch normalization on raw memory: per-channel moments, the affine map, and the
// training-mode backward. Input is [rows, C] with channels innermost (NHWC flattened: rows = N*H*W), so every
// loop runs along contiguous channels and vectorises.
#pragma once

#include <algorithm>
#include <vector>

#include "ember/core/parallel.hpp"
#include "ember/core/shape.hpp"

namespace ember::kernels {

namespace batch_norm_detail {
/// Rows are summed in blocks whose count depends only on `rows` (never on the thread count), and the block sums
/// are added in block order: the moments, and so a whole training run, are the same with any number of threads.
inline index_t block_count(index_t rows) { return std::clamp<index_t>((rows + 255) / 256, 1, 64); }

/// out[c] = sum over rows of f(row, c), accumulated in double, block by block in a fixed order.
template <class F>
void channel_sums(index_t rows, index_t c, std::vector<double>& out, F&& f) {
    const index_t blocks = block_count(rows);
    std::vector<double> partial(static_cast<std::size_t>(blocks * c), 0.0);
    parallel_for(0, blocks, 1, [&](index_t lo, index_t hi) {
        for (index_t b = lo; b < hi; ++b) {
            double* acc = partial.data() + b * c;
            for (index_t r = rows * b / blocks, end = rows * (b + 1) / blocks; r < end; ++r) f(r, acc);
        }
    });
    out.assign(static_cast<std::size_t>(c), 0.0);
    for (index_t b = 0; b < blocks; ++b)
        for (index_t k = 0; k < c; ++k) out[static_cast<std::size_t>(k)] += partial[static_cast<std::size_t>(b * c + k)];
}
}  // namespace batch_norm_detail

/// The mean and the biased variance (divided by rows, as Keras 3's BatchNormalization and tf.nn.moments do) of each channel of
/// x [rows, c]. Two passes, the second over centred values, so that a large mean does not cancel the variance.
template <class T>
void channel_moments(const T* x, index_t rows, index_t c, std::vector<double>& mean, std::vector<double>& var) {
    batch_norm_detail::channel_sums(rows, c, mean, [&](index_t r, double* acc) {
        const T* xr = x + r * c;
        for (index_t k = 0; k < c; ++k) acc[k] += static_cast<double>(xr[k]);
    });
    for (double& m : mean) m /= static_cast<double>(rows);
    batch_norm_detail::channel_sums(rows, c, var, [&](index_t r, double* acc) {
        const T* xr = x + r * c;
        for (index_t k = 0; k < c; ++k) {
            const double d = static_cast<double>(xr[k]) - mean[static_cast<std::size_t>(k)];
            acc[k] += d * d;
        }
    });
    for (double& v : var) v /= static_cast<double>(rows);
}

/// y[r, k] = (x[r, k] - mean[k]) * scale[k] + shift[k], with scale = gamma / sqrt(var + eps) and shift = beta.
/// The mean is subtracted first rather than folded into the shift: x * scale + (beta - mean * scale) would cancel
/// about eps * |mean| / std of the result in float when the mean is large next to the spread.
template <class T>
void channel_affine(const T* x, index_t rows, index_t c, const T* mean, const T* scale, const T* shift, T* y) {
    parallel_for(0, rows, std::max<index_t>(1, 4096 / std::max<index_t>(c, 1)), [&](index_t lo, index_t hi) {
        for (index_t r = lo; r < hi; ++r) {
            const T* xr = x + r * c;
            T* yr = y + r * c;
            for (index_t k = 0; k < c; ++k) yr[k] = (xr[k] - mean[k]) * scale[k] + shift[k];
        }
    });
}

/// The training-mode backward of y = gamma * (x - mean) * inv_std + beta with the batch's own mean and inv_std:
/// with xhat = (x - mean) * inv_std and m = rows,
///   dbeta  = sum dy,   dgamma = sum dy * xhat,
///   dx     = gamma * inv_std * (dy - dbeta / m - xhat * dgamma / m).
/// `gamma` may be null (scale=False: gamma = 1). Adds into dx, dgamma and dbeta where they are not null.
template <class T>
void batch_norm_backward(const T* x, const T* dy, index_t rows, index_t c, const std::vector<double>& mean,
                         const std::vector<double>& inv_std, const T* gamma, T* dx, T* dgamma, T* dbeta) {
    // Both sums in one pass over dy and x: acc[k] collects dy, acc[c + k] dy * xhat.
    std::vector<double> sums;
    batch_norm_detail::channel_sums(rows, 2 * c, sums, [&](index_t r, double* acc) {
        const T* g = dy + r * c;
        const T* xr = x + r * c;
        for (index_t k = 0; k < c; ++k) {
            const auto s = static_cast<std::size_t>(k);
            acc[k] += static_cast<double>(g[k]);
            acc[c + k] += static_cast<double>(g[k]) * ((static_cast<double>(xr[k]) - mean[s]) * inv_std[s]);
        }
    });
    const std::vector<double> sum_dy(sums.begin(), sums.begin() + c), sum_dy_xhat(sums.begin() + c, sums.end());
    for (index_t k = 0; k < c; ++k) {
        const auto s = static_cast<std::size_t>(k);
        if (dgamma) dgamma[k] += static_cast<T>(sum_dy_xhat[s]);
        if (dbeta) dbeta[k] += static_cast<T>(sum_dy[s]);
    }
    if (!dx) return;
    // Per channel: dx = a * dy + b * (x - mean) + d, with the constants folded so the row loop is one fused pass
    // (the mean subtracted first, for the reason channel_affine gives).
    std::vector<T> a(static_cast<std::size_t>(c)), b(a.size()), d(a.size()), mu(a.size());
    const double m = static_cast<double>(rows);
    for (std::size_t k = 0; k < a.size(); ++k) {
        const double g = gamma ? static_cast<double>(gamma[k]) : 1.0;
        const double ak = g * inv_std[k];
        const double bk = -ak * inv_std[k] * sum_dy_xhat[k] / m;  // -gamma * inv_std * (inv_std * sum_dy_xhat / m)
        a[k] = static_cast<T>(ak);
        b[k] = static_cast<T>(bk);
        d[k] = static_cast<T>(-ak * sum_dy[k] / m);
        mu[k] = static_cast<T>(mean[k]);
    }
    parallel_for(0, rows, std::max<index_t>(1, 4096 / std::max<index_t>(c, 1)), [&](index_t lo, index_t hi) {
        for (index_t r = lo; r < hi; ++r) {
            const T* g = dy + r * c;
            const T* xr = x + r * c;
            T* o = dx + r * c;
            const T *pa = a.data(), *pb = b.data(), *pd = d.data(), *pm = mu.data();
            for (index_t k = 0; k < c; ++k) o[k] += pa[k] * g[k] + pb[k] * (xr[k] - pm[k]) + pd[k];
        }
    });
}

}  // namespace ember::kernels
