#pragma once
// CUDA prefill entry point. attention_backend<cuda>::prefill (backend/cuda/attention.cuh) forwards here
// after the public kvshare::prefill has run detail::check_prefill.
//   q   : [total_q,  H_q,  d  ]   k : [total_kv, H_kv, d]   v : [total_kv, H_kv, d_v]
//   out : [total_q,  H_q,  d_v]   lse : empty or [total_q, H_q] fp32 (natural log)
// T: __nv_bfloat16 or __half (fp32 accumulation); TOut: T or float. Any group size: the group's query
// heads are packed into the rows of one tile, so each K/V tile is read once per group.
// Kernels (prefill/launch.cuh picks one, all checks before any launch):
//   sm90_kernel.cuh : Hopper (sm_90a build on an sm_90 device), d = d_v in {64, 128}: warp-specialized
//                     TMA + wgmma, persistent CTAs
//   sm80_kernel.cuh : everything else with d, d_v multiples of 16 up to 256 (e.g. 96, 256, d_v != d),
//                     and every GPU from sm_80: mma.sync m16n8k16 + ldmatrix + cp.async
// Other head dims or element types: kvshare::error. No allocation, no synchronization; runs on exec.stream.
// exec.workspace (optional, >= prefill_workspace_bytes(), 4-byte aligned): the Hopper kernel then takes
// its tiles from a counter there, which balances causal tiles of unequal cost (one memset per call).
#include "kvshare/backend/cuda/execution.cuh"
#include "kvshare/backend/cuda/prefill/launch.cuh"

namespace kvshare::backend::cuda_detail {

template <HeadPolicy Heads, class T, class TOut>
void prefill(const device_view<const T, 3>& q, const device_view<const T, 3>& k, const device_view<const T, 3>& v,
             const device_view<TOut, 3>& out, const ragged_offsets<device_memory>& q_offsets,
             const ragged_offsets<device_memory>& kv_offsets, const attention_options& options,
             const device_view<float, 2>& lse, const execution<device_memory>& exec) {
    launch_prefill<Heads>(q, k, v, out, q_offsets, kv_offsets, options, lse, exec);
}

}  // namespace kvshare::backend::cuda_detail

namespace kvshare::cuda {

// Workspace bytes with which prefill balances its tiles (see above). The decode workspace of
// decode_workspace_bytes serves both when it is at least this large.
inline constexpr std::size_t prefill_workspace_bytes() { return backend::cuda_detail::prefill_workspace_bytes(); }

}  // namespace kvshare::cuda
