// tests/fuzz/fuzz_file.hpp - the fuzzers of file readers write each input to one scratch file of this process (the
// readers take paths, as users call them) and read it back.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace ember::fuzz {

/// This process's scratch file, rewritten with `size` bytes from `data`.
inline const std::filesystem::path& scratch_file(const std::uint8_t* data, std::size_t size) {
    static const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("ember-fuzz-" + std::to_string(::getpid()) + ".safetensors");
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
    return path;
}

}  // namespace ember::fuzz
