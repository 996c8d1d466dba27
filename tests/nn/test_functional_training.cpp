// tests/nn/test_functional_training.cpp - a functional Model where the library takes any Module: trained by
// train::fit, saved and loaded by io checkpoints (and refused when the checkpoint's graph is wired otherwise), and
// saved and restored with its optimizer as a training state.
#include <catch2/catch.hpp>

#include <ember/data/dataset.hpp>
#include <ember/io/checkpoint.hpp>
#include <ember/nn/nn.hpp>
#include <ember/optim/adam.hpp>
#include <ember/train/fit.hpp>
#include <ember/train/training_state.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// A small residual classifier of 6x6x2 images: a stem, a block whose shortcut is the stem's output (or, with
/// `shortcut_from_conv`, the same layers with the shortcut from the block's first convolution), dropout, a head.
template <Real T>
nn::Model<T> residual_net(std::uint64_t seed, bool shortcut_from_conv = false) {
    auto in = nn::Input<T>({6, 6, 2}, {.seed = seed});
    auto stem = nn::call(nn::Conv2D<T>(4, 3, nn::same, nn::relu), in);
    auto x = nn::call(nn::Conv2D<T>(4, 3, nn::same, nn::relu), stem);
    auto y = nn::call(nn::Conv2D<T>(4, 3, nn::same), x);
    auto block = nn::call(nn::ReLU<T>(), nn::call(nn::Add<T>(), {y, shortcut_from_conv ? x : stem}));
    auto features = nn::call(nn::Dropout<T>(0.1), nn::call(nn::Flatten<T>(), block));
    return nn::Model<T>(in, nn::call(nn::Dense<T>(2), features));
}

/// Class 1 iff the first channel's left half is brighter than its right half, plus noise in the second channel.
template <Real T>
data::TensorDataset<T> halves(index_t n, std::uint64_t seed) {
    Generator gen(seed);
    auto x = Tensor<T>::uniform({n, 6, 6, 2}, T(-0.3), T(0.3), gen);
    auto y = Tensor<T>::empty({n});
    for (index_t i = 0; i < n; ++i) {
        const bool left = i % 2 == 1;
        y.data()[i] = left ? T(1) : T(0);
        for (index_t r = 0; r < 6; ++r)
            for (index_t c = 0; c < 6; ++c) x(i, r, c, 0) += (c < 3) == left ? T(1) : T(0);
    }
    return data::TensorDataset<T>(x, y);
}

std::filesystem::path scratch(const std::string& name) { return test::scratch_root() / name; }
}  // namespace

TEMPLATE_TEST_CASE("train::fit trains a residual functional model: the loss falls", "[nn][functional][training]",
                   float, double) {
    using T = TestType;
    auto model = residual_net<T>(1);
    const auto set = halves<T>(48, 2);
    optim::Adam<T> adam(model.parameters(), {.lr = 0.01});
    train::FitOptions<T> o{.epochs = 6, .loss = nn::SparseCategoricalCrossentropy<T>{}};
    o.log = nullptr;
    const auto h = train::fit(model, adam, set, o, 8, 3);
    REQUIRE(h.epochs.size() == 6);
    const double first = h.epochs.front().get("loss"), last = h.epochs.back().get("loss");
    CAPTURE(first, last);
    CHECK(last < 0.5 * first);
}

TEST_CASE("a functional model's checkpoint loads into the same graph and is refused by another wiring",
          "[nn][functional][checkpoint]") {
    auto a = residual_net<float>(1);
    auto b = residual_net<float>(2);
    const auto path = scratch("functional.safetensors");
    io::save_checkpoint(path, a, {{"note", "residual"}});
    CHECK(io::load_checkpoint(path, b).at("note") == "residual");
    const auto pa = a.named_weights(), pb = b.named_weights();
    REQUIRE(pa.size() == pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
        CHECK(pa[i].name == pb[i].name);
        CHECK(pa[i].value.to_vector() == pb[i].value.to_vector());
    }
    a.eval();
    b.eval();
    const auto x = halves<float>(4, 5);
    Tensor<float> inputs = Tensor<float>::empty({4, 6, 6, 2}), targets = Tensor<float>::empty({4});
    Generator unused(0);
    for (index_t i = 0; i < 4; ++i)
        x.get(static_cast<std::size_t>(i), inputs.data() + i * 72, targets.data() + i, unused);
    CHECK(a(inputs).to_vector() == b(inputs).to_vector());

    auto rewired = residual_net<float>(1, true);  // the same layers and shapes; the shortcut joins elsewhere
    const auto before = rewired.parameters()[0].to_vector();
    CHECK(test::error_message<ValueError>([&] { io::load_checkpoint(path, rewired); }) ==
          "checkpoint '" + path.string() + "' holds another architecture: layer 5: add:Add:[6, 6, 4]"
          "<-conv2d_2,conv2d in the checkpoint, add:Add:[6, 6, 4]<-conv2d_2,conv2d_1 in the model");
    CHECK(rewired.parameters()[0].to_vector() == before);
}

