// tests/autograd/test_op_table.cpp - walks ember/autograd/op_table.hpp: every op must have a gradient check here,
// which must pass in double, and every table entry must name the file that records the op.
#include <catch2/catch.hpp>

#include <ember/autograd/ops.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "helpers.hpp"

using namespace ember;
using V = std::vector<Tensor<double>>;
using autograd::op_count;
using autograd::op_table;

namespace {

/// One gradient check: `f` maps `inputs` to the output of the op under test (any shape); the check differentiates
/// weighted_sum(f(inputs)) with respect to every input.
struct GradCase {
    std::string what;
    V inputs;
    std::function<Tensor<double>(const V&)> f;
};

Tensor<double> uniform(Shape shape, double lo, double hi, Generator& gen) {
    return Tensor<double>::uniform(std::move(shape), lo, hi, gen);
}

/// The broadcasting forms of add/sub/mul/div: same shape, a bias row, a column against a 3-D tensor, a scalar.
/// Divisors stay in [0.5, 2], away from the pole at 0 where central differences are meaningless.
std::map<Op, std::vector<GradCase>> elementwise_cases(Generator& gen) {
    std::map<Op, std::vector<GradCase>> c;
    const auto a = [&] { return uniform({2, 3, 4}, -1, 1, gen); };
    const auto pos = [&](Shape s) { return uniform(std::move(s), 0.5, 2, gen); };
    const std::vector<std::pair<Op, Tensor<double> (*)(const Tensor<double>&, const Tensor<double>&)>> binaries{
        {Op::add, &add<double>}, {Op::sub, &sub<double>}, {Op::mul, &mul<double>}, {Op::div, &div<double>}};
    for (const auto& [op, fn] : binaries) {
        auto f = [fn = fn](const V& t) { return fn(t[0], t[1]); };
        c[op] = {{"[2,3,4] and [2,3,4]", {a(), pos({2, 3, 4})}, f},
                 {"[2,3,4] and a bias [4]", {a(), pos({4})}, f},
                 {"[2,3,4] and a column [3,1]", {a(), pos({3, 1})}, f},
                 {"[3,1] and [2,3,4] (both broadcast)", {pos({3, 1}), pos({2, 3, 4})}, f},
                 {"[2,3,4] and a rank-0 scalar", {a(), pos({})}, f},
                 {"a rank-0 scalar and [2,3,4]", {pos({}), pos({2, 3, 4})}, f}};
    }
    c[Op::rescale] = {{"rescale(x, 0.3, -2)", {a()}, [](const V& t) { return rescale(t[0], 0.3, -2.0); }},
                      {"the operator forms -x * 2 + 1", {a()}, [](const V& t) { return -t[0] * 2.0 + 1.0; }}};
    c[Op::relu] = {{"relu", {a()}, [](const V& t) { return relu(t[0]); }}};
    c[Op::exp] = {{"exp", {a()}, [](const V& t) { return exp(t[0]); }}};
    c[Op::log] = {{"log", {pos({2, 3, 4})}, [](const V& t) { return log(t[0]); }}};
    return c;
}

std::map<Op, std::vector<GradCase>> reduce_and_shape_cases(Generator& gen) {
    std::map<Op, std::vector<GradCase>> c;
    const auto x = [&] { return uniform({3, 4, 5}, -1, 1, gen); };
    c[Op::sum] = {{"sum", {x()}, [](const V& t) { return sum(t[0]); }}};
    c[Op::mean] = {{"mean", {x()}, [](const V& t) { return mean(t[0]); }}};
    for (index_t axis : {0, 1, 2, -1})
        for (bool keep : {false, true}) {
            const std::string what = "axis " + std::to_string(axis) + (keep ? ", keepdims" : "");
            c[Op::sum_axis].push_back({what, {x()}, [=](const V& t) { return sum(t[0], axis, keep); }});
            c[Op::mean_axis].push_back({what, {x()}, [=](const V& t) { return mean(t[0], axis, keep); }});
        }
    c[Op::reshape] = {{"reshape to [4, -1]", {x()}, [](const V& t) { return reshape(t[0], {4, -1}); }},
                      {"flatten", {uniform({2, 3, 4, 5}, -1, 1, gen)}, [](const V& t) { return flatten(t[0]); }}};
    c[Op::matmul] = {{"[5,7] x [7,3]", {uniform({5, 7}, -1, 1, gen), uniform({7, 3}, -1, 1, gen)},
                      [](const V& t) { return matmul(t[0], t[1]); }},
                     {"[1,4] x [4,1]", {uniform({1, 4}, -1, 1, gen), uniform({4, 1}, -1, 1, gen)},
                      [](const V& t) { return matmul(t[0], t[1]); }}};
    return c;
}

std::map<Op, std::vector<GradCase>> layer_cases(Generator& gen) {
    std::map<Op, std::vector<GradCase>> c;
    struct Conv { const char* what; Shape x, w; Conv2DOptions o; bool bias; };
    const Conv convs[] = {
        {"3x3 'same' stride 1", {2, 5, 6, 3}, {3, 3, 3, 2}, {1, 1, Padding::same, false}, true},
        {"4x4 'same' stride 2", {1, 6, 6, 2}, {4, 4, 2, 3}, {2, 2, Padding::same, false}, true},
        {"3x2 'valid' stride (2, 1)", {2, 7, 5, 2}, {3, 2, 2, 2}, {2, 1, Padding::valid, false}, true},
        {"3x3 'same' fused relu", {1, 5, 5, 3}, {3, 3, 3, 2}, {1, 1, Padding::same, true}, true},
        {"2x2 'valid' stride 2 fused relu", {2, 6, 7, 2}, {2, 2, 2, 3}, {2, 2, Padding::valid, true}, true},
        {"3x3 'same' without bias", {1, 4, 4, 2}, {3, 3, 2, 2}, {1, 1, Padding::same, false}, false},
        {"3x3 'same' dilation 2", {2, 6, 7, 2}, {3, 3, 2, 3}, {1, 1, Padding::same, false, 2, 2}, true},
        {"3x2 'valid' dilation (2, 3) fused relu", {1, 7, 8, 2}, {3, 2, 2, 2}, {1, 1, Padding::valid, true, 2, 3}, true},
    };
    for (const Conv& cv : convs) {
        V in{uniform(cv.x, -1, 1, gen), uniform(cv.w, -1, 1, gen)};
        if (cv.bias) in.push_back(uniform({cv.w[3]}, -0.2, 0.2, gen));
        const Conv2DOptions o = cv.o;
        c[Op::conv2d].push_back({cv.what, in, [o](const V& t) {
                                     return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor<double>(), o);
                                 }});
    }
    c[Op::max_pool2d] = {
        {"2x2, odd extents", {uniform({2, 5, 7, 3}, -1, 1, gen)}, [](const V& t) { return max_pool2d(t[0]); }},
        {"3x2 pool, strides (1, 2): overlapping windows", {uniform({1, 6, 6, 2}, -1, 1, gen)},
         [](const V& t) { return max_pool2d(t[0], {3, 2, 1, 2}); }},
        {"3x3 pool, stride 2, 'same' on odd extents: padding never wins", {uniform({2, 5, 7, 2}, -1, 1, gen)},
         [](const V& t) { return max_pool2d(t[0], {3, 3, 2, 2, Padding::same}); }}};
    // A generator seeded inside f: every evaluation of the finite differences draws the same mask.
    c[Op::dropout] = {{"rate 0.3, fixed mask", {uniform({4, 6}, -1, 1, gen)}, [](const V& t) {
                           Generator mask_gen(5);
                           return dropout(t[0], 0.3, true, mask_gen);
                       }}};
    return c;
}

