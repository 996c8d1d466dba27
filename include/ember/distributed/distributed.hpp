// ember/distributed/distributed.hpp - the distributed stage: data-parallel training across processes and machines
// on MPI. Environment starts MPI (or not, in a program started alone), MpiGroup is the train::ProcessGroup that
// fit() and evaluate() reduce over, require_same_start refuses processes started differently, abort_job ends the
// whole job from one process. Optional: only programs that include it need MPI (CMake target ember::distributed).
// May include: core, kernels, autograd, nn, optim, io, data, vision, train, distributed.
#pragma once

#include "ember/distributed/fingerprint.hpp"
#include "ember/distributed/mpi.hpp"
