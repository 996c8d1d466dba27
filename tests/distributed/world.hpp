// The distributed tests' process group: MPI_COMM_WORLD's processes under mpirun, nullptr in a program started alone
// (each test then returns at once). One instance for every test file.
#pragma once

#include <ember/distributed/mpi.hpp>

namespace ember::test {
inline distributed::MpiGroup* world() {
    if (!distributed::mpi_running()) return nullptr;
    static distributed::MpiGroup group;
    return &group;
}
}  // namespace ember::test
