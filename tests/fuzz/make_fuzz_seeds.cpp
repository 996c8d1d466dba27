// tests/fuzz/make_fuzz_seeds.cpp - writes the fuzzers' seed corpora, so that no binary seeds are committed:
//   make_fuzz_seeds <dir>   ->  <dir>/image/{tiny.png, tiny.bmp, tiny.jpg, tiny.gif, gray.png}
//                               <dir>/safetensors/{float.safetensors, double.safetensors, ints.safetensors}
//                               <dir>/checkpoint/{checkpoint.safetensors, state.safetensors}
// The images come from stb_image_write (Debian libstb-dev); the GIF, which it cannot write, is 35 literal bytes.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#else
#include <stb_image_write.h>
#endif

#include <ember/io/checkpoint.hpp>
#include <ember/optim/adam.hpp>
#include <ember/train/training_state.hpp>

#include "fuzz_model.hpp"

namespace fs = std::filesystem;

namespace {
void write_images(const fs::path& dir) {
    fs::create_directories(dir);
    std::vector<unsigned char> rgb(6 * 5 * 3);
    for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<unsigned char>(i * 37 % 256);
    stbi_write_png((dir / "tiny.png").c_str(), 6, 5, 3, rgb.data(), 6 * 3);
    stbi_write_png((dir / "gray.png").c_str(), 6, 5, 1, rgb.data(), 6);
    stbi_write_bmp((dir / "tiny.bmp").c_str(), 6, 5, 3, rgb.data());
    stbi_write_jpg((dir / "tiny.jpg").c_str(), 6, 5, 3, rgb.data(), 90);
    // a 1x1 GIF89a: header, logical screen, 2-colour table, image descriptor, LZW data, trailer
    const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 255, 0, 0, 0, 0, 255,
                                 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B};
    std::ofstream(dir / "tiny.gif", std::ios::binary).write(reinterpret_cast<const char*>(gif), sizeof gif);
}

void write_safetensors(const fs::path& dir) {
    fs::create_directories(dir);
    ember::Generator gen(1);
    const auto t = ember::Tensor<float>::uniform({2, 3}, -1, 1, gen);
    ember::io::save_safetensors<float>(dir / "float.safetensors", {{"a", t}, {"b", t.clone()}}, {{"note", "seed"}});
    const auto d = ember::Tensor<double>::uniform({4}, -1, 1, gen);
    ember::io::save_safetensors<double>(dir / "double.safetensors", {{"x", d}}, {});
}

void write_checkpoints(const fs::path& dir) {
    fs::create_directories(dir);
    auto model = ember::fuzz::small_model();
    ember::io::save_checkpoint(dir / "checkpoint.safetensors", model, {{"class_names", "[\"a\",\"b\",\"c\"]"}});
    ember::optim::Adam<float> adam(model.parameters());
    ember::train::History history;
    history.epochs.push_back({1, {{"loss", 1.5}, {"accuracy", 0.5}, {"seconds", 0.1}}});
    ember::train::save_training_state(dir / "state.safetensors", model, adam, history, {{"run", "seed"}});
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_fuzz_seeds <dir>\n";
        return 2;
    }
    const fs::path root = argv[1];
    write_images(root / "image");
    write_safetensors(root / "safetensors");
    write_checkpoints(root / "checkpoint");
    std::cout << "seeds written under " << root << "\n";
    return 0;
}
