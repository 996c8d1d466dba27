// tests/nn/test_functional.cpp - the functional graph (nn/functional.hpp, nn/model.hpp): a residual block against
// the same ops written by hand, shape inference, naming, the summary, seeds, layer sharing, several inputs and
// outputs, a Sequential as a layer, and every error the graph raises where it is written.
#include <catch2/catch.hpp>

#include <ember/nn/nn.hpp>

#include "helpers.hpp"

using namespace ember;

namespace {
/// in [8, 8, 4] -> conv2d (relu) -> conv2d_1 -> add with the input -> relu -> flatten -> dense [2].
template <Real T>
nn::Model<T> residual_model(std::uint64_t seed = 0) {
    auto in = nn::Input<T>({8, 8, 4}, {.seed = seed});
    auto x = nn::call(nn::Conv2D<T>(4, 3, nn::same, nn::relu), in);
    x = nn::call(nn::Conv2D<T>(4, 3, nn::same), x);
    auto y = nn::call(nn::ReLU<T>(), nn::call(nn::Add<T>(), {x, in}));
    return nn::Model<T>(in, nn::call(nn::Dense<T>(2), nn::call(nn::Flatten<T>(), y)));
}

template <Real T>
std::vector<std::vector<T>> weights_of(const nn::Module<T>& m) {
    std::vector<std::vector<T>> out;
    for (const auto& p : m.named_parameters()) out.push_back(p.value.to_vector());
    return out;
}
}  // namespace

TEMPLATE_TEST_CASE("a residual block computes what its ops written by hand compute, forward and backward",
                   "[nn][functional]", float, double) {
    using T = TestType;
    auto model = residual_model<T>(3);
    auto& c1 = dynamic_cast<nn::Conv2D<T>&>(model.layer("conv2d"));
    auto& c2 = dynamic_cast<nn::Conv2D<T>&>(model.layer("conv2d_1"));
    auto& dense = dynamic_cast<nn::Dense<T>&>(model.layer("dense"));
    Generator gen(4);
    const auto x = Tensor<T>::uniform({3, 8, 8, 4}, T(-1), T(1), gen);
    const auto weights = Tensor<T>::uniform({3, 2}, T(-1), T(1), gen);
    auto loss_of = [&](const Tensor<T>& y) { return sum(mul(y, weights)); };

    const auto input_a = x.clone().requires_grad(true);
    const auto graph_out = model(input_a);
    loss_of(graph_out).backward();
    std::vector<Tensor<T>> graph_grads;
    for (const auto& p : model.parameters()) graph_grads.push_back(p.grad().clone());
    for (auto p : model.parameters()) p.zero_grad();

    const auto input_b = x.clone().requires_grad(true);
    const auto h = conv2d(conv2d(input_b, c1.kernel(), c1.bias(), c1.options()), c2.kernel(), c2.bias(), c2.options());
    const auto by_hand = add(matmul(flatten(relu(add(h, input_b))), dense.kernel()), dense.bias());
    loss_of(by_hand).backward();

    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-12;
    CHECK(test::max_rel_error(graph_out, by_hand) < tol);
    CHECK(test::max_rel_error(input_a.grad(), input_b.grad()) < tol);
    const auto params = model.parameters();
    REQUIRE(params.size() == 6);
    for (std::size_t i = 0; i < params.size(); ++i) CHECK(test::max_rel_error(graph_grads[i], params[i].grad()) < tol);
}

