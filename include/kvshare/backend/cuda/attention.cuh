#pragma once
// attention_backend<cuda>: the ops on device views. kvshare::prefill / kvshare::decode pick it for
// device_memory views (backend/tags.hpp) after the backend-independent checks (ops/checks.hpp);
// the CUDA-specific checks (device pointers, 16-byte alignment, supported head dims and types) run
// here, also before anything is launched.
#include <cuda_runtime_api.h>

#include "kvshare/backend/cuda/decode.cuh"
#include "kvshare/backend/cuda/execution.cuh"
#include "kvshare/backend/cuda/prefill.cuh"
#include "kvshare/backend/tags.hpp"
#include "kvshare/core/concepts.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/kv_view.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend {

// A CUDA device is present and usable.
inline bool cuda::supported() {
    int devices = 0;
    const cudaError_t status = cudaGetDeviceCount(&devices);
    if (status != cudaSuccess) (void)cudaGetLastError();
    return status == cudaSuccess && devices > 0;
}

template <>
struct attention_backend<cuda> {
    using space = device_memory;

    // q: [total_q, H_q, d], k: [total_kv, H_kv, d], v: [total_kv, H_kv, d_v], out: [total_q, H_q, d_v],
    // lse: empty or [total_q, H_q]. Implemented in backend/cuda/prefill.cuh.
    template <HeadPolicy Heads, class T, class TOut>
    static void prefill(const device_view<const T, 3>& q, const device_view<const T, 3>& k,
                        const device_view<const T, 3>& v, const device_view<TOut, 3>& out,
                        const ragged_offsets<device_memory>& q_offsets, const ragged_offsets<device_memory>& kv_offsets,
                        const attention_options& options, const device_view<float, 2>& lse,
                        const execution<device_memory>& exec) {
        cuda_detail::prefill<Heads>(q, k, v, out, q_offsets, kv_offsets, options, lse, exec);
    }

    // q: [total_q, H_q, d]; kv: contiguous [batch, cap, H_kv, d] or paged [pages, ps, H_kv, d];
    // out: [total_q, H_q, d]; lse: empty or [total_q, H_q]. See backend/cuda/decode.cuh.
    template <HeadPolicy Heads, class T, class TKV, class TOut>
    static void decode(const device_view<const T, 3>& q, const ragged_offsets<device_memory>& q_offsets,
                       const kv_view<TKV, device_memory>& kv, const device_view<TOut, 3>& out,
                       const attention_options& options, const device_view<float, 2>& lse,
                       const execution<device_memory>& exec) {
        cuda_detail::decode<Heads>(q, q_offsets, kv, out, options, lse, exec);
    }
};

}  // namespace kvshare::backend
