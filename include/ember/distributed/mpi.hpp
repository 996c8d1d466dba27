// ember/distributed/mpi.hpp - the MPI engine under data-parallel training: Environment (MPI's start and end, safe in
// a program not started by mpirun, which is then one process of one), MpiGroup (train::ProcessGroup on a
// communicator, its sums a ring allreduce in a fixed order), and abort_job (a failing process ends the whole job).
// A program that includes this header links MPI::MPI_CXX (CMake target ember::distributed).
#pragma once

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/train/process_group.hpp"

namespace ember::distributed {

/// Thrown when an MPI call fails; the message names the call and MPI's reason.
class MpiError : public Error {
public:
    using Error::Error;
};

namespace mpi_detail {
inline void check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw MpiError(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

template <class T>
MPI_Datatype datatype();
template <>
inline MPI_Datatype datatype<float>() { return MPI_FLOAT; }
template <>
inline MPI_Datatype datatype<double>() { return MPI_DOUBLE; }

/// The first [c * n / parts, (c + 1) * n / parts) of `n` values: chunk c of a ring.
inline std::size_t chunk_begin(std::size_t n, int c, int parts) {
    return n * static_cast<std::size_t>(c) / static_cast<std::size_t>(parts);
}

/// In-place sum over the ring of `size` processes: a reduce-scatter (after which process r holds the whole sum of
/// chunk r + 1) then an allgather, each size - 1 exchanges with the neighbours. Each process sends and receives
/// 2 (size - 1) / size of the values: bandwidth-optimal, and what docs/distributed.md's cost model assumes. The
/// order in which chunk c's contributions are added is fixed by the ring (c, c + 1, ...), so the result is the
/// same on every run and every process.
template <class T>
void ring_sum(std::span<T> v, MPI_Comm comm, int rank, int size) {
    if (size == 1 || v.empty()) return;
    const std::size_t n = v.size();
    std::vector<T> incoming(n / static_cast<std::size_t>(size) + 1);
    const int right = (rank + 1) % size, left = (rank + size - 1) % size;
    auto count = [&](int c) { return static_cast<int>(chunk_begin(n, c + 1, size) - chunk_begin(n, c, size)); };
    for (int s = 0; s < size - 1; ++s) {
        const int send_c = (rank - s + size) % size, recv_c = (rank - s - 1 + 2 * size) % size;
        check(MPI_Sendrecv(v.data() + chunk_begin(n, send_c, size), count(send_c), datatype<T>(), right, 17,
                           incoming.data(), count(recv_c), datatype<T>(), left, 17, comm, MPI_STATUS_IGNORE),
              "MPI_Sendrecv (ring reduce-scatter)");
        T* dst = v.data() + chunk_begin(n, recv_c, size);
        for (int i = 0; i < count(recv_c); ++i) dst[i] += incoming[static_cast<std::size_t>(i)];
    }
    for (int s = 0; s < size - 1; ++s) {
        const int send_c = (rank + 1 - s + size) % size, recv_c = (rank - s + size) % size;
        check(MPI_Sendrecv(v.data() + chunk_begin(n, send_c, size), count(send_c), datatype<T>(), right, 18,
                           v.data() + chunk_begin(n, recv_c, size), count(recv_c), datatype<T>(), left, 18, comm,
                           MPI_STATUS_IGNORE),
              "MPI_Sendrecv (ring allgather)");
    }
}
}  // namespace mpi_detail

/// Whether a launcher started this process as one of a job (mpirun / mpiexec of Open MPI or MPICH, Slurm's srun
/// with PMI or PMIx): their environment variables. Otherwise the program runs alone and MPI is never started.
inline bool launched_by_mpi() {
    for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
        if (std::getenv(var) != nullptr) return true;
    return false;
}

/// MPI for the program's lifetime: construct one first thing in main. Started by a launcher, it initialises MPI
/// (MPI_THREAD_FUNNELED: only the main thread calls MPI; ember's OpenMP and loader threads never do); started
/// alone, it does nothing and the program is one process of one. MPI is finalised when it goes.
class Environment {
public:
    Environment(int& argc, char**& argv) {
        int already = 0;
        MPI_Initialized(&already);
        if (already || !launched_by_mpi()) return;
        int provided = 0;
        mpi_detail::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        owns_ = true;
        if (provided < MPI_THREAD_FUNNELED) {
            MPI_Finalize();
            throw MpiError("MPI_Init_thread: this MPI does not allow threads beside the one that calls it "
                           "(MPI_THREAD_FUNNELED), which ember's OpenMP and loader threads need");
        }
    }
    ~Environment() {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (owns_ && !finalized) MPI_Finalize();
    }
    Environment(const Environment&) = delete;
    Environment& operator=(const Environment&) = delete;

private:
    bool owns_ = false;
};

/// Whether MPI is running (an Environment started it, or the program did).
inline bool mpi_running() {
    int on = 0, off = 0;
    MPI_Initialized(&on);
    MPI_Finalized(&off);
    return on != 0 && off == 0;
}

/// This process's rank in the job, 0 when MPI is not running.
inline int world_rank() {
    int r = 0;
    if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}
/// The job's process count, 1 when MPI is not running.
inline int world_size() {
    int n = 1;
    if (mpi_running()) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}
/// The job's processes on this machine (for dividing its cores among them), 1 when MPI is not running.
inline int local_size() {
    if (!mpi_running()) return 1;
    MPI_Comm local = MPI_COMM_NULL;
    mpi_detail::check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local),
                      "MPI_Comm_split_type");
    int n = 1;
    MPI_Comm_size(local, &n);
    MPI_Comm_free(&local);
    return n;
}

