// ember/autograd/op_table.hpp - the table of every differentiable op ember records: its enum value, the name a graph
// node reports (Tensor::grad_fn_name(), backward errors) and the header holding its forward and backward.
//
// To add an op:
//   1. add its enumerator to `Op` (before count_) and an entry at the same position in `op_table`;
//   2. write forward and backward side by side in the named header, recording with
//      `autograd::record(out, Op::your_op, {inputs...}, backward_fn)` (Note [Backward contract], engine.hpp);
//   3. add a gradient-check case for it to tests/autograd/test_op_table.cpp, which fails for any op without one.
// Functions built from other ops (flatten, the arithmetic operators) record through those ops and need no entry.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace ember::autograd {

/// Every differentiable op, one value per recorded backward (ggml's GGML_OP_* habit); count_ is the number of ops.
enum class Op : unsigned char {
    add,
    sub,
    mul,
    div,
    rescale,
    relu,
    exp,
    log,
    sum,        // over all elements
    mean,       // over all elements
    sum_axis,   // along one axis
    mean_axis,  // along one axis
    reshape,
    matmul,
    conv2d,
    max_pool2d,
    dropout,
    softmax,
    log_softmax,
    sparse_categorical_crossentropy,
    mean_squared_error,
    batch_norm,  // training form: the batch's own statistics
    leaky_relu,
    sigmoid,
    tanh,
    gelu,
    swish,
    binary_crossentropy_from_logits,
    binary_focal_crossentropy_from_logits,
    sparse_categorical_focal_crossentropy,
    avg_pool2d,
    global_avg_pool2d,
    global_max_pool2d,
    depthwise_conv2d,
    concatenate,
    count_
};

/// One row of the op table.
struct OpInfo {
    Op op;
    std::string_view name;  // what Tensor::grad_fn_name() returns for a tensor this op produced
    std::string_view file;  // where its forward and backward live
};

inline constexpr std::array op_table{
    OpInfo{Op::add, "add", "ember/autograd/elementwise.hpp"},
    OpInfo{Op::sub, "sub", "ember/autograd/elementwise.hpp"},
    OpInfo{Op::mul, "mul", "ember/autograd/elementwise.hpp"},
    OpInfo{Op::div, "div", "ember/autograd/elementwise.hpp"},
    OpInfo{Op::rescale, "rescale", "ember/autograd/elementwise.hpp"},
    OpInfo{Op::relu, "relu", "ember/autograd/elementwise.hpp"},
    OpInfo{Op::exp, "exp", "ember/autograd/elementwise.hpp"},
    OpInfo{Op::log, "log", "ember/autograd/elementwise.hpp"},
    OpInfo{Op::sum, "sum", "ember/autograd/reduce.hpp"},
    OpInfo{Op::mean, "mean", "ember/autograd/reduce.hpp"},
    OpInfo{Op::sum_axis, "sum_axis", "ember/autograd/reduce.hpp"},
    OpInfo{Op::mean_axis, "mean_axis", "ember/autograd/reduce.hpp"},
    OpInfo{Op::reshape, "reshape", "ember/autograd/shape_ops.hpp"},
    OpInfo{Op::matmul, "matmul", "ember/autograd/matmul.hpp"},
    OpInfo{Op::conv2d, "conv2d", "ember/autograd/conv2d.hpp"},
    OpInfo{Op::max_pool2d, "max_pool2d", "ember/autograd/pool.hpp"},
    OpInfo{Op::dropout, "dropout", "ember/autograd/dropout.hpp"},
    OpInfo{Op::softmax, "softmax", "ember/autograd/softmax.hpp"},
    OpInfo{Op::log_softmax, "log_softmax", "ember/autograd/softmax.hpp"},
    OpInfo{Op::sparse_categorical_crossentropy, "sparse_categorical_crossentropy", "ember/autograd/softmax.hpp"},
    OpInfo{Op::mean_squared_error, "mean_squared_error", "ember/autograd/losses.hpp"},
    OpInfo{Op::batch_norm, "batch_norm", "ember/autograd/batch_norm.hpp"},
    OpInfo{Op::leaky_relu, "leaky_relu", "ember/autograd/activations.hpp"},
    OpInfo{Op::sigmoid, "sigmoid", "ember/autograd/activations.hpp"},
    OpInfo{Op::tanh, "tanh", "ember/autograd/activations.hpp"},
    OpInfo{Op::gelu, "gelu", "ember/autograd/activations.hpp"},
    OpInfo{Op::swish, "swish", "ember/autograd/activations.hpp"},
    OpInfo{Op::binary_crossentropy_from_logits, "binary_crossentropy_from_logits", "ember/autograd/losses.hpp"},
    OpInfo{Op::binary_focal_crossentropy_from_logits, "binary_focal_crossentropy_from_logits",
           "ember/autograd/losses.hpp"},
    OpInfo{Op::sparse_categorical_focal_crossentropy, "sparse_categorical_focal_crossentropy",
           "ember/autograd/losses.hpp"},
    OpInfo{Op::avg_pool2d, "avg_pool2d", "ember/autograd/pool.hpp"},
    OpInfo{Op::global_avg_pool2d, "global_avg_pool2d", "ember/autograd/pool.hpp"},
    OpInfo{Op::global_max_pool2d, "global_max_pool2d", "ember/autograd/pool.hpp"},
    OpInfo{Op::depthwise_conv2d, "depthwise_conv2d", "ember/autograd/depthwise_conv2d.hpp"},
    OpInfo{Op::concatenate, "concatenate", "ember/autograd/merge.hpp"},
};

/// The number of ops, as a count.
inline constexpr std::size_t op_count = static_cast<std::size_t>(Op::count_);

static_assert(op_table.size() == op_count, "op_table needs exactly one entry per Op (before count_)");
static_assert(
    [] {
        for (std::size_t i = 0; i < op_table.size(); ++i)
            if (static_cast<std::size_t>(op_table[i].op) != i) return false;
        return true;
    }(),
    "op_table entry i must describe Op i: keep the table in the enum's order");
static_assert(
    [] {
        for (std::size_t i = 0; i < op_table.size(); ++i)
            for (std::size_t j = 0; j < i; ++j)
                if (op_table[i].name == op_table[j].name) return false;
        return true;
    }(),
    "two ops share a name in op_table: grad_fn_name() must tell them apart");

/// The name of `op` ("conv2d"); "<not an op>" for Op::count_ or a value cast from beyond it.
constexpr std::string_view op_name(Op op) {
    const auto i = static_cast<std::size_t>(op);
    return i < op_table.size() ? op_table[i].name : std::string_view("<not an op>");
}

}  // namespace ember::autograd

namespace ember {
using autograd::Op;  // ops in namespace ember write Op::conv2d, as they write Padding::same
}  // namespace ember