TEST_CASE("shapes are inferred through branches and merges as the layers are called", "[nn][functional]") {
    auto in = nn::Input<float>({16, 16, 3});
    auto wide = nn::call(nn::Conv2D(8, 3, nn::same, nn::relu), in);
    auto narrow = nn::call(nn::Conv2D(4, 1), in);
    CHECK(wide.shape() == Shape{16, 16, 8});
    CHECK(narrow.shape() == Shape{16, 16, 4});
    auto joined = nn::call(nn::Concatenate(), {wide, narrow});
    CHECK(joined.shape() == Shape{16, 16, 12});
    auto pooled = nn::call(nn::MaxPool2D(2), joined);
    CHECK(pooled.shape() == Shape{8, 8, 12});
    auto out = nn::call(nn::Dense(5), nn::call(nn::Flatten(), pooled));
    CHECK(out.shape() == Shape{5});
    CHECK(out.inbound().size() == 1);
    CHECK(joined.inbound().size() == 2);
    CHECK(in.is_input());
    nn::Model<float> model(in, out);
    CHECK(model.built());
    CHECK(model.input_shape() == Shape{16, 16, 3});
    CHECK(model.output_shape() == Shape{5});
    std::vector<std::string> names;
    for (const auto* l : model.layers()) names.push_back(l->name());
    CHECK(names == std::vector<std::string>{"input_layer", "conv2d", "conv2d_1", "concatenate", "max_pool2d",
                                            "flatten", "dense"});
    std::vector<std::string> params;
    for (const auto& p : model.named_parameters()) params.push_back(p.name);
    CHECK(params == std::vector<std::string>{"conv2d.kernel", "conv2d.bias", "conv2d_1.kernel", "conv2d_1.bias",
                                             "dense.kernel", "dense.bias"});
    CHECK(model.parameter_count() == (3 * 3 * 3 * 8 + 8) + (3 * 4 + 4) + (8 * 8 * 12 * 5 + 5));
    CHECK(model(Tensor<float>::zeros({2, 16, 16, 3})).shape() == Shape{2, 5});
    CHECK(model.architecture() ==
          "input_layer:InputLayer:[16, 16, 3];conv2d:Conv2D:[16, 16, 8]<-input_layer;conv2d_1:Conv2D:[16, 16, 4]"
          "<-input_layer;concatenate:Concatenate:[16, 16, 12]<-conv2d,conv2d_1;max_pool2d:MaxPool2D:[8, 8, 12]"
          "<-concatenate;flatten:Flatten:[768]<-max_pool2d;dense:Dense:[5]<-flatten;outputs:dense");
}

TEST_CASE("summary() prints Keras' functional table with the layers each one reads", "[nn][functional]") {
    auto model = residual_model<float>();
    const std::string expected =
        "Model: \"functional\"\n" + std::string(98, '_') + "\n"
        " Layer (type)                    Output Shape                Param #  Connected to\n" +
        std::string(98, '=') + "\n"
        " input_layer (InputLayer)        (None, 8, 8, 4)                   0  -\n\n"
        " conv2d (Conv2D)                 (None, 8, 8, 4)                 148  input_layer[0][0]\n\n"
        " conv2d_1 (Conv2D)               (None, 8, 8, 4)                 148  conv2d[0][0]\n\n"
        " add (Add)                       (None, 8, 8, 4)                   0  conv2d_1[0][0]\n"
        "                                                                      input_layer[0][0]\n\n"
        " re_lu (ReLU)                    (None, 8, 8, 4)                   0  add[0][0]\n\n"
        " flatten (Flatten)               (None, 256)                       0  re_lu[0][0]\n\n"
        " dense (Dense)                   (None, 2)                       514  flatten[0][0]\n" +
        std::string(98, '=') + "\n"
        "Total params: 810\nTrainable params: 810\nNon-trainable params: 0\n" + std::string(98, '_') + "\n";
    CHECK(model.summary() == expected);
}

TEST_CASE("the same code builds the same weights; the Input's seed changes them", "[nn][functional]") {
    auto a = residual_model<float>(7), b = residual_model<float>(7), c = residual_model<float>(8);
    CHECK(weights_of(a) == weights_of(b));
    CHECK(weights_of(a) != weights_of(c));
    CHECK(a.build({8, 8, 4}, 7) == Shape{2});  // the Input's seed: nothing to redraw
    CHECK(test::error_message<ValueError>([&] { a.build({8, 8, 4}, 9); }) ==
          "Functional 'functional': its weights were drawn when its layers were called, from its Input's generator "
          "(seed 7); build(shape, 9) cannot draw them again: give the seed to nn::Input(shape, {.seed = 9})");
    CHECK_THAT(test::error_message<ShapeError>([&] { a.build({8, 8, 3}, 7); }),
               Catch::StartsWith("Functional 'functional': already built for input [8, 8, 4]"));
}

