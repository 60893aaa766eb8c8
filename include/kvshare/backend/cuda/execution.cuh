#pragma once
// execution<device_memory>: how a CUDA op runs.
//   stream    : every kernel of the op is launched on it (nullptr: the legacy default stream)
//   workspace : scratch device memory for split-KV partials; size it with
//               kvshare::cuda::decode_workspace_bytes<Heads>(...) (backend/cuda/decode.cuh). An empty
//               or too small workspace is not an error: decode then splits the KV length less (or not
//               at all), which is slower when batch x H_kv cannot fill the GPU. Prefill on Hopper
//               keeps a tile counter in its first kvshare::cuda::prefill_workspace_bytes() bytes
//               (balanced causal tiles); without a workspace it assigns tiles statically.
//               A workspace serves one op at a time (the ops of one stream are ordered).
// Ops never allocate and never synchronize the host, so they can be captured in a CUDA graph.
#include <cstddef>

#include <cuda_runtime_api.h>

#include "kvshare/ops/execution.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare {

template <>
struct execution<device_memory> {
    cudaStream_t stream = nullptr;
    tensor_view<std::byte, 1, device_memory> workspace{};   // [bytes], 16-byte aligned
};

}  // namespace kvshare
