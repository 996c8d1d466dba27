// tests/fuzz/fuzz_image.cpp - libFuzzer harness: any bytes through ember's public image decoder (every format it
// accepts). A clean run refuses bad input with an ember::Error and never reads or writes out of bounds.
#include <cstddef>
#include <cstdint>
#include <span>

#include <ember/vision/image.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto img = ember::vision::decode_image(std::span<const std::uint8_t>(data, size), "fuzz-input");
        volatile std::size_t sink = img.pixels.size();  // the decoded pixels are read, not optimised away
        (void)sink;
    } catch (const ember::Error&) {
    }
    return 0;
}
