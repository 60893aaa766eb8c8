#pragma once
// CPU prefill: tiled online-softmax attention over a ragged batch of packed sequences.
//   q   : [total_q,  H_q,  d  ]  rows of sequence b: q_offsets[b] .. q_offsets[b+1]
//   k   : [total_kv, H_kv, d  ]  rows of sequence b: kv_offsets[b] .. kv_offsets[b+1]
//   v   : [total_kv, H_kv, d_v]
//   out : [total_q,  H_q,  d_v]
//   lse : [total_q,  H_q] fp32, optional
// The work split is (sequence, K/V head, query tile): a tile holds every query head of one K/V group
// for ~64/group tokens, so each K/V tile is loaded once for the whole group while hot in cache;
// with causal masking the K/V tiles above the diagonal are never visited (driver.hpp, wide_tile.hpp).
#include <cstdint>

#include "kvshare/backend/cpu/driver.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend::cpu_detail {

// K/V packed like the queries: sequence b owns rows offsets[b] .. offsets[b+1].
template <class T>
struct packed_kv_source {
    const T* k;
    const T* v;
    index_t k_token, k_head, v_token, v_head;
    const std::int32_t* offsets;

    index_t length(int b) const { return offsets[b + 1] - offsets[b]; }
    kv_rows<T> rows(int b, int h) const {
        return {k + offsets[b] * k_token + h * k_head, v + offsets[b] * v_token + h * v_head, k_token, v_token, k_head,
                v_head};
    }
};

template <class T, class TOut>
void prefill(const head_shape& heads, const host_view<const T, 3>& q, const host_view<const T, 3>& k,
             const host_view<const T, 3>& v, const host_view<TOut, 3>& out,
             const ragged_offsets<host_memory>& q_offsets, const ragged_offsets<host_memory>& kv_offsets,
             const attention_options& options, const host_view<float, 2>& lse, const execution<host_memory>& exec) {
    const query_side<T, TOut> queries{q.data(),   q.stride(0),   q.stride(1),
                                      out.data(), out.stride(0), out.stride(1),
                                      lse.empty() ? nullptr : lse.data(),
                                      lse.empty() ? 0 : lse.stride(0),
                                      lse.empty() ? 0 : lse.stride(1),
                                      q_offsets.host.data()};
    const packed_kv_source<T> keys{k.data(),     v.data(),     k.stride(0), k.stride(1), v.stride(0),
                                   v.stride(1), kv_offsets.host.data()};
    run_attention<T, T, TOut>(heads, queries, q_offsets.batch(), keys, options, exec);
}

}  // namespace kvshare::backend::cpu_detail