std::map<Op, std::vector<GradCase>> softmax_and_loss_cases(Generator& gen) {
    std::map<Op, std::vector<GradCase>> c;
    c[Op::softmax] = {{"[4,5]", {uniform({4, 5}, -3, 3, gen)}, [](const V& t) { return softmax(t[0]); }},
                      {"[2,3,4]", {uniform({2, 3, 4}, -3, 3, gen)}, [](const V& t) { return softmax(t[0]); }}};
    c[Op::log_softmax] = {{"[4,5]", {uniform({4, 5}, -3, 3, gen)}, [](const V& t) { return log_softmax(t[0]); }},
                          {"[2,3,4]", {uniform({2, 3, 4}, -3, 3, gen)}, [](const V& t) { return log_softmax(t[0]); }}};
    const std::vector<std::int32_t> labels{0, 3, 1, 1, 2, 0};
    const std::vector<double> cw{0.5, 2, 1, 3};
    struct Xent { const char* what; std::vector<double> weights; double smoothing; };
    const Xent xents[] = {{"plain", {}, 0.0},
                          {"class weights", cw, 0.0},
                          {"label smoothing 0.1", {}, 0.1},
                          {"class weights and label smoothing 0.2", cw, 0.2},
                          {"full label smoothing", {}, 1.0}};
    for (const Xent& xe : xents)
        c[Op::sparse_categorical_crossentropy].push_back(
            {xe.what, {uniform({6, 4}, -3, 3, gen)}, [labels, xe](const V& t) {
                 return sparse_categorical_crossentropy(t[0], labels, xe.weights, xe.smoothing);
             }});
    const Tensor<double> fixed_targets = uniform({3, 4}, -1, 1, gen);
    c[Op::mean_squared_error] = {
        {"gradient to predictions and targets", {uniform({3, 4}, -1, 1, gen), uniform({3, 4}, -1, 1, gen)},
         [](const V& t) { return mean_squared_error(t[0], t[1]); }},
        {"targets without grad", {uniform({3, 4}, -1, 1, gen)},
         [fixed_targets](const V& t) { return mean_squared_error(t[0], fixed_targets); }},
        {"rank-0", {uniform({}, -1, 1, gen), uniform({}, -1, 1, gen)},
         [](const V& t) { return mean_squared_error(t[0], t[1]); }}};
    return c;
}