TEMPLATE_TEST_CASE("a functional model's training state restores its weights, optimizer and generators",
                   "[nn][functional][training_state]", float, double) {
    using T = TestType;
    auto model = residual_net<T>(1);
    const auto set = halves<T>(16, 2);
    optim::Adam<T> adam(model.parameters(), {.lr = 0.01});
    train::FitOptions<T> o{.epochs = 2, .loss = nn::SparseCategoricalCrossentropy<T>{}};
    o.log = nullptr;
    const auto h = train::fit(model, adam, set, o, 8, 3);
    const auto path = scratch(std::string("functional_state_") + (sizeof(T) == 4 ? "f" : "d") + ".safetensors");
    train::save_training_state(path, model, adam, h);

    auto restored = residual_net<T>(9);
    optim::Adam<T> restored_adam(restored.parameters(), {.lr = 0.01});
    const auto back = train::load_training_state(path, restored, restored_adam);
    CHECK(back.history.epochs.size() == 2);
    CHECK(restored_adam.iterations() == adam.iterations());
    const auto pa = model.named_weights(), pb = restored.named_weights();
    for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i].value.to_vector() == pb[i].value.to_vector());
    const auto ga = model.named_generators(), gb = restored.named_generators();
    REQUIRE(ga.size() == 1);
    CHECK(gb[0].first == "dropout.mask");
    CHECK(ga[0].second->next_u64() == gb[0].second->next_u64());
}

TEST_CASE("a two-branch model with Add and Concatenate trains on generated data: the loss falls by more than 90%",
          "[nn][functional][training]") {
    // Two branches from one input: a 3x3 path with a residual Add, and a 1x1 path; joined by Concatenate.
    auto in = nn::Input<float>({6, 6, 2}, {.seed = 4});
    auto a = nn::call(nn::Conv2D(4, 3, nn::same, nn::relu), in);
    auto a2 = nn::call(nn::ReLU(), nn::call(nn::Add(), {nn::call(nn::Conv2D(4, 3, nn::same), a), a}));
    auto b = nn::call(nn::Conv2D(3, 1, nn::same, nn::relu), in);
    auto joined = nn::call(nn::Concatenate(), {a2, b});  // [6, 6, 7]
    auto out = nn::call(nn::Dense(2), nn::call(nn::GlobalAveragePooling2D(), joined));
    nn::Model<float> model(in, out);
    // by hand: conv 3x3 2->4 (72 + 4), conv 3x3 4->4 (144 + 4), conv 1x1 2->3 (6 + 3), dense 7->2 (14 + 2)
    const index_t by_hand = (3 * 3 * 2 * 4 + 4) + (3 * 3 * 4 * 4 + 4) + (1 * 1 * 2 * 3 + 3) + (7 * 2 + 2);
    CHECK(model.parameter_count() == by_hand);
    const std::string summary = model.summary();
    CHECK(summary.find("Total params: " + nn::Sequential<float>::with_commas(by_hand)) != std::string::npos);
    CHECK(summary.find("Trainable params: " + nn::Sequential<float>::with_commas(by_hand)) != std::string::npos);
    const auto set = halves<float>(64, 5);
    optim::Adam<float> adam(model.parameters(), {.lr = 0.02});
    train::FitOptions<float> o{.epochs = 30, .loss = nn::SparseCategoricalCrossentropy<float>{}};
    o.log = nullptr;
    const auto h = train::fit(model, adam, set, o, 16, 3);
    const double first = h.epochs.front().get("loss"), last = h.epochs.back().get("loss");
    CAPTURE(first, last);
    CHECK(last < 0.1 * first);
}
