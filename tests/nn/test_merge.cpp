// tests/nn/test_merge.cpp - the concatenate op (forward values and errors) and the merge layers Add and Concatenate
// on batches: values, gradients, Keras' axis counting, and the errors that name the layer and every shape.
#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>

#include "helpers.hpp"

using namespace ember;

TEMPLATE_TEST_CASE("concatenate joins along any axis and hands each input its slice of the gradient",
                   "[autograd][merge]", float, double) {
    using T = TestType;
    auto a = Tensor<T>::from_data({2, 2}, {1, 2, 3, 4}).requires_grad(true);
    auto b = Tensor<T>::from_data({2, 1}, {5, 6}).requires_grad(true);
    const auto y = concatenate<T>({a, b}, -1);
    CHECK(y.shape() == Shape{2, 3});
    CHECK(y.to_vector() == std::vector<T>{1, 2, 5, 3, 4, 6});
    CHECK(y.grad_fn_name() == "concatenate");
    y.backward(Tensor<T>::from_data({2, 3}, {10, 20, 30, 40, 50, 60}));
    CHECK(a.grad().to_vector() == std::vector<T>{10, 20, 40, 50});
    CHECK(b.grad().to_vector() == std::vector<T>{30, 60});
    const auto rows = concatenate<T>({a.detach(), Tensor<T>::from_data({1, 2}, {7, 8})}, 0);
    CHECK(rows.shape() == Shape{3, 2});
    CHECK(rows.to_vector() == std::vector<T>{1, 2, 3, 4, 7, 8});
    CHECK_FALSE(rows.requires_grad());
}

TEST_CASE("concatenate names every shape when they do not fit", "[autograd][merge][errors]") {
    const auto x = Tensor<float>::zeros({2, 3}), y = Tensor<float>::zeros({3, 4}), z = Tensor<float>::zeros({2, 1});
    CHECK(test::error_message<ShapeError>([&] { (void)concatenate<float>({x, y, z}, 1); }) ==
          "concatenate: cannot concatenate shapes [2, 3], [3, 4] and [2, 1] along axis 1: every extent but the axis "
          "must match");
    CHECK(test::error_message<ShapeError>([&] { (void)concatenate<float>({x, Tensor<float>::zeros({2})}, 0); }) ==
          "concatenate: cannot concatenate tensors of different ranks, shapes [2, 3] and [2]");
    CHECK(test::error_message<IndexError>([&] { (void)concatenate<float>({x, z}, 2); }) ==
          "concatenate: axis 2 is out of range for tensors of rank 2 (shapes [2, 3] and [2, 1])");
    CHECK(test::error_message<ValueError>([&] { (void)concatenate<float>({}, 0); }) ==
          "concatenate: needs at least one tensor, got none");
}

TEMPLATE_TEST_CASE("Add sums two or more batches, and each gets the whole gradient", "[nn][merge]", float, double) {
    using T = TestType;
    Generator gen(1);
    std::vector<Tensor<T>> xs;
    for (int i = 0; i < 3; ++i) xs.push_back(Tensor<T>::uniform({2, 3, 3, 4}, T(-1), T(1), gen).requires_grad(true));
    nn::Add<T> add3;
    const auto y = add3(xs);
    CHECK(add3.output_shape() == Shape{3, 3, 4});
    CHECK(add3.input_shapes() == std::vector<Shape>{{3, 3, 4}, {3, 3, 4}, {3, 3, 4}});
    const auto expected = add(add(xs[0].detach(), xs[1].detach()), xs[2].detach());
    CHECK(y.to_vector() == expected.to_vector());
    sum(y).backward();
    for (const auto& x : xs) CHECK(x.grad().to_vector() == std::vector<T>(static_cast<std::size_t>(x.numel()), T(1)));
    CHECK(add3.parameter_count() == 0);
}

