#pragma once
// Per-thread scratch memory of the CPU kernels. Each thread (the caller and every pool worker) owns
// one arena that only grows; a call sizes it once before its work loop, so the hot loops never
// allocate and repeated calls of the same shapes never allocate at all.
#include <cstddef>
#include <cstdlib>
#include <new>

namespace kvshare::backend::cpu_detail {

class scratch_arena {
public:
    static constexpr std::size_t alignment = 64;

    // The calling thread's arena.
    static scratch_arena& local() {
        thread_local scratch_arena arena;
        return arena;
    }

    // At least `bytes` bytes, 64-byte aligned; the contents are unspecified.
    std::byte* reserve(std::size_t bytes) {
        if (bytes > capacity_) {
            std::free(data_);
            const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
            data_ = static_cast<std::byte*>(std::aligned_alloc(alignment, rounded));
            if (data_ == nullptr) {
                capacity_ = 0;
                throw std::bad_alloc();
            }
            capacity_ = rounded;
        }
        return data_;
    }

    scratch_arena() = default;
    scratch_arena(const scratch_arena&) = delete;
    scratch_arena& operator=(const scratch_arena&) = delete;
    ~scratch_arena() { std::free(data_); }

private:
    std::byte* data_ = nullptr;
    std::size_t capacity_ = 0;
};

// Carves aligned sub-buffers out of one block: first pass (base == nullptr) measures, second hands out.
class scratch_layout {
public:
    explicit scratch_layout(std::byte* base = nullptr) : base_(base) {}

    template <class T>
    T* take(std::size_t count) {
        const std::size_t at = offset_;
        offset_ += (count * sizeof(T) + scratch_arena::alignment - 1) / scratch_arena::alignment *
                   scratch_arena::alignment;
        return base_ ? reinterpret_cast<T*>(base_ + at) : nullptr;
    }
    std::size_t bytes() const { return offset_; }

private:
    std::byte* base_;
    std::size_t offset_ = 0;
};

}  // namespace kvshare::backend::cpu_detail