std::map<Op, std::vector<GradCase>> batch_norm_cases(Generator& gen) {
    std::map<Op, std::vector<GradCase>> c;
    const auto bn = [](double eps) {
        return [eps](const V& t) { return batch_norm(t[0], t[1], t[2], eps); };
    };
    c[Op::batch_norm] = {
        {"[5,3] (after a Dense layer)", {uniform({5, 3}, -2, 2, gen), uniform({3}, 0.5, 2, gen), uniform({3}, -1, 1, gen)},
         bn(1e-3)},
        {"[2,3,4,2] NHWC", {uniform({2, 3, 4, 2}, -2, 2, gen), uniform({2}, 0.5, 2, gen), uniform({2}, -1, 1, gen)},
         bn(1e-3)},
        {"without gamma and beta", {uniform({3, 2, 2, 3}, -1, 3, gen)},
         [](const V& t) { return batch_norm(t[0], Tensor<double>(), Tensor<double>(), 1e-2); }}};
    return c;
}

/// The activations and the classification losses on logits. Targets are data (no gradient flows to them), so they
/// are captured by the case's function rather than passed as inputs.
std::map<Op, std::vector<GradCase>> activations_losses_cases(Generator& gen) {
    std::map<Op, std::vector<GradCase>> c;
    const auto x = [&](double lo, double hi) { return uniform({2, 3, 4}, lo, hi, gen); };
    c[Op::leaky_relu] = {{"Keras' layer slope 0.3", {x(-1, 1)}, [](const V& t) { return leaky_relu(t[0], 0.3); }},
                         {"PyTorch's slope 0.01", {x(-1, 1)}, [](const V& t) { return leaky_relu(t[0], 0.01); }},
                         {"a negative slope -0.5", {x(-1, 1)}, [](const V& t) { return leaky_relu(t[0], -0.5); }}};
    c[Op::sigmoid] = {{"[-4, 4]", {x(-4, 4)}, [](const V& t) { return sigmoid(t[0]); }},
                      {"[-30, 30]", {x(-30, 30)}, [](const V& t) { return sigmoid(t[0]); }}};
    c[Op::tanh] = {{"[-3, 3]", {x(-3, 3)}, [](const V& t) { return tanh(t[0]); }}};
    c[Op::gelu] = {{"exact", {x(-4, 4)}, [](const V& t) { return gelu(t[0]); }},
                   {"tanh approximation", {x(-4, 4)}, [](const V& t) { return gelu(t[0], true); }}};
    c[Op::swish] = {{"[-6, 6]", {x(-6, 6)}, [](const V& t) { return swish(t[0]); }}};
    const Tensor<double> hard = Tensor<double>::from_data({6, 1}, {0, 1, 1, 0, 1, 0});
    const Tensor<double> soft = uniform({3, 4}, 0, 1, gen);
    const std::vector<double> w2{0.4, 2.5};
    const auto z = [&](Shape s) { return uniform(std::move(s), -4, 4, gen); };
    c[Op::binary_crossentropy_from_logits] = {
        {"hard targets", {z({6, 1})}, [=](const V& t) { return binary_crossentropy_from_logits(t[0], hard); }},
        {"class weights", {z({6, 1})}, [=](const V& t) { return binary_crossentropy_from_logits(t[0], hard, w2); }},
        {"soft targets, weights, smoothing 0.2", {z({3, 4})},
         [=](const V& t) { return binary_crossentropy_from_logits(t[0], soft, w2, 0.2); }}};
    struct Focal { const char* what; BinaryFocalOptions<double> o; bool weights; };
    const Focal focals[] = {{"Keras' defaults", {}, false},
                            {"gamma 0.5, class balancing", {0.5, 0.3, true, 0}, false},
                            {"gamma 0, class weights", {0, 0.25, false, 0}, true},
                            {"gamma 3, balancing, weights, smoothing 0.1", {3, 0.6, true, 0.1}, true}};
    for (const Focal& f : focals)
        for (const bool soft_targets : {false, true})
            c[Op::binary_focal_crossentropy_from_logits].push_back(
                {std::string(f.what) + (soft_targets ? ", soft targets" : ""),
                 {z(soft_targets ? Shape{3, 4} : Shape{6, 1})},
                 [=](const V& t) {
                     return binary_focal_crossentropy_from_logits(t[0], soft_targets ? soft : hard,
                                                                  f.weights ? w2 : std::vector<double>{}, f.o);
                 }});
    const std::vector<std::int32_t> labels{0, 3, 1, 1, 2, 0};
    const std::vector<double> cw{0.5, 2, 1, 3};
    struct Categorical { const char* what; CategoricalFocalOptions<double> o; std::vector<double> weights; };
    const Categorical categoricals[] = {{"Keras' defaults", {}, {}},
                                        {"class weights", {}, cw},
                                        {"gamma 0 (alpha * cross-entropy)", {0, 0.5}, {}},
                                        {"gamma 0.5, alpha 1, class weights", {0.5, 1}, cw}};
    for (const Categorical& k : categoricals)
        c[Op::sparse_categorical_focal_crossentropy].push_back({k.what, {z({6, 4})}, [labels, k](const V& t) {
            return sparse_categorical_focal_crossentropy(t[0], labels, k.weights, k.o);
        }});
    return c;
}

