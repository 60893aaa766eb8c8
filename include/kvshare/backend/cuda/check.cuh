#pragma once
// KVSHARE_CUDA_CHECK(call): runs a CUDA runtime call and turns a failure into kvshare::error naming
// the call, the error and its description, e.g.
//   kvshare: CUDA call cudaMalloc(&ptr, bytes) failed: cudaErrorMemoryAllocation (out of memory)
// Host code only; usable from .cpp files that link the CUDA runtime (no kernel syntax here).
#include <cuda_runtime_api.h>

#include "kvshare/core/error.hpp"

namespace kvshare::backend::cuda_detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
    detail::throw_error("CUDA call ", call, " failed: ", cudaGetErrorName(status), " (", cudaGetErrorString(status),
                        ") at ", file, ":", line);
}

}  // namespace kvshare::backend::cuda_detail

#define KVSHARE_CUDA_CHECK(...)                                                                     \
    do {                                                                                            \
        const cudaError_t kvshare_cuda_status_ = (__VA_ARGS__);                                     \
        if (kvshare_cuda_status_ != cudaSuccess)                                                    \
            ::kvshare::backend::cuda_detail::throw_cuda_error(kvshare_cuda_status_, #__VA_ARGS__,   \
                                                              __FILE__, __LINE__);                  \
    } while (false)
