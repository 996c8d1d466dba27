// ember/core/parallel.hpp - the only file in ember that uses OpenMP.
// parallel_for splits an index range over threads; an exception thrown by a worker is rethrown on the caller.
#pragma once

#include <algorithm>
#include <exception>
#include <mutex>

#include "ember/core/shape.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ember {

/// Threads a parallel region uses (OpenMP's current setting; 1 without OpenMP).
inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/// Sets the number of threads later parallel regions use (ignored without OpenMP).
inline void set_num_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

inline bool in_parallel_region() {
#ifdef _OPENMP
    return omp_in_parallel() != 0;
#else
    return false;
#endif
}

namespace detail {
/// Keeps the first exception thrown by any thread, to rethrow it after the parallel region.
class FirstException {
public:
    template <class F>
    void run(F&& f) noexcept {
        try {
            f();
        } catch (...) {
            std::lock_guard lock(mutex_);
            if (!error_) error_ = std::current_exception();
        }
    }
    void rethrow() const {
        if (error_) std::rethrow_exception(error_);
    }

private:
    std::mutex mutex_;
    std::exception_ptr error_;
};
}  // namespace detail

/// Calls `f(thread_id, num_threads)` once on each thread of a parallel region (once on the caller, with
/// (0, 1), when nested in another region or when `max_threads <= 1`). Rethrows the first exception thrown.
template <class F>
void parallel_region(F&& f, int max_threads_wanted = 0) {
    int nt = max_threads_wanted > 0 ? std::min(max_threads_wanted, max_threads()) : max_threads();
    if (nt <= 1 || in_parallel_region()) {
        f(0, 1);
        return;
    }
    detail::FirstException first;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        const int n = omp_get_num_threads();
        first.run([&] { f(tid, n); });
    }
#else
    first.run([&] { f(0, 1); });
#endif
    first.rethrow();
}

/// Calls `f(lo, hi)` on disjoint chunks covering [begin, end), in parallel. Chunks hold at least `grain`
/// indices (so tiny ranges stay on one thread); the partition is static, so the same range and thread count
/// always give the same chunks. Rethrows the first exception a chunk throws.
template <class F>
void parallel_for(index_t begin, index_t end, index_t grain, F&& f) {
    const index_t n = end - begin;
    if (n <= 0) return;
    grain = std::max<index_t>(grain, 1);
    const index_t max_chunks = (n + grain - 1) / grain;
    const int nt = static_cast<int>(std::min<index_t>(max_chunks, max_threads()));
    if (nt <= 1 || in_parallel_region()) {
        f(begin, end);
        return;
    }
    parallel_region(
        [&](int tid, int nthreads) {
            const index_t lo = begin + n * tid / nthreads;
            const index_t hi = begin + n * (tid + 1) / nthreads;
            if (lo < hi) f(lo, hi);
        },
        nt);
}

}  // namespace ember