TEMPLATE_TEST_CASE("Concatenate counts its axis as Keras does, with the batch", "[nn][merge]", float, double) {
    using T = TestType;
    Generator gen(2);
    const auto a = Tensor<T>::uniform({2, 4, 4, 3}, T(-1), T(1), gen);
    const auto b = Tensor<T>::uniform({2, 4, 4, 5}, T(-1), T(1), gen);
    nn::Concatenate<T> channels;  // axis -1, Keras' default
    CHECK(channels.axis() == -1);
    const auto y = channels({a, b});
    CHECK(y.shape() == Shape{2, 4, 4, 8});
    CHECK(y.to_vector() == concatenate<T>({a, b}, 3).to_vector());
    const auto c = Tensor<T>::uniform({2, 1, 4, 3}, T(-1), T(1), gen);
    nn::Concatenate<T> rows(1);  // the first dimension of a sample
    CHECK(rows({a, c}).shape() == Shape{2, 5, 4, 3});
    CHECK(rows.output_shape() == Shape{5, 4, 3});
    nn::Concatenate<T> from_end(-3);
    CHECK(from_end({a, c}).shape() == Shape{2, 5, 4, 3});
}

TEST_CASE("merge layers name themselves and every shape in their errors", "[nn][merge][errors]") {
    Generator gen(3);
    nn::Add<float> add;
    CHECK(test::error_message<ShapeError>([&] { add.build({{8, 8, 16}, {8, 8, 8}, {8, 8, 16}}, gen); }) ==
          "Add 'add': cannot add inputs of shapes [8, 8, 16], [8, 8, 8] and [8, 8, 16]: every input must have the "
          "same shape");
    CHECK_FALSE(add.built());
    CHECK(test::error_message<ValueError>([&] { add.build(std::vector<Shape>{{8, 8, 16}}, gen); }) ==
          "Add 'add': a merge layer needs at least 2 inputs, got 1");
    nn::Concatenate<float> cat;
    CHECK(test::error_message<ShapeError>([&] { cat.build({{8, 8, 16}, {4, 8, 8}}, gen); }) ==
          "Concatenate 'concatenate': cannot concatenate inputs of shapes [8, 8, 16] and [4, 8, 8] along axis -1: "
          "every extent but the axis must match");
    CHECK(test::error_message<ShapeError>([&] { cat.build({{8, 8, 16}, {16}}, gen); }) ==
          "Concatenate 'concatenate': cannot concatenate inputs of shapes [8, 8, 16] and [16]: their ranks differ");
    nn::Concatenate<float> far(4);
    CHECK(test::error_message<ShapeError>([&] { far.build({{8, 8, 16}, {8, 8, 16}}, gen); }) ==
          "Concatenate 'concatenate': axis 4 is out of range for inputs [N, ...] of shapes [8, 8, 16] and [8, 8, 16]");
    CHECK(test::error_message<ValueError>([] { nn::Concatenate<float> batch(0); }) ==
          "Concatenate: axis 0 is the batch dimension; join samples along axis 1 or later (-1, the default, is the "
          "last)");
}

TEST_CASE("a built merge layer checks its batches, and refuses to be a single-input layer", "[nn][merge][errors]") {
    nn::Add<float> add;
    add({Tensor<float>::zeros({2, 3}), Tensor<float>::zeros({2, 3})});
    CHECK(test::error_message<ShapeError>([&] { add({Tensor<float>::zeros({2, 3}), Tensor<float>::zeros({2, 4})}); }) ==
          "Add 'add': expected inputs [2, 3] and [2, 3], got [2, 3] and [2, 4]");
    CHECK(test::error_message<ShapeError>([&] { add({Tensor<float>::zeros({2, 3}), Tensor<float>::zeros({5, 3})}); }) ==
          "Add 'add': expected inputs [2, 3] and [2, 3], got [2, 3] and [5, 3]");
    CHECK(test::error_message<ShapeError>([&] {
              add({Tensor<float>::zeros({2, 3}), Tensor<float>::zeros({2, 3}), Tensor<float>::zeros({2, 3})});
          }) == "Add 'add': expected inputs [2, 3] and [2, 3], got [2, 3], [2, 3] and [2, 3]");
    CHECK(test::error_message<StateError>([&] { add.forward(Tensor<float>::zeros({2, 3})); }) ==
          "Add 'add': a merge layer takes a list of inputs, not one tensor");
    nn::Sequential<float> seq{nn::Dense(3), nn::Add()};
    CHECK(test::error_message<StateError>([&] { seq.build({4}); }) ==
          "Add 'add': a merge layer takes a list of inputs: nn::call(layer, {a, b}) in a graph, layer({a, b}) on "
          "batches; it cannot be a layer of a Sequential");
}