/// concatenate along the first, a middle and the last axis, of two and three inputs, with an input that needs no
/// gradient and with a single input.
std::map<Op, std::vector<GradCase>> merge_cases(Generator& gen) {
    std::map<Op, std::vector<GradCase>> c;
    const auto u = [&](Shape s) { return uniform(std::move(s), -1, 1, gen); };
    const Tensor<double> fixed = u({2, 2, 3, 2});
    c[Op::concatenate] = {
        {"[2,3] and [2,4] along axis 1", {u({2, 3}), u({2, 4})}, [](const V& t) { return concatenate(t, 1); }},
        {"[1,3,4], [2,3,4] and [3,3,4] along axis 0", {u({1, 3, 4}), u({2, 3, 4}), u({3, 3, 4})},
         [](const V& t) { return concatenate(t, 0); }},
        {"[2,1,3] and [2,2,3] along the middle axis", {u({2, 1, 3}), u({2, 2, 3})},
         [](const V& t) { return concatenate(t, 1); }},
        {"NHWC channels along axis -1", {u({2, 2, 3, 1}), u({2, 2, 3, 3}), u({2, 2, 3, 2})},
         [](const V& t) { return concatenate(t, -1); }},
        {"an input without grad between two", {u({2, 2, 3, 1}), u({2, 2, 3, 3})},
         [fixed](const V& t) { return concatenate(V{t[0], fixed, t[1]}, -1); }},
        {"a single tensor", {u({3, 2})}, [](const V& t) { return concatenate(t, 0); }}};
    return c;
}

