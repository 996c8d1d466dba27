// ember/version.hpp - the library version (kept equal to project(VERSION) in CMakeLists.txt).
#pragma once

#define EMBER_VERSION_MAJOR 0
#define EMBER_VERSION_MINOR 1
#define EMBER_VERSION_PATCH 0
#define EMBER_VERSION_STRING "0.1.0"
