// tests/fuzz/fuzz_recipe.cpp - libFuzzer harness: any bytes as a recipe file of the melanoma example (its size
// bound, JSON parsing with bounded nesting, and each field's type, range and choice checks). A recipe is untrusted
// input: it is passed around with models and read by `melanoma train`, `cv` and `release`. The only acceptable
// outcome of bad bytes is RecipeError; anything else (another exception, a crash, a sanitizer report) is a finding.
#include <cstddef>
#include <cstdint>

#include "fuzz_file.hpp"
#include "train_options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& path = ember::fuzz::scratch_file(data, size);
    melanoma::TrainArgs args;
    try {
        melanoma::apply_recipe(args, path);
        (void)melanoma::recipe_of(args).dump();  // a recipe that was accepted records back whole
    } catch (const melanoma::RecipeError&) {
    }
    return 0;
}