/// Average and global pooling and the depthwise convolution. 'same' on odd extents puts the extra window row and
/// column at the bottom/right, where average pooling divides by fewer pixels. The max cases use distinct values
/// (a random permutation, 0.01 apart) so that a finite difference cannot move the maximum.
std::map<Op, std::vector<GradCase>> pooling_depthwise_cases(Generator& gen) {
    std::map<Op, std::vector<GradCase>> c;
    const auto x = [&](Shape s) { return uniform(std::move(s), -1, 1, gen); };
    using P = Pool2DOptions;
    const auto avg = [](P o) { return [o](const V& t) { return avg_pool2d(t[0], o); }; };
    c[Op::avg_pool2d] = {{"2x2 'valid', odd extents", {x({2, 5, 7, 3})}, avg({})},
                         {"2x2 'same', odd extents", {x({2, 5, 7, 3})}, avg({2, 2, 0, 0, Padding::same})},
                         {"3x3 'same' stride 1", {x({1, 4, 5, 2})}, avg({3, 3, 1, 1, Padding::same})},
                         {"3x2 'valid' strides (1, 2): overlapping", {x({1, 6, 6, 2})}, avg({3, 2, 1, 2})},
                         {"4x4 'same' stride 3: padding 1 before, 2 after", {x({1, 7, 4, 2})},
                          avg({4, 4, 3, 3, Padding::same})}};
    c[Op::global_avg_pool2d] = {
        {"[2,3,5,4]", {x({2, 3, 5, 4})}, [](const V& t) { return global_avg_pool2d(t[0]); }},
        {"keepdims", {x({1, 4, 2, 3})}, [](const V& t) { return global_avg_pool2d(t[0], true); }}};
    const auto distinct = [&](Shape s) {
        Tensor<double> t = Tensor<double>::empty(std::move(s));
        std::vector<double> v(static_cast<std::size_t>(t.numel()));
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 0.01 - 0.5;
        for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.next_u64() % i]);
        std::copy(v.begin(), v.end(), t.data());
        return t;
    };
    c[Op::global_max_pool2d] = {
        {"[2,3,5,4]", {distinct({2, 3, 5, 4})}, [](const V& t) { return global_max_pool2d(t[0]); }},
        {"keepdims", {distinct({1, 4, 2, 3})}, [](const V& t) { return global_max_pool2d(t[0], true); }}};
    struct Depthwise { const char* what; Shape x, w; Conv2DOptions o; bool bias; };
    const Depthwise cases[] = {
        {"3x3 'same' stride 1", {2, 5, 6, 3}, {3, 3, 3, 1}, {1, 1, Padding::same, false}, true},
        {"3x3 'same' stride 2, odd extents", {1, 7, 5, 2}, {3, 3, 2, 1}, {2, 2, Padding::same, false}, true},
        {"4x4 'same' stride 2: even kernel", {1, 6, 7, 2}, {4, 4, 2, 1}, {2, 2, Padding::same, false}, true},
        {"3x2 'valid' strides (2, 1), depth multiplier 2", {2, 7, 5, 2}, {3, 2, 2, 2}, {2, 1, Padding::valid, false},
         true},
        {"3x3 'same', depth multiplier 3, fused relu", {1, 5, 5, 2}, {3, 3, 2, 3}, {1, 1, Padding::same, true}, true},
        {"5x5 'same' on 3x4: larger than the input", {1, 3, 4, 2}, {5, 5, 2, 1}, {1, 1, Padding::same, false}, true},
        {"3x3 'valid' without bias", {1, 4, 5, 3}, {3, 3, 3, 2}, {1, 1, Padding::valid, false}, false},
    };
    for (const Depthwise& d : cases) {
        V in;
        in.reserve(3);
        in.push_back(x(d.x));
        in.push_back(x(d.w));
        if (d.bias) in.push_back(uniform({d.w[2] * d.w[3]}, -0.2, 0.2, gen));
        const Conv2DOptions o = d.o;
        c[Op::depthwise_conv2d].push_back({d.what, in, [o](const V& t) {
                                               return depthwise_conv2d(t[0], t[1],
                                                                       t.size() > 2 ? t[2] : Tensor<double>(), o);
                                           }});
    }
    return c;
}