TEST_CASE("explicit names are kept, automatic ones avoid them, and a duplicate is refused", "[nn][functional]") {
    auto in = nn::Input<float>({4}, {.name = "features"});
    nn::Dense<float> named(3);
    named.set_name("dense");
    auto h = nn::call(nn::Dense(3), in);  // called first, named after the explicit one is reserved
    auto out = nn::call(std::move(named), h);
    nn::Model<float> model(in, out, "scorer");
    std::vector<std::string> names;
    for (const auto* l : model.layers()) names.push_back(l->name());
    CHECK(names == std::vector<std::string>{"features", "dense_1", "dense"});
    CHECK(model.name() == "scorer");
    CHECK(test::error_message<ValueError>([&] { (void)model.layer("head"); }) ==
          "Functional 'scorer' has no layer 'head' (it has features, dense_1, dense)");

    auto in2 = nn::Input<float>({4});
    nn::Dense<float> first(3), second(3);
    first.set_name("head");
    second.set_name("head");
    auto a = nn::call(std::move(first), in2);
    auto b = nn::call(std::move(second), in2);
    CHECK(test::error_message<ValueError>([&] { nn::Model<float>(in2, nn::call(nn::Add(), {a, b})); }) ==
          "Functional 'functional': two layers are named 'head' (Dense and Dense); names must be unique within a "
          "model");
}

TEMPLATE_TEST_CASE("a shared layer is one layer with one set of weights, trained by every call", "[nn][functional]",
                   float, double) {
    using T = TestType;
    auto left = nn::Input<T>({4}), right = nn::Input<T>({4});
    auto dense = nn::shared(nn::Dense<T>(3));
    auto sum_of = nn::call(nn::Add<T>(), {nn::call(dense, left), nn::call(dense, right)});
    nn::Model<T> model({left, right}, {sum_of});
    CHECK(model.layers().size() == 4);
    CHECK(model.named_parameters().size() == 2);
    CHECK(model.architecture() ==
          "input_layer:InputLayer:[4];input_layer_1:InputLayer:[4];dense:Dense:[3]<-input_layer|input_layer_1;"
          "add:Add:[3]<-dense,dense[1];outputs:add");
    Generator gen(5);
    const auto a = Tensor<T>::uniform({2, 4}, T(-1), T(1), gen), b = Tensor<T>::uniform({2, 4}, T(-1), T(1), gen);
    const auto y = model({a, b});
    REQUIRE(y.size() == 1);
    const auto affine = [&](const Tensor<T>& v) { return add(matmul(v, dense->kernel()), dense->bias()); };
    const auto expected = add(affine(a), affine(b));
    CHECK(test::max_rel_error(y[0], expected.detach()) < 1e-6);
    sum(y[0]).backward();
    // d/dW of sum((a + b) W + 2 bias) is (a + b)^T 1: both calls' contributions
    const auto col = sum(add(a, b), 0);
    for (index_t i = 0; i < 4; ++i)
        for (index_t j = 0; j < 3; ++j) CHECK(dense->kernel().grad()(i, j) == Approx(col(i)).epsilon(1e-5));
    CHECK(test::error_message<ShapeError>([&] { nn::call(dense, nn::Input<T>({5})); }) ==
          "Dense 'dense': built for input [4], cannot be called on [5]: a layer keeps the weights it was built with, "
          "so each of its calls needs that input shape");
}

TEST_CASE("a model of several inputs and outputs takes and returns lists", "[nn][functional]") {
    auto image = nn::Input<float>({6, 6, 2}, {.name = "image"});
    auto extra = nn::Input<float>({3}, {.name = "extra", .seed = 1});
    auto features = nn::call(nn::Flatten(), nn::call(nn::Conv2D(2, 3), image));
    auto joined = nn::call(nn::Concatenate(), {features, nn::call(nn::Dense(4, nn::relu), extra)});
    auto logits = nn::call(nn::Dense(3), joined);
    auto score = nn::call(nn::Dense(1), joined);
    nn::Model<float> model({image, extra}, {logits, score});
    const auto out = model({Tensor<float>::ones({2, 6, 6, 2}), Tensor<float>::ones({2, 3})});
    REQUIRE(out.size() == 2);
    CHECK(out[0].shape() == Shape{2, 3});
    CHECK(out[1].shape() == Shape{2, 1});
    CHECK(model.input_shape() == Shape{6, 6, 2});
    CHECK(test::error_message<StateError>([&] { model(Tensor<float>::ones({2, 6, 6, 2})); }) ==
          "Functional 'functional' has 2 input(s) and 2 output(s): give it a std::vector of one batch per input");
    CHECK(test::error_message<ValueError>([&] { model(std::vector{Tensor<float>::ones({2, 6, 6, 2})}); }) ==
          "Functional 'functional': takes 2 input batch(es), got 1");
    CHECK(test::error_message<ShapeError>([&] {
              model({Tensor<float>::ones({2, 6, 6, 2}), Tensor<float>::ones({3, 3})});
          }) == "Functional 'functional': the batch for input 'extra' has 3 samples, the first input's has 2");
}

