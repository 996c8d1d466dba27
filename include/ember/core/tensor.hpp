// ember/core/tensor.hpp - Tensor<T>: a cheap shared handle to a contiguous, 64-byte-aligned, row-major array.
// Images are NHWC. Differentiable operations are free functions in ember/autograd/; this file holds no maths.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstring>
#include <initializer_list>
#include <iomanip>
#include <memory>
#include <ostream>
#include <span>
#include <type_traits>
#include <vector>

#include "ember/core/error.hpp"
#include "ember/core/random.hpp"
#include "ember/core/shape.hpp"
#include "ember/core/storage.hpp"

namespace ember {

/// The element types ember computes in.
template <class T>
concept Real = std::same_as<T, float> || std::same_as<T, double>;

template <Real T>
class Tensor;

namespace autograd {
template <Real T>
class Node;
}

namespace detail {
/// The state behind a Tensor handle. Views share `storage` and differ in `shape` and `offset`.
template <Real T>
struct TensorImpl {
    Shape shape;
    std::shared_ptr<Storage<T>> storage;
    index_t offset = 0;
    bool requires_grad = false;
    std::shared_ptr<TensorImpl<T>> grad;               // accumulated gradient of a leaf
    std::shared_ptr<autograd::Node<T>> grad_fn;       // the op that produced this tensor (null for leaves)
};
}  // namespace detail

/// A tensor of T (float or double): a shared handle, so copying a Tensor copies the handle, not the data
/// (use clone() for a deep copy). Always contiguous and row-major; reshaping views share the buffer.
///
/// Autograd: a leaf created with `requires_grad(true)` accumulates gradients into `grad()` when `backward()` is
/// called on a scalar computed from it (see ember/autograd/). A default-constructed Tensor is undefined.
template <Real T>
class Tensor {
public:
    using value_type = T;

    Tensor() = default;

    // ---- factories -------------------------------------------------------------------------------------------
    /// Uninitialised tensor of `shape` (contents unspecified; for outputs about to be overwritten).
    static Tensor empty(const Shape& shape) { return Tensor(shape, false); }
    static Tensor zeros(const Shape& shape) { return Tensor(shape, true); }
    static Tensor ones(const Shape& shape) { return full(shape, T(1)); }
    static Tensor full(const Shape& shape, T value) {
        Tensor t(shape, false);
        std::fill_n(t.data(), t.numel(), value);
        return t;
    }
    /// Copies `values` (row-major) into a new tensor of `shape`. Throws ShapeError when the counts differ.
    static Tensor from_data(const Shape& shape, std::span<const T> values) {
        EMBER_CHECK(static_cast<index_t>(values.size()) == shape.numel(), ShapeError, "Tensor::from_data: shape ",
                    shape, " holds ", shape.numel(), " elements, got ", values.size(), " values");
        Tensor t(shape, false);
        if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
        return t;
    }
    static Tensor from_data(const Shape& shape, std::initializer_list<T> values) {
        return from_data(shape, std::span<const T>(values.begin(), values.size()));
    }
    static Tensor from_data(const Shape& shape, const std::vector<T>& values) {
        return from_data(shape, std::span<const T>(values));
    }
    /// A rank-0 tensor holding `value`.
    static Tensor scalar(T value) { return full(Shape{}, value); }
    /// Uniform draws in [lo, hi) from `gen`.
    static Tensor uniform(const Shape& shape, T lo, T hi, Generator& gen) {
        EMBER_CHECK(lo <= hi, ValueError, "Tensor::uniform: need lo <= hi, got lo=", lo, " hi=", hi);
        Tensor t(shape, false);
        for (T& x : t.span()) x = static_cast<T>(gen.uniform(lo, hi));
        return t;
    }
    /// Normal draws with `mean` and `stddev` from `gen`.
    static Tensor normal(const Shape& shape, T mean, T stddev, Generator& gen) {
        EMBER_CHECK(stddev >= 0, ValueError, "Tensor::normal: need stddev >= 0, got ", stddev);
        Tensor t(shape, false);
        for (T& x : t.span()) x = static_cast<T>(gen.normal(mean, stddev));
        return t;
    }
    /// Shares `storage` from element `offset` with `shape` (no copy). Throws ShapeError when it does not fit.
    static Tensor from_storage(std::shared_ptr<Storage<T>> storage, index_t offset, const Shape& shape) {
        EMBER_CHECK(storage && offset >= 0 && offset + shape.numel() <= static_cast<index_t>(storage->size()),
                    ShapeError, "Tensor::from_storage: shape ", shape, " at offset ", offset,
                    " does not fit a buffer of ", storage ? storage->size() : 0, " elements");
        Tensor t;
        t.impl_ = std::make_shared<detail::TensorImpl<T>>();
        t.impl_->shape = shape;
        t.impl_->storage = std::move(storage);
        t.impl_->offset = offset;
        return t;
    }