/// The gradient checks of every op, by op. An op of the table missing here fails the test below.
std::map<Op, std::vector<GradCase>> all_cases() {
    Generator gen(2024);
    std::map<Op, std::vector<GradCase>> all;
    for (auto part : {elementwise_cases(gen), reduce_and_shape_cases(gen), layer_cases(gen),
                      softmax_and_loss_cases(gen), batch_norm_cases(gen),
                      activations_losses_cases(gen), merge_cases(gen),
                      pooling_depthwise_cases(gen)})
        for (auto& [op, cases] : part) {
            INFO("op " << op_name(op) << " has cases in two groups");
            REQUIRE(all.count(op) == 0);
            all[op] = std::move(cases);
        }
    return all;
}

}  // namespace

TEST_CASE("every op of the table has a gradient check, and it passes in double", "[autograd][op_table]") {
    const auto all = all_cases();
    for (std::size_t i = 0; i < op_count; ++i) {
        const Op op = static_cast<Op>(i);
        const std::string name(op_name(op));
        const auto it = all.find(op);
        if (it == all.end() || it->second.empty()) {
            FAIL_CHECK("op " << name << " has no gradient check in tests/autograd/test_op_table.cpp");
            continue;
        }
        for (const GradCase& gc : it->second) {
            CAPTURE(name, gc.what);
            V inputs;
            for (const auto& t : gc.inputs) inputs.push_back(t.detach().clone().requires_grad(true));
            // The case must exercise the op it is filed under, not some other op that computes the same thing.
            CHECK(gc.f(inputs).grad_fn_name() == name);
            CHECK(test::gradient_check(inputs, [&](const V& t) { return test::weighted_sum(gc.f(t)); }) < 1e-6);
        }
    }
    CHECK(all.size() == op_count);
    CHECK((all.empty() || all.rbegin()->first < Op::count_));  // no case filed under count_ or beyond
}

TEST_CASE("the op table names each op and the file that records it", "[autograd][op_table]") {
    CHECK(op_name(Op::conv2d) == "conv2d");
    CHECK(op_name(Op::mean_squared_error) == "mean_squared_error");
    CHECK(op_table.back().op == static_cast<Op>(op_count - 1));
    for (const auto& entry : op_table) {
        CAPTURE(entry.name, entry.file);
        std::ifstream in(std::string(EMBER_SOURCE_DIR) + "/include/" + std::string(entry.file));
        REQUIRE(in);
        std::stringstream text;
        text << in.rdbuf();
        // Each enumerator is spelled like its name, so its file records it as Op::<name>.
        CHECK(text.str().find("Op::" + std::string(entry.name)) != std::string::npos);
    }
    // Reductions along an axis are their own ops: their backward is not that of the whole-tensor forms.
    auto x = Tensor<double>::ones({2, 3}).requires_grad(true);
    CHECK(sum(x).grad_fn_name() == "sum");
    CHECK(sum(x, 1).grad_fn_name() == "sum_axis");
    CHECK(mean(x, 0, true).grad_fn_name() == "mean_axis");
    CHECK(flatten(x).grad_fn_name() == "reshape");
}