TEST_CASE("a Sequential is a layer of a graph, and train() reaches every layer", "[nn][functional]") {
    auto in = nn::Input<float>({8, 8, 1});
    auto x = nn::call(nn::Sequential<float>{nn::Conv2D(2, 3, nn::same, nn::relu), nn::MaxPool2D(2)}, in);
    auto y = nn::call(nn::Dropout(0.5), nn::call(nn::Flatten(), x));
    nn::Model<float> model(in, nn::call(nn::Dense(2), y));
    CHECK(x.shape() == Shape{4, 4, 2});
    CHECK(model.named_parameters()[0].name == "sequential.conv2d.kernel");
    REQUIRE(model.named_generators().size() == 1);
    CHECK(model.named_generators()[0].first == "dropout.mask");
    model.eval();
    for (const auto* l : model.layers()) CHECK_FALSE(l->is_training());
    auto& seq = dynamic_cast<nn::Sequential<float>&>(model.layer("sequential"));
    CHECK_FALSE(seq[0].is_training());
    model.train();
    CHECK(seq[1].is_training());
    CHECK(model.layer("dropout").is_training());
}

TEST_CASE("a Model is a layer of another graph, keeping its weights", "[nn][functional]") {
    auto block = residual_model<float>(4);
    const auto block_weights = weights_of(block);
    auto in = nn::Input<float>({8, 8, 4});
    auto twice = nn::call(nn::Dense(2), nn::call(std::move(block), in));
    nn::Model<float> outer(in, twice);
    CHECK(twice.shape() == Shape{2});
    const auto names = outer.named_parameters();
    REQUIRE(names.size() == 8);
    CHECK(names[0].name == "functional.conv2d.kernel");
    CHECK(names[6].name == "dense.kernel");
    auto& inner = dynamic_cast<nn::Model<float>&>(outer.layer("functional"));
    CHECK(weights_of(inner) == block_weights);
    CHECK(outer(Tensor<float>::ones({3, 8, 8, 4})).shape() == Shape{3, 2});
    auto other_shape = nn::Input<float>({8, 8, 3});
    CHECK(test::error_message<ShapeError>([&] { nn::call(nn::shared(residual_model<float>()), other_shape); }) ==
          "Functional 'functional': built for input [8, 8, 4], cannot be called on [8, 8, 3]: a layer keeps the "
          "weights it was built with, so each of its calls needs that input shape");
}

TEST_CASE("graph errors are raised where the graph is written, naming layers and shapes",
          "[nn][functional][errors]") {
    auto image = nn::Input<float>({8, 8, 3});
    auto a = nn::call(nn::Conv2D(16, 3, nn::same), image);
    auto b = nn::call(nn::Conv2D(8, 3, nn::same), image);
    CHECK(test::error_message<ShapeError>([&] { nn::call(nn::Add(), {a, b, a}); }) ==
          "Add 'add': cannot add inputs of shapes [8, 8, 16], [8, 8, 8] and [8, 8, 16]: every input must have the "
          "same shape");
    CHECK(test::error_message<ShapeError>([&] { nn::call(nn::Dense(3), image); }) ==
          "Dense 'dense': expected input [N, features], got [N, 8, 8, 3] (add a Flatten layer before it)");
    CHECK(test::error_message<ShapeError>([&] { nn::call(nn::Conv2D(4, 3), nn::Input<float>({10})); }) ==
          "Conv2D 'conv2d': expected input [N, H, W, C], got [N, 10]");
    nn::Symbol<float> unset;
    CHECK(test::error_message<ValueError>([&] { nn::call(nn::ReLU(), unset); }) ==
          "nn::call: ReLU 're_lu' called on an undefined symbol (input 0); symbols come from nn::Input and nn::call");
    std::shared_ptr<nn::Module<float>> as_module = std::make_shared<nn::Dense<float>>(3);
    CHECK(test::error_message<ValueError>([&] { nn::call(as_module, std::vector{a, b}); }) ==
          "nn::call: Dense 'dense' takes one input, got 2 (merge them first, with nn::Add or nn::Concatenate)");
}

