// Compiled only so that CMake builds the precompiled Catch2 header every test binary reuses (tests/CMakeLists.txt).
