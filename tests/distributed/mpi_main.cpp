// The Catch2 main of the distributed tests: MPI started around the Catch2 session (ctest runs the binary under
// mpirun with 2 processes). Each process runs every test case in the same order, so their collectives pair up; the
// exit code is the worst of the processes', so that a check that failed on rank 1 alone fails the test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <ember/distributed/mpi.hpp>

int main(int argc, char* argv[]) {
    ember::distributed::Environment mpi(argc, argv);
    int failed = Catch::Session().run(argc, argv);
    if (ember::distributed::mpi_running()) {
        int worst = 0;
        MPI_Allreduce(&failed, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        failed = worst;
    }
    return failed;
}
