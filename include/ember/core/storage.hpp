// ember/core/storage.hpp - Storage<T>: a reference-counted, 64-byte-aligned buffer of T.
// Tensors share one Storage between views; buffers come from the BlockCache (core/allocator.hpp).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include "ember/core/allocator.hpp"
#include "ember/core/error.hpp"

namespace ember {

/// Owns `size` elements of trivially copyable T, aligned to kAlignment. Contents start uninitialised unless
/// `zero` is set.
template <class T>
class Storage {
    static_assert(std::is_trivially_copyable_v<T>, "Storage<T> holds plain numbers only");

public:
    explicit Storage(std::size_t size, bool zero = false) : size_(size) {
        bytes_ = ((size * sizeof(T) + kAlignment - 1) / kAlignment) * kAlignment;
        if (bytes_ > 0) {
            data_ = static_cast<T*>(BlockCache::instance().allocate(bytes_));
            if (zero) std::memset(static_cast<void*>(data_), 0, bytes_);
        }
    }
    Storage() = default;
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    Storage(Storage&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
          bytes_(std::exchange(other.bytes_, 0)) {}
    Storage& operator=(Storage&& other) noexcept {
        if (this != &other) {
            if (data_) BlockCache::instance().deallocate(data_, bytes_);
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
            bytes_ = std::exchange(other.bytes_, 0);
        }
        return *this;
    }
    ~Storage() {
        if (data_) BlockCache::instance().deallocate(data_, bytes_);
    }

    [[nodiscard]] T* data() { return data_; }
    [[nodiscard]] const T* data() const { return data_; }
    [[nodiscard]] std::size_t size() const { return size_; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t bytes_ = 0;
};

}  // namespace ember
