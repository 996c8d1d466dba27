// ember/core/allocator.hpp - where tensor buffers come from: 64-byte-aligned blocks, with large blocks cached.
// A training step allocates the same large activation and gradient buffers every time; handing a freed block of
// the same size back instead of returning it to the OS avoids hundreds of thousands of page faults per step.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

namespace ember {

/// Alignment of every tensor buffer, in bytes (one cache line, one AVX-512 register).
inline constexpr std::size_t kAlignment = 64;

/// A process-wide cache of freed large blocks, keyed by exact size. Blocks below `kMinCached` bytes go straight
/// to the system allocator (which already recycles small blocks well). The cache keeps at most `limit()` bytes;
/// set EMBER_CACHE_MB in the environment (0 disables it) or call set_limit().
class BlockCache {
public:
    static constexpr std::size_t kMinCached = std::size_t{1} << 20;  // 1 MiB

    static BlockCache& instance() {
        static BlockCache* cache = new BlockCache();  // never destroyed: tensors may outlive static destructors
        return *cache;
    }

    void* allocate(std::size_t bytes) {
        if (bytes >= kMinCached) {
            std::lock_guard lock(mutex_);
            auto it = free_.find(bytes);
            if (it != free_.end()) {
                void* p = it->second;
                free_.erase(it);
                cached_bytes_ -= bytes;
                return p;
            }
        }
        return ::operator new(bytes, std::align_val_t{kAlignment});
    }

    void deallocate(void* p, std::size_t bytes) noexcept {
        if (bytes >= kMinCached) {
            std::lock_guard lock(mutex_);
            if (cached_bytes_ + bytes <= limit_) {
                free_.emplace(bytes, p);
                cached_bytes_ += bytes;
                return;
            }
        }
        ::operator delete(p, std::align_val_t{kAlignment});
    }

    /// Returns every cached block to the system.
    void release() noexcept {
        std::lock_guard lock(mutex_);
        for (auto& [bytes, p] : free_) ::operator delete(p, std::align_val_t{kAlignment});
        free_.clear();
        cached_bytes_ = 0;
    }
    void set_limit(std::size_t bytes) {
        {
            std::lock_guard lock(mutex_);
            limit_ = bytes;
        }
        if (bytes == 0) release();
    }
    [[nodiscard]] std::size_t limit() const { return limit_; }
    [[nodiscard]] std::size_t cached_bytes() const {
        std::lock_guard lock(mutex_);
        return cached_bytes_;
    }

private:
    BlockCache() {
        if (const char* env = std::getenv("EMBER_CACHE_MB")) limit_ = std::strtoull(env, nullptr, 10) << 20;
    }
    mutable std::mutex mutex_;
    std::multimap<std::size_t, void*> free_;
    std::size_t cached_bytes_ = 0;
    std::size_t limit_ = std::size_t{2} << 30;  // 2 GiB
};

}  // namespace ember
