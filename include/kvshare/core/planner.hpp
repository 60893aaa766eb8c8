#pragma once
// The KV memory planner: exact bytes of the KV cache per token, for (batch, tokens), and the largest
// batch × tokens under a byte budget. Compile-time for model types, run time for model_desc; both
// through kv_bytes_per_token(kv_layers, kv_heads, head_dim, value_head_dim, dtype).
#include <cstdint>
#include <limits>
#include <vector>

#include "kvshare/core/concepts.hpp"
#include "kvshare/core/dtype.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/core/model_desc.hpp"

namespace kvshare {

// K and V bytes per token over all producer layers: kv_layers · H_kv · (d + d_v) · bytes.
// The arguments are validated (non-negative); the sum is taken in 64 bits and the product checked, so
// an absurd configuration is an error (or, in a constant expression, a compile error), never a wrapped number.
constexpr std::uint64_t kv_bytes_per_token(int kv_layers, int kv_heads, int head_dim, int value_head_dim, dtype type) {
    // < 2^31 · 2^32: cannot overflow
    const std::uint64_t per_layer = static_cast<std::uint64_t>(kv_heads) *
                                    (static_cast<std::uint64_t>(head_dim) + static_cast<std::uint64_t>(value_head_dim));
    const std::uint64_t scale = static_cast<std::uint64_t>(kv_layers) * static_cast<std::uint64_t>(bytes_of(type));
    KVSHARE_REQUIRE(scale == 0 || per_layer <= std::numeric_limits<std::uint64_t>::max() / scale,
                    "KV bytes per token for kv_layers = ", kv_layers, ", kv_heads = ", kv_heads, ", head_dim = ", head_dim,
                    ", value_head_dim = ", value_head_dim, " overflow 64 bits");
    return per_layer * scale;
}

template <Model M>
constexpr std::uint64_t kv_bytes_per_token(dtype type) {
    return kv_bytes_per_token(M::kv_layers, M::kv_heads, M::head_dim, M::value_head_dim, type);
}

namespace detail {
constexpr std::uint64_t checked_product(std::uint64_t per_token, std::uint64_t batch, std::uint64_t tokens) {
    const std::uint64_t count = batch * tokens;
    KVSHARE_REQUIRE(tokens == 0 || count / tokens == batch, "batch = ", batch, " x tokens = ", tokens, " overflows");
    KVSHARE_REQUIRE(count == 0 || per_token <= std::numeric_limits<std::uint64_t>::max() / count, "KV bytes for batch = ",
                    batch, ", tokens = ", tokens, " overflow 64 bits");
    return per_token * count;
}
}  // namespace detail

// Bytes of a cache holding `tokens` tokens for each of `batch` sequences.
template <Model M>
constexpr std::uint64_t kv_bytes(dtype type, std::uint64_t batch, std::uint64_t tokens) {
    return detail::checked_product(kv_bytes_per_token<M>(type), batch, tokens);
}

// The largest batch × tokens whose cache fits in `budget_bytes`.
template <Model M>
constexpr std::uint64_t max_kv_tokens(dtype type, std::uint64_t budget_bytes) {
    return budget_bytes / kv_bytes_per_token<M>(type);
}

// The planner's answer for a runtime description.
struct memory_plan {
    std::vector<int> slots;        // slots[l]: the producer layer layer l reads
    int kv_layers = 0;             // producers = K/V slots in the cache
    std::uint64_t bytes_per_token = 0;

    std::uint64_t bytes(std::uint64_t batch, std::uint64_t tokens) const {
        return detail::checked_product(bytes_per_token, batch, tokens);
    }
    std::uint64_t max_tokens(std::uint64_t budget_bytes) const { return budget_bytes / bytes_per_token; }
};

inline memory_plan plan_memory(const model_desc& desc, dtype type) {
    memory_plan plan;
    plan.slots = desc.validated_slots();
    for (int l = 0; l < desc.layers; ++l) plan.kv_layers += plan.slots[l] == l;
    plan.bytes_per_token =
        kv_bytes_per_token(plan.kv_layers, desc.kv_heads, desc.head_dim, desc.effective_value_head_dim(), type);
    return plan;
}

}  // namespace kvshare
