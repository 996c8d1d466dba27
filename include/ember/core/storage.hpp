// ember/core/storage.hpp - Storage<T>: a reference-counted, 64-byte-aligned buffer of T.
// Tensors share one Storage between views; the buffer is aligned for AVX-512 loads of whole cache lines.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

#include "ember/core/error.hpp"

namespace ember {

/// Alignment of every tensor buffer, in bytes (one cache line, one AVX-512 register).
inline constexpr std::size_t kAlignment = 64;

/// Owns `size` elements of trivially copyable T, aligned to kAlignment. Contents start uninitialised unless
/// `zero` is set.
template <class T>
class Storage {
    static_assert(std::is_trivially_copyable_v<T>, "Storage<T> holds plain numbers only");

public:
    explicit Storage(std::size_t size, bool zero = false) : size_(size) {
        const std::size_t bytes = ((size * sizeof(T) + kAlignment - 1) / kAlignment) * kAlignment;
        if (bytes > 0) {
            data_ = static_cast<T*>(::operator new(bytes, std::align_val_t{kAlignment}));
            if (zero) std::memset(static_cast<void*>(data_), 0, bytes);
        }
    }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    ~Storage() {
        if (data_) ::operator delete(static_cast<void*>(data_), std::align_val_t{kAlignment});
    }

    [[nodiscard]] T* data() { return data_; }
    [[nodiscard]] const T* data() const { return data_; }
    [[nodiscard]] std::size_t size() const { return size_; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace ember
