#pragma once
// decode: q_len >= 1 new tokens per sequence attending to a KV cache view (this also covers chunked
// prefill). The new tokens' own K/V are expected in the cache already (append first), so with
// causal masking query i of sequence b sits at position i + length[b] - q_len[b].
//   q   : [total_q, H_q, d  ]  rows of sequence b: q_offsets[b] .. q_offsets[b+1]
//   kv  : kv_view (ops/kv_view.hpp), contiguous or paged, lengths[b] tokens per sequence
//   out : [total_q, H_q, d_v]  written
//   lse : [total_q, H_q] fp32  optional; natural-log log-sum-exp
// Each K/V head is read once for all query heads of its group.
#include <type_traits>

#include "kvshare/backend/tags.hpp"
#include "kvshare/core/concepts.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/checks.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/ops/kv_view.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare {

template <HeadPolicy Heads, class Backend = void, class TQ, class TKV, class TOut, MemorySpace Space>
void decode(const tensor_view<TQ, 3, Space>& q, const ragged_offsets<Space>& q_offsets, const kv_view<TKV, Space>& kv,
            const tensor_view<TOut, 3, Space>& out, const attention_options& options = {},
            const tensor_view<float, 2, Space>& lse = {}, const execution<Space>& exec = {}) {
    using T = std::remove_const_t<TQ>;
    static_assert(!std::is_const_v<TOut>, "decode: out must be writable");
    using chosen = std::conditional_t<std::is_void_v<Backend>, backend::default_for_t<Space>, Backend>;
    const tensor_view<const T, 3, Space> cq = q;
    detail::check_decode<Heads>(cq, q_offsets, kv, out, options, lse);
    backend::attention_backend<chosen>::template decode<Heads>(cq, q_offsets, kv, out, options, lse, exec);
}

}  // namespace kvshare
