# tests/packaging/common.cmake - shared by the packaging scripts (cmake -P): turns CMAKE_ARGS ("-Da=b|-Dc=d") and
# GENERATOR into `cmake_args`, drops an outer make jobserver, and defines run_step().
string(REPLACE "|" ";" cmake_args "${CMAKE_ARGS}")
if(GENERATOR)
  list(PREPEND cmake_args -G "${GENERATOR}")
endif()
unset(ENV{MAKEFLAGS})  # a make jobserver from an outer `make test` is not ours to use

# run_step(<step> <command...>): runs the command, sets `output` to what it printed; stops the test if it failed.
function(run_step step)
  string(TIMESTAMP start %s)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(TIMESTAMP end %s)
  math(EXPR seconds "${end} - ${start}")
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "${step} failed (${rc}): ${command}\n${out}")
  endif()
  message(STATUS "${step}: ok, ${seconds} s")
  set(output "${out}" PARENT_SCOPE)
endfunction()
