# tests/packaging/run_consumer.cmake - one packaging test (cmake -P): configures, builds and runs a consumer project
# in a fresh build folder, and fails with the failing step's output unless the program prints EXPECT.
#
#   cmake -DCONSUMER_SOURCE_DIR=<project> -DCONSUMER_BINARY_DIR=<dir> -DEXPECT=<text> [-DGENERATOR=<gen>]
#         [-DCMAKE_ARGS=<-Da=b|-Dc=d>] [-DPACK_EMBER_SOURCE=<ember source tree>] -P run_consumer.cmake
#
# PACK_EMBER_SOURCE packs CMakeLists.txt, cmake/ and include/ of that tree into <dir>-src.tar.gz and passes
# -DEMBER_URL=file://<archive> and -DEMBER_URL_HASH=SHA256=<hash> to the consumer (for FetchContent).
cmake_minimum_required(VERSION 3.16)
foreach(var CONSUMER_SOURCE_DIR CONSUMER_BINARY_DIR EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

file(REMOVE_RECURSE ${CONSUMER_BINARY_DIR})
if(PACK_EMBER_SOURCE)
  set(archive ${CONSUMER_BINARY_DIR}-src.tar.gz)
  file(REMOVE ${archive})
  set(paths CMakeLists.txt cmake include)
  foreach(optional LICENSE README.md)
    if(EXISTS ${PACK_EMBER_SOURCE}/${optional})
      list(APPEND paths ${optional})
    endif()
  endforeach()
  execute_process(COMMAND ${CMAKE_COMMAND} -E tar czf ${archive} -- ${paths}
    WORKING_DIRECTORY ${PACK_EMBER_SOURCE} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "could not pack ${PACK_EMBER_SOURCE} into ${archive}")
  endif()
  file(SHA256 ${archive} hash)
  list(APPEND cmake_args -DEMBER_URL=file://${archive} -DEMBER_URL_HASH=SHA256=${hash})
endif()

run_step("configure" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${CONSUMER_BINARY_DIR} ${cmake_args})
run_step("build" ${CMAKE_COMMAND} --build ${CONSUMER_BINARY_DIR})
run_step("run" ${CONSUMER_BINARY_DIR}/consumer)
message(STATUS "consumer printed: ${output}")
string(FIND "${output}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the consumer did not print '${EXPECT}'")
endif()