    // ---- shape and data -------------------------------------------------------------------------------------
    [[nodiscard]] bool defined() const { return impl_ != nullptr; }
    [[nodiscard]] const Shape& shape() const { return impl().shape; }
    [[nodiscard]] index_t rank() const { return shape().rank(); }
    /// Extent of dimension `i` (negative counts from the end).
    [[nodiscard]] index_t size(index_t i) const { return shape()[i]; }
    [[nodiscard]] index_t numel() const { return shape().numel(); }
    [[nodiscard]] T* data() { return impl().storage->data() + impl().offset; }
    [[nodiscard]] const T* data() const { return impl().storage->data() + impl().offset; }
    [[nodiscard]] std::span<T> span() { return {data(), static_cast<std::size_t>(numel())}; }
    [[nodiscard]] std::span<const T> span() const { return {data(), static_cast<std::size_t>(numel())}; }
    [[nodiscard]] std::vector<T> to_vector() const { return {data(), data() + numel()}; }
    /// The buffer this tensor views (shared with its views).
    [[nodiscard]] const std::shared_ptr<Storage<T>>& storage() const { return impl().storage; }
    /// True when both handles view the same buffer.
    [[nodiscard]] bool shares_storage_with(const Tensor& other) const {
        return defined() && other.defined() && impl_->storage == other.impl_->storage;
    }

    /// Element at the given indices, bounds-checked (throws IndexError). `t(n, y, x, c)` for an NHWC image.
    template <std::integral... I>
    [[nodiscard]] T& operator()(I... idx) { return data()[flat_index({static_cast<index_t>(idx)...})]; }
    template <std::integral... I>
    [[nodiscard]] const T& operator()(I... idx) const { return data()[flat_index({static_cast<index_t>(idx)...})]; }
    [[nodiscard]] T& at(std::initializer_list<index_t> idx) { return data()[flat_index(idx)]; }
    [[nodiscard]] const T& at(std::initializer_list<index_t> idx) const { return data()[flat_index(idx)]; }
    /// The value of a one-element tensor. Throws ShapeError otherwise.
    [[nodiscard]] T item() const {
        EMBER_CHECK(numel() == 1, ShapeError, "Tensor::item: needs exactly one element, shape is ", shape());
        return data()[0];
    }

    /// A deep copy (same values, new buffer, no autograd history).
    [[nodiscard]] Tensor clone() const {
        Tensor t(shape(), false);
        if (numel()) std::memcpy(t.data(), data(), static_cast<std::size_t>(numel()) * sizeof(T));
        return t;
    }
    /// A handle on the same data without autograd history (never requires grad).
    [[nodiscard]] Tensor detach() const { return from_storage(impl().storage, impl().offset, shape()); }
    /// A view of the same data with another shape of equal element count, without autograd history.
    /// (The differentiable reshape is ember::reshape in ember/autograd/shape_ops.hpp.)
    [[nodiscard]] Tensor view_detached(const Shape& new_shape) const {
        EMBER_CHECK(new_shape.numel() == numel(), ShapeError, "Tensor::view_detached: cannot view shape ",
                    shape(), " as ", new_shape);
        return from_storage(impl().storage, impl().offset, new_shape);
    }
    /// Rows [begin, end) of the first dimension, as a view without autograd history.
    [[nodiscard]] Tensor slice_rows(index_t begin, index_t end) const {
        EMBER_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= size(0), IndexError,
                    "Tensor::slice_rows: rows [", begin, ", ", end, ") out of range for shape ", shape());
        std::vector<index_t> d = shape().dims();
        d[0] = end - begin;
        const index_t stride = size(0) == 0 ? 0 : numel() / size(0);  // elements per row
        return from_storage(impl().storage, impl().offset + begin * stride, Shape(d));
    }
    /// Copies the values of `src` (same element count) into this tensor's buffer.
    void copy_from(const Tensor& src) {
        EMBER_CHECK(src.numel() == numel(), ShapeError, "Tensor::copy_from: cannot copy ", src.shape(), " into ",
                    shape());
        if (numel()) std::memmove(data(), src.data(), static_cast<std::size_t>(numel()) * sizeof(T));
    }
    void fill(T value) { std::fill_n(data(), numel(), value); }

