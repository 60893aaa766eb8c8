#pragma once
// Warp-level primitives of the CUDA decode and append kernels (sm_80+; built for sm_90a):
// cp.async 16-byte copies (zero-filled where the source is out of range), ldmatrix, mma.sync
// m16n8k16 with fp32 accumulation, fast exp2/tanh. Fragment layouts (lane = threadIdx.x % 32,
// g = lane / 4, c = lane % 4), as in the PTX ISA for mma.m16n8k16 with 16-bit inputs:
//   A 16x16 row-major : a[0] (g, 2c..2c+1)  a[1] (g+8, 2c..)  a[2] (g, 2c+8..)  a[3] (g+8, 2c+8..)
//   B 16x8  (k x n)   : b[0] (k = 2c..2c+1, n = g)           b[1] (k = 2c+8.., n = g)
//   C 16x8  fp32      : c[0], c[1] (g, 2c..2c+1)             c[2], c[3] (g+8, 2c..2c+1)
#if !defined(__CUDACC__)
#error "kvshare/backend/cuda/detail/ptx.cuh holds device code: include it from a .cu file compiled by nvcc"
#endif
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace kvshare::backend::cuda_detail::ptx {

__device__ __forceinline__ std::uint32_t smem_address(const void* p) {
    return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; reads src_bytes (16 or 0) and zero-fills the rest.
__device__ __forceinline__ void cp_async_16(std::uint32_t dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Four 8x8 matrices of 16-bit elements; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], std::uint32_t address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], std::uint32_t address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}

// c += a · b (16x8x16), fp32 accumulators, T = __nv_bfloat16 or __half.
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

// Two floats -> two 16-bit values in one register (x in the low half), round to nearest.
template <class T>
__device__ __forceinline__ std::uint32_t pack2(float x, float y) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        const __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
        return *reinterpret_cast<const std::uint32_t*>(&v);
    } else {
        const __half2 v = __floats2half2_rn(x, y);
        return *reinterpret_cast<const std::uint32_t*>(&v);
    }
}

// 2^x (MUFU.EX2, ~2^-22 relative error; 2^-inf = 0).
__device__ __forceinline__ float exp2_fast(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}
// tanh(x) = 1 - 2 / (e^{2x} + 1): ~1e-6 absolute error (tanh.approx.f32 has ~5e-4 relative, too
// coarse for softcapped logits of size ~30).
__device__ __forceinline__ float tanh_accurate(float x) {
    return 1.0f - __fdividef(2.0f, exp2_fast(x * 2.8853900817779268f) + 1.0f);
}

}  // namespace kvshare::backend::cuda_detail::ptx
