#pragma once
// device_buffer<T>: one owning cudaMalloc allocation of `count` elements (RAII, move-only). For tests,
// benchmarks and the device KV cache; ops themselves never allocate.
//   kvshare::cuda::device_buffer<__nv_bfloat16> k(batch * capacity * kv_heads * head_dim);
//   k.copy_from_host(host.data(), host.size());   auto view = k.view<4>({batch, capacity, kv_heads, head_dim});
// cudaMalloc returns 256-byte aligned memory, so views of a buffer pass the backend's 16-byte checks.
#include <cstddef>
#include <span>
#include <utility>

#include <cuda_runtime_api.h>

#include "kvshare/backend/cuda/check.cuh"
#include "kvshare/core/error.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::cuda {

template <class T>
class device_buffer {
public:
    device_buffer() = default;
    explicit device_buffer(std::size_t count) : count_(count) {
        if (count_ > 0) KVSHARE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), bytes()));
    }
    device_buffer(const device_buffer&) = delete;
    device_buffer& operator=(const device_buffer&) = delete;
    device_buffer(device_buffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0)) {}
    device_buffer& operator=(device_buffer&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            count_ = std::exchange(other.count_, 0);
        }
        return *this;
    }
    ~device_buffer() { release(); }

    T* data() const { return data_; }
    std::size_t size() const { return count_; }
    std::size_t bytes() const { return count_ * sizeof(T); }
    bool empty() const { return count_ == 0; }

    // A row-major device view over the first prod(shape) elements.
    template <int Rank>
    tensor_view<T, Rank, device_memory> view(const std::array<index_t, Rank>& shape) const {
        index_t n = 1;
        for (index_t e : shape) n *= e;
        KVSHARE_REQUIRE(n >= 0 && static_cast<std::size_t>(n) <= count_, "device_buffer::view: shape needs ", n,
                        " elements but the buffer holds ", count_);
        return tensor_view<T, Rank, device_memory>(data_, shape);
    }
    // The whole buffer as bytes (e.g. a workspace for execution<device_memory>).
    tensor_view<std::byte, 1, device_memory> byte_view() const {
        return tensor_view<std::byte, 1, device_memory>(reinterpret_cast<std::byte*>(data_),
                                                        {static_cast<index_t>(bytes())});
    }

    // Synchronous copies (tests, setup); `count` elements from the start of the buffer.
    void copy_from_host(const T* host, std::size_t count) {
        KVSHARE_REQUIRE(count <= count_, "device_buffer::copy_from_host: ", count, " elements into a buffer of ", count_);
        if (count > 0) KVSHARE_CUDA_CHECK(cudaMemcpy(data_, host, count * sizeof(T), cudaMemcpyHostToDevice));
    }
    void copy_to_host(T* host, std::size_t count) const {
        KVSHARE_REQUIRE(count <= count_, "device_buffer::copy_to_host: ", count, " elements from a buffer of ", count_);
        if (count > 0) KVSHARE_CUDA_CHECK(cudaMemcpy(host, data_, count * sizeof(T), cudaMemcpyDeviceToHost));
    }
    void copy_from_host(std::span<const T> host) { copy_from_host(host.data(), host.size()); }
    void copy_to_host(std::span<T> host) const { copy_to_host(host.data(), host.size()); }

private:
    void release() noexcept {
        if (data_) cudaFree(data_);   // no throw from a destructor; a failure here means a dead context
        data_ = nullptr;
        count_ = 0;
    }
    T* data_ = nullptr;
    std::size_t count_ = 0;
};

}  // namespace kvshare::cuda