    // ---- autograd -------------------------------------------------------------------------------------------
    [[nodiscard]] bool requires_grad() const { return defined() && impl_->requires_grad; }
    /// Marks a leaf as a parameter whose gradient backward() accumulates. Throws StateError on a non-leaf.
    Tensor& requires_grad(bool on) {
        EMBER_CHECK(is_leaf(), StateError,
                    "requires_grad(): only leaf tensors can change requires_grad; this one was computed by '",
                    grad_fn_name(), "' (use detach() first)");
        impl().requires_grad = on;
        return *this;
    }
    /// True for tensors not computed by a recorded op.
    [[nodiscard]] bool is_leaf() const { return impl().grad_fn == nullptr; }
    /// The accumulated gradient (undefined until a backward pass reaches this leaf).
    [[nodiscard]] Tensor grad() const {
        Tensor g;
        g.impl_ = impl().grad;
        return g;
    }
    /// Replaces the accumulated gradient (an undefined tensor clears it). Throws ShapeError on a shape mismatch.
    void set_grad(const Tensor& g) {
        EMBER_CHECK(!g.defined() || g.shape() == shape(), ShapeError, "set_grad: gradient shape ",
                    g.defined() ? g.shape().str() : "", " differs from tensor shape ", shape());
        impl().grad = g.impl_;
    }
    /// Forgets the accumulated gradient (the next backward pass starts from zero).
    void zero_grad() { impl().grad.reset(); }
    /// Back-propagates from this one-element tensor: accumulates d(this)/d(leaf) into every leaf's grad().
    /// Throws StateError when this tensor has more than one element, does not require grad, or its graph was
    /// already released by an earlier backward(). Defined in ember/autograd/engine.hpp.
    void backward(bool retain_graph = false) const;
    /// Back-propagates with an explicit upstream gradient of this tensor's shape.
    void backward(const Tensor& upstream, bool retain_graph = false) const;
    /// Name of the op that produced this tensor ("" for a leaf).
    [[nodiscard]] std::string grad_fn_name() const;

    // ---- internals for ember's ops --------------------------------------------------------------------------
    [[nodiscard]] detail::TensorImpl<T>& impl() const {
        EMBER_CHECK(impl_ != nullptr, StateError, "use of an undefined (default-constructed) Tensor");
        return *impl_;
    }
    [[nodiscard]] const std::shared_ptr<detail::TensorImpl<T>>& impl_ptr() const { return impl_; }
    static Tensor from_impl(std::shared_ptr<detail::TensorImpl<T>> p) {
        Tensor t;
        t.impl_ = std::move(p);
        return t;
    }

private:
    Tensor(const Shape& shape, bool zero) : impl_(std::make_shared<detail::TensorImpl<T>>()) {
        impl_->shape = shape;
        impl_->storage = std::make_shared<Storage<T>>(static_cast<std::size_t>(shape.numel()), zero);
    }

    index_t flat_index(std::initializer_list<index_t> idx) const {
        const Shape& s = shape();
        EMBER_CHECK(static_cast<index_t>(idx.size()) == s.rank(), IndexError, "Tensor: ", idx.size(),
                    " indices given for a tensor of shape ", s);
        index_t flat = 0, d = 0;
        for (index_t i : idx) {
            EMBER_CHECK(i >= 0 && i < s[d], IndexError, "Tensor: index ", i, " out of range for dimension ", d,
                        " of shape ", s);
            flat = flat * s[d] + i;
            ++d;
        }
        return flat;
    }

    std::shared_ptr<detail::TensorImpl<T>> impl_;
};

namespace detail {
template <Real T>
void print_rec(std::ostream& os, const T* p, const Shape& s, index_t dim, const std::vector<index_t>& strides) {
    const index_t n = s[dim];
    const index_t edge = 3;
    const bool summarise = s.numel() > 1000 && n > 2 * edge;
    os << '[';
    for (index_t i = 0; i < n; ++i) {
        if (summarise && i == edge) {
            os << "..., ";
            i = n - edge;
        }
        if (dim + 1 == s.rank())
            os << p[i];
        else
            print_rec(os, p + i * strides[static_cast<std::size_t>(dim)], s, dim + 1, strides);
        if (i + 1 < n) os << ", ";
    }
    os << ']';
}
}  // namespace detail

/// Prints "Tensor<float>[2, 3] [[1, 2, 3], [4, 5, 6]]"; large tensors show their first and last 3 entries per
/// dimension.
template <Real T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
    os << (std::is_same_v<T, float> ? "Tensor<float>" : "Tensor<double>");
    if (!t.defined()) return os << "(undefined)";
    os << t.shape() << ' ';
    if (t.rank() == 0) return os << t.data()[0];
    detail::print_rec(os, t.data(), t.shape(), 0, t.shape().strides());
    if (t.requires_grad()) os << " requires_grad";
    return os;
}

}  // namespace ember
