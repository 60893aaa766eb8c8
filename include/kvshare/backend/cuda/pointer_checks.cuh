#pragma once
// Backend-specific argument checks of the CUDA ops, run before anything is launched:
//   require_device_pointer : the pointer is device (or managed) memory, not a host pointer passed
//                            as a device view (cudaPointerGetAttributes)
//   require_vector_view    : base 16-byte aligned, last stride 1, every other stride a multiple of
//                            16 bytes — what the kernels' 16-byte vector loads and stores need
// Host code only.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kvshare/backend/cuda/check.cuh"
#include "kvshare/core/error.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend::cuda_detail {

inline void require_device_pointer(const void* pointer, const char* name) {
    if (pointer == nullptr) return;   // emptiness is checked by the op's shape checks
    cudaPointerAttributes attributes{};
    const cudaError_t status = cudaPointerGetAttributes(&attributes, pointer);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();   // clear the sticky-free error so later launches are not blamed
        detail::throw_error(name, ": cudaPointerGetAttributes failed (", cudaGetErrorString(status),
                            "); is it a device pointer?");
    }
    KVSHARE_REQUIRE(attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged, name,
                    ": is ", attributes.type == cudaMemoryTypeHost ? "pinned host" : "unregistered host",
                    " memory, but the view is a device view (device_memory); copy the data to the GPU first");
}

template <class T, int Rank>
void require_device_view(const tensor_view<T, Rank, device_memory>& view, const char* name) {
    if (view.size() > 0) require_device_pointer(view.data(), name);
}

template <class T, int Rank>
void require_vector_view(const tensor_view<T, Rank, device_memory>& view, const char* name) {
    if (view.size() == 0) return;
    constexpr index_t per_vector = 16 / static_cast<index_t>(sizeof(T));
    const auto address = reinterpret_cast<std::uintptr_t>(view.data());
    KVSHARE_REQUIRE(address % 16 == 0, name, ": data must be 16-byte aligned for the CUDA kernels' vector loads (",
                    "address % 16 = ", address % 16, ")");
    KVSHARE_REQUIRE(view.stride(Rank - 1) == 1, name, ": the last dimension must be contiguous (stride ",
                    view.stride(Rank - 1), ")");
    KVSHARE_REQUIRE(view.extent(Rank - 1) % per_vector == 0, name, ": the last extent ", view.extent(Rank - 1),
                    " must be a multiple of ", per_vector, " elements (16 bytes)");
    for (int i = 0; i + 1 < Rank; ++i)
        KVSHARE_REQUIRE(view.extent(i) <= 1 || view.stride(i) % per_vector == 0, name, ": stride ", i, " = ",
                        view.stride(i), " elements is not a multiple of 16 bytes (", per_vector, " elements)");
    require_device_pointer(view.data(), name);
}

}  // namespace kvshare::backend::cuda_detail
