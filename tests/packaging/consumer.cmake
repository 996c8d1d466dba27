# tests/packaging/consumer.cmake - included by each consumer project once it has ember (however it got it): checks
# what ember::ember carries into a user's build, then builds the program consumer.cpp against it.

if(NOT TARGET ember::ember)
  message(FATAL_ERROR "ember gave no target ember::ember")
endif()
# The library never forces machine-specific code or ember's own warning flags on its users.
foreach(property INTERFACE_COMPILE_OPTIONS INTERFACE_LINK_OPTIONS INTERFACE_LINK_LIBRARIES)
  get_target_property(value ember::ember ${property})
  if(value MATCHES "-march|-mtune|ember_dev_flags")
    message(FATAL_ERROR "ember::ember ${property} imposes '${value}' on its users")
  endif()
endforeach()

# ember_check_subproject(<ember source dir> <parent's CMAKE_BUILD_TYPE before ember was added>): as a subproject,
# ember adds only INTERFACE targets - none of its tests, benchmarks or examples - and leaves the build type alone.
function(ember_check_subproject dir build_type_before)
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  if(subdirs)
    message(FATAL_ERROR "ember added its own folders as a subproject: ${subdirs}")
  endif()
  foreach(option EMBER_BUILD_TESTS EMBER_BUILD_BENCH EMBER_BUILD_EXAMPLES)
    if(${option})
      message(FATAL_ERROR "${option} is ON in a subproject")
    endif()
  endforeach()
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      message(FATAL_ERROR "ember adds the ${type} target '${target}' as a subproject")
    endif()
  endforeach()
  if(NOT "${CMAKE_BUILD_TYPE}" STREQUAL "${build_type_before}")
    message(FATAL_ERROR "ember changed the parent's CMAKE_BUILD_TYPE from '${build_type_before}' to '${CMAKE_BUILD_TYPE}'")
  endif()
endfunction()

add_executable(consumer ${CMAKE_CURRENT_LIST_DIR}/consumer.cpp)
target_link_libraries(consumer PRIVATE ember::ember)
target_compile_options(consumer PRIVATE -O1)  # optimised enough for Eigen, the cheapest to compile
# With -DCONSUMER_EXTERN_KERNELS=ON the consumer follows README's recipe for compiling the kernels once (Note
# [extern kernels] in ember/kernels/instantiate.hpp): consumer.cpp declares them extern, consumer_kernels.cpp
# defines them. It links only if the installed headers declare and define the same instantiations.
option(CONSUMER_EXTERN_KERNELS "build consumer.cpp with EMBER_EXTERN_KERNELS and the kernels in their own file" OFF)
if(CONSUMER_EXTERN_KERNELS)
  target_compile_definitions(consumer PRIVATE EMBER_EXTERN_KERNELS)
  target_sources(consumer PRIVATE ${CMAKE_CURRENT_LIST_DIR}/consumer_kernels.cpp)
endif()
