// A job whose rank 1 fails (it cannot read its data) while rank 0 waits in a collective: run_abort_probe.cmake checks
// that the whole job ends within seconds, with a non-zero exit and a message naming rank 1 and the cause.
#include <exception>
#include <vector>

#include <ember/distributed/distributed.hpp>

int main(int argc, char* argv[]) {
    ember::distributed::Environment mpi(argc, argv);
    try {
        ember::distributed::MpiGroup group;
        if (group.rank() == 1) throw ember::IoError("cannot read /nonexistent/data: no such folder");
        std::vector<double> waits_forever(4, 1.0);
        group.sum(std::span<double>(waits_forever));  // rank 1 never joins
        return 0;
    } catch (const std::exception& e) {
        ember::distributed::abort_job(e.what());
    }
}
