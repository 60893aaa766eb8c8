#pragma once
// Ragged batches. Sequence b owns rows [offsets[b], offsets[b+1]) of a packed [tokens, ...] tensor.
// `host` is always readable on the host (shape checks and work planning read it there); `in_space`
// holds the same numbers in the op's memory space (for host ops, the same array).
#include <cstdint>
#include <span>

#include "kvshare/tensor/view.hpp"

namespace kvshare {

template <MemorySpace Space>
struct ragged_offsets {
    std::span<const std::int32_t> host;                   // [batch + 1]
    tensor_view<const std::int32_t, 1, Space> in_space;   // [batch + 1]

    int batch() const { return host.empty() ? 0 : static_cast<int>(host.size()) - 1; }
    std::int32_t begin(int b) const { return host[b]; }
    std::int32_t length(int b) const { return host[b + 1] - host[b]; }
    std::int32_t total() const { return host.empty() ? 0 : host.back(); }
};

// Host offsets: one array serves both roles.
inline ragged_offsets<host_memory> host_offsets(std::span<const std::int32_t> offsets) {
    return {offsets, host_view<const std::int32_t, 1>(offsets.data(), {static_cast<index_t>(offsets.size())})};
}

}  // namespace kvshare
