// tests/nn/test_fold.cpp - fold_batch_norm: the folded model computes what the unfolded one computed in inference
// mode, with the foldable normalizations gone and the others kept.
#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
template <Real T>
nn::Sequential<T> model_with_norms() {
    return nn::Sequential<T>{nn::Conv2D<T>(4, 3, nn::same),         nn::BatchNormalization<T>(0.5),
                             nn::ReLU<T>(),                         nn::Conv2D<T>(3, 3, nn::same, nn::relu),
                             nn::BatchNormalization<T>(0.5),        nn::Flatten<T>(),
                             nn::Dense<T>(5),                       nn::BatchNormalization<T>(0.5, 1e-3, false, true)};
}

/// Trains the moving statistics away from 0 and 1 (and gamma/beta away from 1 and 0) so that folding has work.
template <Real T>
void move_statistics(nn::Sequential<T>& model, Generator& gen) {
    for (int step = 0; step < 3; ++step) (void)model(Tensor<T>::uniform({6, 5, 5, 2}, -1, 2, gen));
    for (auto& p : model.named_parameters())
        if (p.name.ends_with("gamma") || p.name.ends_with("beta"))
            for (T& v : Tensor<T>(p.value).span()) v += static_cast<T>(gen.uniform(-0.5, 0.5));
}
}  // namespace

TEMPLATE_TEST_CASE("fold_batch_norm keeps the inference outputs and removes the foldable normalizations",
                   "[nn][fold][batch_norm]", float, double) {
    using T = TestType;
    auto model = model_with_norms<T>();
    model.build({5, 5, 2}, 8);
    Generator gen(21);
    move_statistics(model, gen);
    model.eval();
    const auto x = Tensor<T>::uniform({3, 5, 5, 2}, -1, 2, gen);
    const auto before = model(x);
    CHECK(nn::fold_batch_norm(model) == 2);  // after the linear Conv2D and after the Dense
    REQUIRE(model.size() == 6);
    CHECK(model[1].type_name() == "ReLU");
    CHECK(model[3].type_name() == "BatchNormalization");  // after a fused ReLU: not foldable
    CHECK(model[5].type_name() == "Dense");
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    CHECK(test::max_rel_error(model(x), before) < tol);
    CHECK(nn::fold_batch_norm(model) == 0);
}

TEST_CASE("fold_batch_norm refuses a model that is not built; remove refuses a layer that changes shapes",
          "[nn][fold][errors]") {
    auto model = model_with_norms<float>();
    CHECK(test::error_message<StateError>([&] { nn::fold_batch_norm(model); }) ==
          "fold_batch_norm: build the model (and load its weights) first");
    model.build({5, 5, 2}, 1);
    CHECK(test::error_message<StateError>([&] { nn::fold_batch_norm(model); }).starts_with(
        "fold_batch_norm: call eval() first"));
    CHECK(test::error_message<ValueError>([&] { model.remove(0); }) ==
          "Sequential 'sequential': cannot remove Conv2D 'conv2d', which maps [5, 5, 2] to [5, 5, 4]");
    CHECK(test::error_message<ValueError>([&] { model.remove(8); }) ==
          "Sequential 'sequential': no layer 8 to remove (8 layers)");
}
