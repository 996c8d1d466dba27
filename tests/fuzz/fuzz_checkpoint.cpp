// tests/fuzz/fuzz_checkpoint.cpp - libFuzzer harness: any bytes as a checkpoint of a small CNN (the checks of the
// header, architecture, names, shapes and values), and as a training state of the same model with Adam. A checkpoint
// that loads also runs once in inference mode: the values it holds (a negative moving variance) must be refused
// there with an Error, never turned into NaN or a crash.
#include <cstddef>
#include <cstdint>

#include <ember/io/checkpoint.hpp>
#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/train/training_state.hpp>

#include "fuzz_file.hpp"
#include "fuzz_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static auto model = ember::fuzz::small_model();
    static ember::optim::Adam<float> adam(model.parameters());
    const auto& path = ember::fuzz::scratch_file(data, size);
    try {
        (void)ember::io::load_checkpoint(path, model);
        model.eval();
        ember::NoGradGuard no_grad;
        (void)model(ember::Tensor<float>::ones({1, 4, 4, 3}));
        model.train();
    } catch (const ember::Error&) {
        model.train();
    }
    try {
        (void)ember::train::load_training_state(path, model, adam);
    } catch (const ember::Error&) {
    }
    return 0;
}
