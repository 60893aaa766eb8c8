#pragma once
// kvshare with the CUDA backend: everything in <kvshare/kvshare.hpp>, plus device views run on the
// GPU. Include from .cu files compiled by nvcc, link kvshare::cuda.
//   kvshare::execution<kvshare::device_memory> exec{stream, workspace};
//   kvshare::decode<kvshare::gqa<32, 8, 128>>(q, q_offsets, kv, out, {.causal = true}, {}, exec);
#if !defined(__CUDACC__)
#error "<kvshare/cuda.hpp> contains CUDA kernels: include it from a .cu file compiled by nvcc (target kvshare::cuda)"
#endif

#include "kvshare/kvshare.hpp"

#include "kvshare/backend/cuda/append.cuh"
#include "kvshare/backend/cuda/attention.cuh"
#include "kvshare/backend/cuda/cache.cuh"
#include "kvshare/backend/cuda/check.cuh"
#include "kvshare/backend/cuda/device_buffer.cuh"
#include "kvshare/backend/cuda/execution.cuh"
