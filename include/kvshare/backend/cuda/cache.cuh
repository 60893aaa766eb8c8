#pragma once
// The device pieces of kv_cache (cache/storage.hpp, cache/writer.hpp): with this header
//   kvshare::kv_cache<Model, __nv_bfloat16, kvshare::device_memory[, kvshare::paged_layout]>
// keeps its K/V in GPU memory, appends with a kernel and hands out kv_views for kvshare::decode.
//
//   kv_storage<device_memory>     one cudaMalloc allocation, zero-filled
//   kv_index_mirror<device_memory> device copies of the page table and the lengths, refreshed after
//                                  every change by an asynchronous copy on exec.stream (order other
//                                  streams' readers after it yourself)
//   kv_writer<device_memory>      the row copy of append (append.cuh), on exec.stream
// Element types: __nv_bfloat16 (bf16), __half (fp16), float (fp32; decode takes 16-bit types only).
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "kvshare/backend/cuda/append.cuh"
#include "kvshare/backend/cuda/check.cuh"
#include "kvshare/backend/cuda/device_buffer.cuh"
#include "kvshare/backend/cuda/execution.cuh"
#include "kvshare/cache/element.hpp"
#include "kvshare/cache/storage.hpp"
#include "kvshare/cache/writer.hpp"

namespace kvshare {

template <>
struct cache_element<__nv_bfloat16> {
    static constexpr dtype type = dtype::bf16;
};
template <>
struct cache_element<__half> {
    static constexpr dtype type = dtype::fp16;
};

template <>
class kv_storage<device_memory> {
public:
    kv_storage() = default;
    explicit kv_storage(std::size_t bytes) : buffer_(bytes) {
        if (bytes == 0) return;
        KVSHARE_CUDA_CHECK(cudaMemsetAsync(buffer_.data(), 0, bytes, cudaStreamLegacy));
        KVSHARE_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
    }
    std::byte* data() const { return buffer_.data(); }
    std::size_t bytes() const { return buffer_.bytes(); }

private:
    cuda::device_buffer<std::byte> buffer_;
};

template <>
class kv_index_mirror<device_memory> {
public:
    // Device copies of page_table [batch · max_pages] (paged only) and lengths [kv_layers · batch],
    // allocated at the first call (the cache's constructor) and kept; later calls only copy, on
    // exec.stream, without synchronizing (cudaMemcpyAsync stages pageable host memory before it
    // returns, so the cache may change its host arrays right away). Kernels on exec.stream see the
    // new values; kernels on other streams must be ordered after it by the caller.
    index_pointers publish(const std::int32_t* page_table, std::size_t page_table_count, bool page_table_changed,
                           const std::int32_t* lengths, std::size_t lengths_count,
                           const execution<device_memory>& exec = {}) {
        if (table_.size() != page_table_count) {
            table_ = cuda::device_buffer<std::int32_t>(page_table_count);
            page_table_changed = true;
        }
        if (lengths_.size() != lengths_count) lengths_ = cuda::device_buffer<std::int32_t>(lengths_count);
        if (page_table_count > 0 && page_table_changed)
            KVSHARE_CUDA_CHECK(cudaMemcpyAsync(table_.data(), page_table, page_table_count * sizeof(std::int32_t),
                                               cudaMemcpyHostToDevice, exec.stream));
        if (lengths_count > 0)
            KVSHARE_CUDA_CHECK(cudaMemcpyAsync(lengths_.data(), lengths, lengths_count * sizeof(std::int32_t),
                                               cudaMemcpyHostToDevice, exec.stream));
        return {page_table_count > 0 ? table_.data() : nullptr, lengths_.data()};
    }

private:
    cuda::device_buffer<std::int32_t> table_;
    cuda::device_buffer<std::int32_t> lengths_;
};

template <>
struct kv_writer<device_memory> {
    template <class T>
    static void write(std::span<const row_run> runs, const tensor_view<const T, 3, device_memory>& src, T* dest,
                      const execution<device_memory>& exec = {}) {
        backend::cuda_detail::append_rows<T>(runs, src, dest, exec.stream);
    }
};

}  // namespace kvshare
