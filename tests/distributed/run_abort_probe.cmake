# Runs abort_probe on 2 processes: the job must end (not hang), fail, and name the failing rank and its cause.
execute_process(COMMAND ${MPIEXEC} ${MPIEXEC_FLAGS} -np 2 ${PROBE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
set(all "${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "the job with a failing rank exited 0:\n${all}")
endif()
if("${rc}" MATCHES "timeout|Process terminated due to timeout")
  message(FATAL_ERROR "the job with a failing rank hung: ${rc}\n${all}")
endif()
if(NOT all MATCHES "ember: rank 1 of 2: cannot read /nonexistent/data")
  message(FATAL_ERROR "no message naming rank 1 and its cause:\n${all}")
endif()
message(STATUS "the job ended with ${rc}, naming rank 1")
