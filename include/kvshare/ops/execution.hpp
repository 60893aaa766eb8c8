#pragma once
// execution<Space>: how an op runs. Host: the thread count. Device: the stream and the workspace,
// defined by the CUDA backend (backend/cuda/execution.hpp).
#include "kvshare/tensor/memory_space.hpp"

namespace kvshare {

template <MemorySpace Space>
struct execution;

template <>
struct execution<host_memory> {
    int threads = 0;   // 0: all hardware threads
};

}  // namespace kvshare
