// examples/melanoma/job.hpp - the data-parallel job this process belongs to: `mpirun -np N melanoma train ...` makes
// N processes that train one model together (ember/distributed); started alone, the program is one process of one.
// Built without MPI, every function here is that of one process.
#pragma once

#include <string>
#include <vector>

#include <ember/train/process_group.hpp>

namespace melanoma {

struct Job {
    int rank = 0, size = 1;
    ember::train::ProcessGroup* group = nullptr;  ///< nullptr for one process
    [[nodiscard]] bool root() const { return rank == 0; }
};

/// Starts MPI when a launcher started the program (first thing in main), and silences std::cout and std::cerr
/// on every process but rank 0, which alone prints progress, results and warnings (abort_job still speaks).
void start_job(int& argc, char**& argv);
[[nodiscard]] const Job& job();
/// Ends the whole job from this process, naming its rank and `why` (no process is left waiting).
[[noreturn]] void abort_job(const std::string& why, int code);
/// Returns once every process got here.
void barrier();
/// Rank 0's `decision`, on every process (what one process decided about shared files, e.g. a fold's lock).
bool root_decides(bool decision);
/// The threads --threads 0 means: the cores, divided among the job's processes on this machine.
int default_threads();
/// Refuses (ValueError on every process) a job whose processes describe their start (`lines`) differently.
void require_same_start(const std::vector<std::string>& lines, const std::string& what);

}  // namespace melanoma
