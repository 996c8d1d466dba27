# tests/packaging/install_ember.cmake - the setup of the find_package test (cmake -P): configures a fresh build of
# ember's source tree with its tests, benchmarks and examples off, installs it, and moves the install elsewhere
# (an installed package must not depend on where it was first put). Fails with the step's output on any error.
#
#   cmake -DEMBER_SOURCE_DIR=<src> -DWORK_DIR=<dir> [-DGENERATOR=<gen>] [-DCMAKE_ARGS=<-Da=b|-Dc=d>]
#         -P install_ember.cmake
# leaves the install in <dir>/prefix.
cmake_minimum_required(VERSION 3.16)
foreach(var EMBER_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_ember.cmake: -D${var}=... is required")
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)

set(build ${WORK_DIR}/ember-build)
set(staging ${WORK_DIR}/staging)
set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${build} ${staging} ${prefix})
run_step("configure ember" ${CMAKE_COMMAND} -S ${EMBER_SOURCE_DIR} -B ${build} ${cmake_args}
  -DEMBER_BUILD_TESTS=OFF -DEMBER_BUILD_BENCH=OFF -DEMBER_BUILD_EXAMPLES=OFF)
run_step("install ember" ${CMAKE_COMMAND} --install ${build} --prefix ${staging})
file(RENAME ${staging} ${prefix})

# What a user's find_package(ember) and #include <ember/ember.hpp> rely on.
file(GLOB config_dir LIST_DIRECTORIES true ${prefix}/*/cmake/ember ${prefix}/*/*/cmake/ember)
foreach(file emberConfig.cmake emberConfigVersion.cmake emberTargets.cmake)
  if(NOT config_dir OR NOT EXISTS ${config_dir}/${file})
    message(FATAL_ERROR "the install has no <libdir>/cmake/ember/${file}")
  endif()
endforeach()
foreach(header ember/ember.hpp ember/version.hpp ember/vision/stb_image_impl.hpp)
  if(NOT EXISTS ${prefix}/include/${header})
    message(FATAL_ERROR "the install has no include/${header}")
  endif()
endforeach()
# No absolute path into the source tree, the build tree or the staging prefix may remain in the package files.
file(GLOB package_files ${config_dir}/*.cmake)
foreach(file IN LISTS package_files)
  file(READ ${file} text)
  foreach(path ${EMBER_SOURCE_DIR} ${WORK_DIR})
    string(FIND "${text}" "${path}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "${file} names the absolute path '${path}': the package is not relocatable")
    endif()
  endforeach()
endforeach()
message(STATUS "ember installed in ${prefix}")
