#pragma once
// Per-memory-space pieces of a kv_cache. The cache's logic (validation, page allocation, lengths)
// is written once; only these three things differ between host and device memory:
//
//   kv_storage<Space>     one owning allocation of `bytes` bytes, zero-filled, in Space.
//   kv_index_mirror<Space> the in-space copy of the host-side page table and lengths that kv_view
//                          carries (page_table, lengths_in_space). The host mirror is the host
//                          arrays themselves; a device mirror copies them after every change.
//   kv_writer<Space>      (cache/writer.hpp) copies new K/V rows into the storage.
//
// The CUDA backend specializes all three for device_memory (see docs/cache.md, "Extension point").
// The primary templates fail with a message naming what is missing.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "kvshare/backend/tags.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/tensor/memory_space.hpp"

namespace kvshare {

template <MemorySpace Space>
struct kv_storage {
    static_assert(backend::dependent_false<Space>,
                  "kv_storage: no KV cache storage for this memory space. Host caches work out of the box; "
                  "device caches need <kvshare/cuda.hpp> and the kvshare::cuda target.");
};

// Host: one 64-byte aligned allocation (cache line / AVX-512 vector), zero-filled so that bytes
// not yet appended read as zeros, never as garbage.
template <>
class kv_storage<host_memory> {
public:
    static constexpr std::size_t alignment = 64;

    kv_storage() = default;
    explicit kv_storage(std::size_t bytes) : bytes_(bytes) {
        if (bytes_ == 0) return;
        data_ = static_cast<std::byte*>(::operator new(bytes_, std::align_val_t{alignment}));
        std::memset(data_, 0, bytes_);
    }
    kv_storage(const kv_storage&) = delete;
    kv_storage& operator=(const kv_storage&) = delete;
    kv_storage(kv_storage&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
    kv_storage& operator=(kv_storage&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            bytes_ = std::exchange(other.bytes_, 0);
        }
        return *this;
    }
    ~kv_storage() { release(); }

    std::byte* data() const { return data_; }
    std::size_t bytes() const { return bytes_; }

private:
    void release() {
        if (data_) ::operator delete(data_, std::align_val_t{alignment});
        data_ = nullptr;
    }
    std::byte* data_ = nullptr;
    std::size_t bytes_ = 0;
};

template <MemorySpace Space>
struct kv_index_mirror {
    static_assert(backend::dependent_false<Space>,
                  "kv_index_mirror: no page-table/lengths mirror for this memory space (device caches need "
                  "<kvshare/cuda.hpp>)");
};

struct index_pointers {
    const std::int32_t* page_table;   // [batch, max_pages] in the space (nullptr: contiguous layout)
    const std::int32_t* lengths;      // [kv_layers, batch] in the space
};

// Host: kv_view's in-space arrays are the cache's host arrays; nothing to copy.
template <>
struct kv_index_mirror<host_memory> {
    // Called after every change of the host arrays: page_table [batch · max_pages] (nullptr for the
    // contiguous layout; page_table_changed says whether it changed since the last call),
    // lengths [kv_layers · batch]. Returns where the in-space copies live. A device mirror copies on
    // exec's stream (never synchronizing) and keeps its buffers for the cache's lifetime.
    index_pointers publish(const std::int32_t* page_table, std::size_t /*page_table_count*/, bool /*page_table_changed*/,
                           const std::int32_t* lengths, std::size_t /*lengths_count*/,
                           const execution<host_memory>& /*exec*/ = {}) {
        return {page_table, lengths};
    }
};

}  // namespace kvshare