TEST_CASE("a Model refuses unused inputs, unreachable outputs and inputs that are not Inputs",
          "[nn][functional][errors]") {
    auto used = nn::Input<float>({4}), unused = nn::Input<float>({6}), other = nn::Input<float>({5});
    auto out = nn::call(nn::Dense(2), used);
    CHECK(test::error_message<ValueError>([&] { nn::Model<float>({used, unused}, {out}); }) ==
          "Functional 'functional': input 'input_layer_1' ([6]) is not used by any output");
    auto elsewhere = nn::call(nn::Dense(2), other);
    CHECK(test::error_message<ValueError>([&] { nn::Model<float>({used}, {out, elsewhere}); }) ==
          "Functional 'functional': output 1 (Dense 'dense') needs InputLayer 'input_layer' of shape [5], an "
          "nn::Input that is not among the model's inputs");
    CHECK(test::error_message<ValueError>([&] { nn::Model<float>(out, out); }) ==
          "Functional 'functional': input 0 is the output of Dense 'dense', not an nn::Input");
    CHECK(test::error_message<ValueError>([&] { nn::Model<float>({used, used}, {out}); }) ==
          "Functional 'functional': input 1 is input 0 again");
    CHECK(test::error_message<ValueError>([&] { nn::Model<float>({used}, std::vector<nn::Symbol<float>>{}); }) ==
          "Functional 'functional': needs at least one input and one output, got 1 and 0");
    nn::Model<float> model(used, out);
    CHECK(test::error_message<ShapeError>([&] { model(Tensor<float>::zeros({2, 5})); }) ==
          "Functional 'functional': input 'input_layer' expects [N, 4], got [2, 5]");
    CHECK(test::error_message<ShapeError>([&] { model(Tensor<float>::zeros({2, 4, 1})); }) ==
          "Functional 'functional': input 'input_layer' expects [N, 4], got [2, 4, 1]");
}

TEST_CASE("the residual block of README.md builds, counts its weights and runs", "[nn][functional]") {
    // README.md's snippet, word for word.
    auto in = nn::Input<float>({32, 32, 16});
    auto x = nn::call(nn::Conv2D(16, 3, nn::same, nn::relu), in);
    x = nn::call(nn::BatchNormalization(), nn::call(nn::Conv2D(16, 3, nn::same), x));
    auto y = nn::call(nn::ReLU(), nn::call(nn::Add(), {x, in}));  // a residual block
    nn::Model<float> model(in, nn::call(nn::Dense(10), nn::call(nn::GlobalAveragePooling2D(), y)));
    CHECK(model.parameter_count() == 2 * (3 * 3 * 16 * 16 + 16) + 2 * 16 + 16 * 10 + 10);
    CHECK(model.buffer_count() == 2 * 16);
    Generator gen(1);
    CHECK(model(Tensor<float>::uniform({2, 32, 32, 16}, -1, 1, gen)).shape() == Shape{2, 10});
}

TEST_CASE("building a Model from another model's symbols leaves that model's layers in their mode", "[nn][functional]") {
    auto in = nn::Input<float>({6});
    auto h = nn::call(nn::Dropout(0.5), nn::call(nn::Dense(4), in));
    nn::Model<float> whole(in, nn::call(nn::Dense(2), h));
    whole.eval();
    Generator gen(2);
    const auto x = Tensor<float>::uniform({3, 6}, -1, 1, gen);
    const auto before = whole(x);
    nn::Model<float> features(in, h);  // shares the Dense and the Dropout
    CHECK(test::max_rel_error(whole(x), before) == 0);  // the Dropout stayed in inference mode
}

TEST_CASE("a layer reachable directly and inside a nested Model is one parameter set, listed once", "[nn][functional]") {
    auto in = nn::Input<float>({4});
    auto mid = nn::call(nn::Dense(3), in);
    auto encoder = nn::shared(nn::Model<float>(in, mid));
    auto in2 = nn::Input<float>({4}, {.name = "second"});
    auto out = nn::call(nn::Add(), {nn::call(encoder, in2), mid});
    nn::Model<float> outer({in, in2}, {out});
    CHECK(outer.parameters().size() == 2);  // the Dense's kernel and bias, once
    CHECK(outer.parameter_count() == 4 * 3 + 3);
}
