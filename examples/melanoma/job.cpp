// examples/melanoma/job.cpp - job.hpp on ember/distributed where CMake found MPI (MELANOMA_WITH_MPI), else one
// process of one.
#include "job.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <span>
#include <thread>

#include <ember/core/parallel.hpp>
#ifdef MELANOMA_WITH_MPI
#include <ember/distributed/distributed.hpp>
#endif

namespace melanoma {

namespace {
Job& the_job() {
    static Job j;
    return j;
}
int& local_processes() {  // the job's processes on this machine, asked once by every process alike
    static int n = 1;
    return n;
}
std::streambuf*& saved_cerr() {  // std::cerr of a process other than rank 0, silenced until abort_job
    static std::streambuf* buf = nullptr;
    return buf;
}
#ifdef MELANOMA_WITH_MPI
std::unique_ptr<ember::distributed::Environment>& environment() {
    static std::unique_ptr<ember::distributed::Environment> env;
    return env;
}
#endif
}  // namespace

void start_job(int& argc, char**& argv) {
#ifdef MELANOMA_WITH_MPI
    namespace dist = ember::distributed;
    environment() = std::make_unique<dist::Environment>(argc, argv);
    std::atexit([] { environment().reset(); });  // MPI_Finalize however main returns
    if (dist::world_size() > 1) {
        static dist::MpiGroup world;
        the_job() = {world.rank(), world.size(), &world};
        local_processes() = dist::local_size();  // collective: here, where every process passes
    }
#else
    (void)argc, (void)argv;
#endif
    if (the_job().root()) return;
    std::cout.rdbuf(nullptr);  // rank 0 prints for the job, warnings included
    saved_cerr() = std::cerr.rdbuf(nullptr);
}

const Job& job() { return the_job(); }

void abort_job(const std::string& why, int code) {
    // Most errors strike every process alike (a refused option, a missing folder): a process other than rank 0
    // waits a moment, so that rank 0's abort usually ends the job first and the message is printed once. A
    // process that failed alone still ends the job, two seconds later.
    if (the_job().size > 1 && !the_job().root()) std::this_thread::sleep_for(std::chrono::seconds(2));
    if (saved_cerr()) std::cerr.rdbuf(saved_cerr());
#ifdef MELANOMA_WITH_MPI
    if (the_job().size > 1) ember::distributed::abort_job(why, code);
#endif
    std::cerr << "error: " << why << "\n";
    std::exit(code);
}

void barrier() {
    if (!the_job().group) return;
    double nothing[1] = {0};
    the_job().group->sum(std::span<double>(nothing));
}

bool root_decides(bool decision) {
    if (!the_job().group) return decision;
    std::byte b{static_cast<unsigned char>(decision ? 1 : 0)};
    the_job().group->broadcast({&b, 1}, 0);
    return b != std::byte{0};
}

int default_threads() {
    const int local = local_processes();
    return local > 1 ? std::max(1, ember::max_threads() / local) : 0;  // 0: every core
}

void require_same_start(const std::vector<std::string>& lines, const std::string& what) {
#ifdef MELANOMA_WITH_MPI
    if (the_job().group) ember::distributed::require_same_start(*the_job().group, lines, what);
#else
    (void)lines, (void)what;
#endif
}

}  // namespace melanoma
