#pragma once
// Warp-level tensor-core primitives used by the sm_80+ prefill kernel (portable to Hopper):
// cp.async (16-byte global -> shared copies, zero-filled past the end), ldmatrix (shared -> fragment)
// and mma.sync.m16n8k16 with fp32 accumulation. Fragment layouts (lane = threadIdx.x % 32):
//   A 16x16 (row-major) : a0 (lane/4,   2*(lane%4)+{0,1})   a1 (lane/4+8, ...)
//                         a2 (lane/4,   2*(lane%4)+8+{0,1}) a3 (lane/4+8, ...+8)
//   B 16x8  (k x n)     : b0 (k = 2*(lane%4)+{0,1}, n = lane/4)   b1 (k + 8, n)
//   C 16x8  fp32        : c0,c1 (lane/4, 2*(lane%4)+{0,1})   c2,c3 (lane/4+8, ...)
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace kvshare::backend::cuda_detail::prefill_kernels {

__device__ __forceinline__ std::uint32_t smem_address(const void* p) {
    return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; reads src_bytes (0 or 16) and zero-fills the rest.
__device__ __forceinline__ void cp_async_16(std::uint32_t dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Four 8x8 matrices of 16-bit elements; lane l gives the row address of matrix l/8, row l%8.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], std::uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], std::uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

template <class T>
struct mma_type;
template <>
struct mma_type<__nv_bfloat16> {
    static constexpr const char* name = "bf16";
};
template <>
struct mma_type<__half> {
    static constexpr const char* name = "f16";
};

// c += a · b, 16x8x16, fp32 accumulators.
template <class T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                          std::uint32_t b1) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
}

// Two floats -> one register of two 16-bit values (low half = x).
template <class T>
__device__ __forceinline__ std::uint32_t pack2(float x, float y) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
        return *reinterpret_cast<std::uint32_t*>(&v);
    } else {
        __half2 v = __floats2half2_rn(x, y);
        return *reinterpret_cast<std::uint32_t*>(&v);
    }
}

}  // namespace kvshare::backend::cuda_detail::prefill_kernels
