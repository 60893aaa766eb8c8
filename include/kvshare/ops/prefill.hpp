#pragma once
// prefill: self-attention over a ragged batch of sequences.
//   q   : [total_q,  H_q,  d  ]  rows of sequence b: q_offsets[b] .. q_offsets[b+1]
//   k   : [total_kv, H_kv, d  ]  rows of sequence b: kv_offsets[b] .. kv_offsets[b+1]
//   v   : [total_kv, H_kv, d_v]
//   out : [total_q,  H_q,  d_v]  written
//   lse : [total_q,  H_q] fp32   optional (an empty view is not written); natural-log log-sum-exp
// Query head h reads K/V head h / Heads::group_size. Heads is given explicitly:
//   kvshare::prefill<kvshare::gqa<32, 8, 128>>(q, k, v, out, q_offsets, kv_offsets, options);
// The backend comes from the views' memory space (or is named: prefill<Heads, backend::reference>).
// Every argument is checked before anything is written; a bad one throws kvshare::error.
#include <type_traits>

#include "kvshare/backend/tags.hpp"
#include "kvshare/core/concepts.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/checks.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare {

template <HeadPolicy Heads, class Backend = void, class TQ, class TK, class TV, class TOut, MemorySpace Space>
void prefill(const tensor_view<TQ, 3, Space>& q, const tensor_view<TK, 3, Space>& k, const tensor_view<TV, 3, Space>& v,
             const tensor_view<TOut, 3, Space>& out, const ragged_offsets<Space>& q_offsets,
             const ragged_offsets<Space>& kv_offsets, const attention_options& options = {},
             const tensor_view<float, 2, Space>& lse = {}, const execution<Space>& exec = {}) {
    using T = std::remove_const_t<TQ>;
    static_assert(std::is_same_v<T, std::remove_const_t<TK>> && std::is_same_v<T, std::remove_const_t<TV>>,
                  "prefill: q, k and v must have the same element type");
    static_assert(!std::is_const_v<TOut>, "prefill: out must be writable");
    using chosen = std::conditional_t<std::is_void_v<Backend>, backend::default_for_t<Space>, Backend>;
    const tensor_view<const T, 3, Space> cq = q, ck = k, cv = v;
    detail::check_prefill<Heads>(cq, ck, cv, out, q_offsets, kv_offsets, options, lse);
    backend::attention_backend<chosen>::template prefill<Heads>(cq, ck, cv, out, q_offsets, kv_offsets, options, lse,
                                                                exec);
}

}  // namespace kvshare
