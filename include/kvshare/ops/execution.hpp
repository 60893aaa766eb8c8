#pragma once
// execution<Space>: how an op runs. Host: the thread count and how bf16 operands are multiplied.
// Device: the stream and the workspace, defined by the CUDA backend (backend/cuda/execution.cuh).
#include "kvshare/tensor/memory_space.hpp"

namespace kvshare {

template <MemorySpace Space>
struct execution;

// How the CPU backend multiplies bf16 Q/K/V (only where the CPU has AVX512-BF16 and the head dim is
// even; otherwise bf16 is always widened to fp32):
//   automatic  bf16 pair products (vdpbf16ps) where this CPU runs them faster than fp32 FMAs,
//              measured once per process (2x on a Zen 5, 0.5x on an Intel Xeon of 2026);
//   pairs      always the pair products (P rounded to bf16 for P.V, as FlashAttention does);
//   fp32       always widen bf16 to fp32 (fp32 products and P).
enum class bf16_products { automatic, pairs, fp32 };

template <>
struct execution<host_memory> {
    int threads = 0;   // 0: all hardware threads
    bf16_products bf16 = bf16_products::automatic;
};

}  // namespace kvshare
