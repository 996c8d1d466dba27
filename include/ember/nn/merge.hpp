// ember/nn/merge.hpp - the merge layers Add and Concatenate (Keras' names and defaults): several inputs, one output.
// In a graph: nn::call(nn::Add(), {x, shortcut}); on batches: nn::Add<float>()({a, b}).
#pragma once

#include "ember/nn/functional.hpp"

namespace ember::nn {

/// Keras' Add: the elementwise sum of inputs of identical shapes (a residual block's shortcut joins its branch so).
template <Real T = float>
class Add : public Merge<T> {
public:
    [[nodiscard]] std::string type_name() const override { return "Add"; }
    [[nodiscard]] std::string default_name() const override { return "add"; }

protected:
    [[nodiscard]] Shape merged_shape(const std::vector<Shape>& in) const override {
        for (const Shape& s : in)
            EMBER_CHECK(s == in[0], ShapeError, this->where(), ": cannot add inputs of shapes ",
                        ember::detail::shape_list(in), ": every input must have the same shape");
        return in[0];
    }
    Tensor<T> merge(const std::vector<Tensor<T>>& xs) override {
        Tensor<T> sum = add(xs[0], xs[1]);
        for (std::size_t i = 2; i < xs.size(); ++i) sum = add(sum, xs[i]);
        return sum;
    }
};

/// Keras' Concatenate: inputs joined along `axis`, counted as Keras counts it, with the batch dimension (-1, the
/// default, is the channels of NHWC images; 1 is the first per-sample dimension; 0, the batch, is refused). Every
/// extent but the axis must match.
template <Real T = float>
class Concatenate : public Merge<T> {
public:
    explicit Concatenate(index_t axis = -1) : axis_(axis) {
        EMBER_CHECK(axis != 0, ValueError, "Concatenate: axis 0 is the batch dimension; join samples along axis 1 "
                    "or later (-1, the default, is the last)");
    }
    [[nodiscard]] std::string type_name() const override { return "Concatenate"; }
    [[nodiscard]] std::string default_name() const override { return "concatenate"; }
    [[nodiscard]] index_t axis() const { return axis_; }

protected:
    [[nodiscard]] Shape merged_shape(const std::vector<Shape>& in) const override {
        const index_t rank = in[0].rank();  // per sample; the batch makes it rank + 1
        for (const Shape& s : in)
            EMBER_CHECK(s.rank() == rank, ShapeError, this->where(), ": cannot concatenate inputs of shapes ",
                        ember::detail::shape_list(in), ": their ranks differ");
        EMBER_CHECK(axis_ <= rank && axis_ >= -rank, ShapeError, this->where(), ": axis ", axis_,
                    " is out of range for inputs [N, ...] of shapes ", ember::detail::shape_list(in));
        const index_t ax = sample_axis(rank);
        for (const Shape& s : in)
            for (index_t d = 0; d < rank; ++d)
                EMBER_CHECK(d == ax || s[d] == in[0][d], ShapeError, this->where(),
                            ": cannot concatenate inputs of shapes ", ember::detail::shape_list(in), " along axis ",
                            axis_, ": every extent but the axis must match");
        return ember::detail::concatenated_shape(in, ax, this->where());
    }
    Tensor<T> merge(const std::vector<Tensor<T>>& xs) override {
        return concatenate(xs, sample_axis(xs[0].rank() - 1) + 1, this->where());
    }

private:
    /// The axis within a sample of rank `rank`: Keras' axis less the batch dimension.
    [[nodiscard]] index_t sample_axis(index_t rank) const { return axis_ < 0 ? axis_ + rank : axis_ - 1; }

    index_t axis_;
};

}  // namespace ember::nn
