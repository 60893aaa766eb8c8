#pragma once
// Hopper bulk-tensor copies (TMA) and the shared-memory barriers (mbarrier) they complete on, for
// the warp-specialized sm90 prefill kernel. Device side: PTX wrappers. Host side: building a
// CUtensorMap through the driver entry point (no libcuda link dependency).
#include <cstdint>

#include <cuda.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include "kvshare/core/error.hpp"

namespace kvshare::backend::cuda_detail::prefill_kernels {

__device__ __forceinline__ void mbarrier_init(std::uint32_t bar, std::uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarrier_init_fence() {
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// Arrive once and announce `bytes` more to come from bulk copies.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(std::uint32_t bar, std::uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbarrier_arrive(std::uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Blocks until the phase with the given parity has completed.
__device__ __forceinline__ void mbarrier_wait(std::uint32_t bar, std::uint32_t parity) {
    asm volatile(
        "{\n.reg .pred done;\nWAIT:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra WAIT;\n}\n" ::"r"(bar),
        "r"(parity)
        : "memory");
}

// 3-D tile copy global -> shared, completing `bytes` on barrier `bar`. Coordinates innermost first.
__device__ __forceinline__ void tma_load_3d(std::uint32_t dst, const CUtensorMap* map, int c0, int c1, int c2,
                                            std::uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];\n" ::
            "r"(dst),
        "l"(reinterpret_cast<std::uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
        : "memory");
}

template <int Count>
__device__ __forceinline__ void set_max_registers_increase() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Count));
}
template <int Count>
__device__ __forceinline__ void set_max_registers_decrease() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Count));
}

}  // namespace kvshare::backend::cuda_detail::prefill_kernels

namespace kvshare::backend::cuda_detail::prefill_host {

inline PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
    static PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
        void* fn = nullptr;
        cudaDriverEntryPointQueryResult found{};
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) !=
                cudaSuccess ||
            found != cudaDriverEntryPointSuccess)
            fn = nullptr;
        return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
    }();
    return encode;
}

// A [rows, heads, dim] tensor (strides in elements, last one 1) read in boxes of
// [box_rows, box_heads, 64 elements] with the 128-byte swizzle; rows past `rows` read as zeros.
inline CUtensorMap tiled_map_3d(const void* data, CUtensorMapDataType type, std::uint64_t rows, std::uint64_t heads,
                                std::uint64_t dim, std::uint64_t row_stride, std::uint64_t head_stride,
                                std::uint32_t box_rows, std::uint32_t box_heads = 1) {
    CUtensorMap map{};
    const cuuint64_t dims[3] = {dim, heads, rows};
    const cuuint64_t strides[2] = {head_stride * 2, row_stride * 2};   // bytes, 16-bit elements
    const cuuint32_t box[3] = {64, box_heads, box_rows};
    const cuuint32_t element_strides[3] = {1, 1, 1};
    auto encode = tensor_map_encoder();
    KVSHARE_REQUIRE(encode != nullptr, "cuda prefill: the driver has no cuTensorMapEncodeTiled");
    const CUresult status = encode(&map, type, 3, const_cast<void*>(data), dims, strides, box, element_strides,
                                   CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                   CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    KVSHARE_REQUIRE(status == CUDA_SUCCESS, "cuda prefill: cuTensorMapEncodeTiled failed (error ", static_cast<int>(status),
                    ")");
    return map;
}

}  // namespace kvshare::backend::cuda_detail::prefill_host
