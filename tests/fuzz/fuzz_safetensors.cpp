// tests/fuzz/fuzz_safetensors.cpp - libFuzzer harness: any bytes as a safetensors file, read as float and as double.
#include <cstddef>
#include <cstdint>

#include <ember/io/safetensors.hpp>

#include "fuzz_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& path = ember::fuzz::scratch_file(data, size);
    try {
        (void)ember::io::load_safetensors<float>(path);
    } catch (const ember::Error&) {
    }
    try {
        (void)ember::io::load_safetensors<double>(path);
    } catch (const ember::Error&) {
    }
    return 0;
}
