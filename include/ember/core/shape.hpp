// ember/core/shape.hpp - Shape: the extents of a tensor, outermost first (images are NHWC).
// A Shape is a small value type; it knows its element count and prints as "[32, 180, 180, 3]".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "ember/core/error.hpp"

namespace ember {

using index_t = std::int64_t;

/// The extents of a tensor, outermost dimension first. Extents are >= 0.
class Shape {
public:
    Shape() = default;
    Shape(std::initializer_list<index_t> dims) : dims_(dims) { validate(); }
    explicit Shape(std::vector<index_t> dims) : dims_(std::move(dims)) { validate(); }

    /// Number of dimensions.
    [[nodiscard]] index_t rank() const { return static_cast<index_t>(dims_.size()); }
    /// Extent of dimension `i`; negative `i` counts from the end (-1 is the last). Throws IndexError.
    [[nodiscard]] index_t operator[](index_t i) const { return dims_[static_cast<std::size_t>(wrap(i))]; }
    /// Product of the extents (1 for a rank-0 shape).
    [[nodiscard]] index_t numel() const {
        index_t n = 1;
        for (index_t d : dims_) n *= d;
        return n;
    }
    [[nodiscard]] const std::vector<index_t>& dims() const { return dims_; }
    [[nodiscard]] auto begin() const { return dims_.begin(); }
    [[nodiscard]] auto end() const { return dims_.end(); }

    /// Maps a possibly negative dimension index to [0, rank). Throws IndexError when out of range.
    [[nodiscard]] index_t wrap(index_t i) const {
        const index_t r = rank();
        EMBER_CHECK(i >= -r && i < r, IndexError, "dimension ", i, " is out of range for shape ", *this);
        return i < 0 ? i + r : i;
    }

    /// Row-major strides in elements.
    [[nodiscard]] std::vector<index_t> strides() const {
        std::vector<index_t> s(dims_.size(), 1);
        for (index_t i = rank() - 2; i >= 0; --i)
            s[static_cast<std::size_t>(i)] = s[static_cast<std::size_t>(i + 1)] * dims_[static_cast<std::size_t>(i + 1)];
        return s;
    }

    /// The shape without its first dimension (for a batch: the per-sample shape).
    [[nodiscard]] Shape drop_front() const { return Shape(std::vector<index_t>(dims_.begin() + (dims_.empty() ? 0 : 1), dims_.end())); }
    /// `n` followed by this shape's extents.
    [[nodiscard]] Shape prepend(index_t n) const {
        std::vector<index_t> d{n};
        d.insert(d.end(), dims_.begin(), dims_.end());
        return Shape(std::move(d));
    }

    [[nodiscard]] std::string str() const {
        std::string s = "[";
        for (std::size_t i = 0; i < dims_.size(); ++i) {
            if (i) s += ", ";
            s += std::to_string(dims_[i]);
        }
        return s + "]";
    }

    friend bool operator==(const Shape&, const Shape&) = default;
    friend std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

private:
    void validate() const {
        for (index_t d : dims_)
            if (d < 0) throw ShapeError("Shape: extents must be >= 0, got " + str());
    }
    std::vector<index_t> dims_;
};

}  // namespace ember
