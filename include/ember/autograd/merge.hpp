// ember/autograd/merge.hpp - differentiable concatenate: tensors joined along one axis (Keras' Concatenate layer
// rests on it). The sum of several tensors needs no op of its own: it chains add.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "ember/autograd/engine.hpp"

namespace ember {

namespace detail {
/// "[2, 3], [2, 4] and [3, 3]": every shape of a list, for messages that must show all of them.
inline std::string shape_list(const std::vector<Shape>& shapes) {
    std::string s;
    for (std::size_t i = 0; i < shapes.size(); ++i) {
        if (i > 0) s += i + 1 == shapes.size() ? " and " : ", ";
        s += shapes[i].str();
    }
    return s;
}

/// Checks that `shapes` can be joined along `axis` (negative counts from the end) and returns the joined shape:
/// the same rank, every extent but the axis equal. `caller` names the op or layer in the messages.
inline Shape concatenated_shape(const std::vector<Shape>& shapes, index_t axis, std::string_view caller) {
    EMBER_CHECK(!shapes.empty(), ValueError, caller, ": needs at least one tensor, got none");
    const index_t rank = shapes[0].rank();
    for (const Shape& s : shapes)
        EMBER_CHECK(s.rank() == rank, ShapeError, caller, ": cannot concatenate tensors of different ranks, shapes ",
                    shape_list(shapes));
    EMBER_CHECK(rank > 0 && axis >= -rank && axis < rank, IndexError, caller, ": axis ", axis,
                " is out of range for tensors of rank ", rank, " (shapes ", shape_list(shapes), ")");
    const index_t ax = axis < 0 ? axis + rank : axis;
    std::vector<index_t> dims = shapes[0].dims();
    dims[static_cast<std::size_t>(ax)] = 0;
    for (const Shape& s : shapes) {
        for (index_t d = 0; d < rank; ++d)
            EMBER_CHECK(d == ax || s[d] == shapes[0][d], ShapeError, caller, ": cannot concatenate shapes ",
                        shape_list(shapes), " along axis ", axis, ": every extent but the axis must match");
        dims[static_cast<std::size_t>(ax)] += s[ax];
    }
    return Shape(std::move(dims));
}
}  // namespace detail

/// `xs` joined along `axis` (negative counts from the end): [2, 3] and [2, 4] along axis 1 give [2, 7]. Every
/// extent but the axis must match (ShapeError naming `caller` and all the shapes otherwise). The gradient of each
/// input is its slice of the output's gradient.
template <Real T>
Tensor<T> concatenate(const std::vector<Tensor<T>>& xs, index_t axis, std::string_view caller = "concatenate") {
    std::vector<Shape> shapes;
    for (const auto& x : xs) {
        EMBER_CHECK(x.defined(), ValueError, caller, ": tensor ", shapes.size(), " of the list is undefined");
        shapes.push_back(x.shape());
    }
    const Shape out_shape = detail::concatenated_shape(shapes, axis, caller);
    const index_t ax = out_shape.wrap(axis);
    // Each tensor viewed as [outer, extent along the axis, inner]: one contiguous run per outer index.
    index_t outer = 1, inner = 1;
    for (index_t d = 0; d < ax; ++d) outer *= out_shape[d];
    for (index_t d = ax + 1; d < out_shape.rank(); ++d) inner *= out_shape[d];
    std::vector<index_t> runs;  // elements per outer index, input by input
    for (const Shape& s : shapes) runs.push_back(s[ax] * inner);
    const index_t out_run = out_shape[ax] * inner;
    Tensor<T> out = Tensor<T>::empty(out_shape);
    T* po = out.data();
    for (index_t o = 0; o < outer; ++o) {
        index_t at = o * out_run;
        for (std::size_t i = 0; i < xs.size(); ++i) {
            const T* src = xs[i].data() + o * runs[i];
            std::copy(src, src + runs[i], po + at);
            at += runs[i];
        }
    }
    return autograd::record(std::move(out), Op::concatenate, xs,
                            [outer, runs, out_run](const Tensor<T>& g, std::vector<Tensor<T>>& gi) {
        const T* pg = g.data();
        index_t begin = 0;  // where input i's run starts within each output run
        for (std::size_t i = 0; i < gi.size(); ++i) {
            if (gi[i].defined()) {
                T* pd = gi[i].data();
                for (index_t o = 0; o < outer; ++o)
                    for (index_t k = 0; k < runs[i]; ++k) pd[o * runs[i] + k] += pg[o * out_run + begin + k];
            }
            begin += runs[i];
        }
    });
}

}  // namespace ember
