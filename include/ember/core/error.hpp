// ember/core/error.hpp - the one exception hierarchy of ember.
// Every error ember raises derives from ember::Error; messages name the place, then expected vs actual.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ember {

/// Base of every exception ember throws (a std::runtime_error, so `catch (const std::exception&)` sees it).
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Tensor shapes that do not fit together ("Conv2D 'conv2d': expected input [N, H, W, 3], got [32, 3, 180]").
class ShapeError : public Error {
public:
    using Error::Error;
};

/// A bad argument or option value ("Adam: option 'lr' must be > 0, got -1").
class ValueError : public Error {
public:
    using Error::Error;
};

/// An index outside a tensor or a container.
class IndexError : public Error {
public:
    using Error::Error;
};

/// An operation in the wrong state (backward through a released graph, a layer used before build).
class StateError : public Error {
public:
    using Error::Error;
};

/// A file that cannot be read, decoded or written.
class IoError : public Error {
public:
    using Error::Error;
};

namespace detail {
/// Concatenates its arguments with operator<< into one string (for building messages).
template <class... Args>
std::string cat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}
}  // namespace detail

}  // namespace ember

/// Throws `ErrorType(message parts...)` when `cond` is false. The message is built only on failure.
#define EMBER_CHECK(cond, ErrorType, ...)                              \
    do {                                                               \
        if (!(cond)) throw ErrorType(::ember::detail::cat(__VA_ARGS__)); \
    } while (0)
