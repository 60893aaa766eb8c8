#pragma once
// CPU decode: q_len >= 1 new tokens per sequence attending to a KV cache view (contiguous or paged).
//   q   : [total_q, H_q, d  ]  rows of sequence b: q_offsets[b] .. q_offsets[b+1]
//   kv  : kv_view (ops/kv_view.hpp), lengths[b] keys per sequence
//   out : [total_q, H_q, d_v]
//   lse : [total_q, H_q] fp32, optional
// Each K/V head is read from memory once for all query heads of its group (and all q_len tokens).
// With few (sequence, K/V head) pairs — one sequence, MQA — the KV length is split into chunks over
// the threads and the partial results merged by log-sum-exp (driver.hpp). fp32 or bf16 cache.
#include <cstdint>

#include "kvshare/backend/cpu/driver.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/ops/kv_view.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend::cpu_detail {

// The K/V of a cache view: contiguous [batch, capacity, H_kv, d] or paged [pages, page_size, H_kv, d].
template <class TKV>
struct cache_kv_source {
    const kv_view<TKV, host_memory>* kv;

    index_t length(int b) const { return kv->lengths[b]; }
    kv_rows<TKV> rows(int b, int h) const {
        const auto& k = kv->k;
        const auto& v = kv->v;
        if (!kv->paged())
            return {k.data() + b * k.stride(0) + h * k.stride(2), v.data() + b * v.stride(0) + h * v.stride(2),
                    k.stride(1), v.stride(1), k.stride(2), v.stride(2)};
        const auto& pt = kv->page_table;
        return {k.data() + h * k.stride(2),
                v.data() + h * v.stride(2),
                k.stride(1),
                v.stride(1),
                k.stride(2),
                v.stride(2),
                pt.data() + b * pt.stride(0),
                pt.stride(1),
                k.stride(0),
                v.stride(0),
                kv->page_size};
    }
};

template <class TQ, class TKV, class TOut>
void decode(const head_shape& heads, const host_view<const TQ, 3>& q, const ragged_offsets<host_memory>& q_offsets,
            const kv_view<TKV, host_memory>& kv, const host_view<TOut, 3>& out, const attention_options& options,
            const host_view<float, 2>& lse, const execution<host_memory>& exec) {
    const query_side<TQ, TOut> queries{q.data(),   q.stride(0),   q.stride(1),
                                       out.data(), out.stride(0), out.stride(1),
                                       lse.empty() ? nullptr : lse.data(),
                                       lse.empty() ? 0 : lse.stride(0),
                                       lse.empty() ? 0 : lse.stride(1),
                                       q_offsets.host.data()};
    const cache_kv_source<TKV> keys{&kv};
    run_attention<TQ, TKV, TOut>(heads, queries, q_offsets.batch(), keys, options, exec);
}

}  // namespace kvshare::backend::cpu_detail