/// Ends the whole job from one process: writes "ember: rank R of N: <why>" to stderr and calls MPI_Abort, which
/// makes the launcher stop every other process (none is left waiting in a collective). Without MPI, exits(code).
[[noreturn]] inline void abort_job(const std::string& why, int code = 1) {
    std::cerr << "ember: rank " << world_rank() << " of " << world_size() << ": " << why << std::endl;
    if (mpi_running() && world_size() > 1) MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
}

/// train::ProcessGroup on an MPI communicator (MPI_COMM_WORLD by default). MPI must be running (Environment).
class MpiGroup final : public train::ProcessGroup {
public:
    /// Works on a duplicate of `comm` (its messages never meet the caller's), whose errors are returned and
    /// thrown as MpiError rather than aborting.
    explicit MpiGroup(MPI_Comm comm = MPI_COMM_WORLD) {
        EMBER_CHECK(mpi_running(), StateError, "MpiGroup: MPI is not running (construct a distributed::Environment "
                    "first, and start the program with mpirun)");
        mpi_detail::check(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
        MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
        MPI_Comm_rank(comm_, &rank_);
        MPI_Comm_size(comm_, &size_);
    }
    ~MpiGroup() override {
        if (mpi_running()) MPI_Comm_free(&comm_);
    }
    MpiGroup(const MpiGroup&) = delete;
    MpiGroup& operator=(const MpiGroup&) = delete;
    [[nodiscard]] int rank() const override { return rank_; }
    [[nodiscard]] int size() const override { return size_; }
    void sum(std::span<float> v) override { sum_in_pieces(v); }
    void sum(std::span<double> v) override { sum_in_pieces(v); }
    void broadcast(std::span<std::byte> bytes, int root) override {
        for (std::size_t at = 0; at < bytes.size(); at += kPiece) {
            const auto n = static_cast<int>(std::min(kPiece, bytes.size() - at));
            mpi_detail::check(MPI_Bcast(bytes.data() + at, n, MPI_BYTE, root, comm_), "MPI_Bcast");
        }
    }
    [[nodiscard]] std::vector<std::vector<std::byte>> gather_all(std::span<const std::byte> bytes) override {
        // the sizes first, in 64 bits, so that every process sees every size and refuses (or not) alike
        const auto mine64 = static_cast<long long>(bytes.size());
        std::vector<long long> sizes(static_cast<std::size_t>(size_));
        mpi_detail::check(MPI_Allgather(&mine64, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, comm_),
                          "MPI_Allgather");
        long long total = 0;
        for (long long n : sizes) total += n;
        EMBER_CHECK(total <= static_cast<long long>(kPiece), ValueError, "MpiGroup::gather_all: ", total,
                    " bytes from the processes in all (at most ", kPiece, ")");
        const int mine = static_cast<int>(mine64);
        std::vector<int> counts(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
        for (int r = 0, at = 0; r < size_; ++r) {
            counts[static_cast<std::size_t>(r)] = static_cast<int>(sizes[static_cast<std::size_t>(r)]);
            offsets[static_cast<std::size_t>(r)] = at;
            at += counts[static_cast<std::size_t>(r)];
        }
        std::vector<std::byte> all(static_cast<std::size_t>(total));
        mpi_detail::check(MPI_Allgatherv(bytes.data(), mine, MPI_BYTE, all.data(), counts.data(), offsets.data(),
                                         MPI_BYTE, comm_),
                          "MPI_Allgatherv");
        std::vector<std::vector<std::byte>> out;
        for (int r = 0; r < size_; ++r) {
            const auto* first = all.data() + offsets[static_cast<std::size_t>(r)];
            out.emplace_back(first, first + counts[static_cast<std::size_t>(r)]);
        }
        return out;
    }

private:
    static constexpr std::size_t kPiece = std::size_t{1} << 30;  // MPI counts are int

    template <class T>
    void sum_in_pieces(std::span<T> v) {
        const std::size_t piece = kPiece / sizeof(T);
        for (std::size_t at = 0; at < v.size(); at += piece)
            mpi_detail::ring_sum(v.subspan(at, std::min(piece, v.size() - at)), comm_, rank_, size_);
    }

    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0, size_ = 1;
};

}  // namespace ember::distributed
