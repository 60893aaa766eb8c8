#pragma once
// Head policies: how many query heads, how many K/V heads, and their widths.
//   MHA  : H_kv == H_q           GQA-g : H_kv == H_q / g           MQA : H_kv == 1
//   SQA  : fewer query heads than a baseline (saves FLOPs, not cache)
// No relation between H_q · head_dim and d_model is assumed (the CLA paper uses 45×46 and 22×90).

namespace kvshare {

template <int QHeads, int KVHeads, int HeadDim, int ValueHeadDim = HeadDim>
struct heads {
    static constexpr int q_heads = QHeads;
    static constexpr int kv_heads = KVHeads;
    static constexpr int head_dim = HeadDim;            // width of Q and K per head
    static constexpr int value_head_dim = ValueHeadDim; // width of V and of the output per head

    static_assert(kv_heads >= 1, "heads: need at least one K/V head (KVHeads >= 1)");
    static_assert(q_heads >= 1, "heads: need at least one query head (QHeads >= 1)");
    static_assert(q_heads % kv_heads == 0,
                  "heads: the query heads must split evenly into K/V groups (QHeads % KVHeads == 0)");
    static_assert(head_dim >= 1, "heads: the head dimension must be positive (HeadDim >= 1)");
    static_assert(value_head_dim >= 1, "heads: the value head dimension must be positive (ValueHeadDim >= 1)");

    // Query heads that read one K/V head; query head h reads K/V head h / group_size.
    static constexpr int group_size = q_heads / kv_heads;

    // K and V elements stored per token for one producer layer.
    static constexpr long kv_elements_per_token = static_cast<long>(kv_heads) * (head_dim + value_head_dim);
};

template <int H, int D>
using mha = heads<H, H, D>;

template <int H, int KV, int D>
using gqa = heads<H, KV, D>;

template <int H, int D>
using mqa = heads<H, 1, D>;

// Sparse-query attention: QHeads query heads where the baseline model has BaselineQHeads.
// Attention FLOPs scale by q_heads / baseline_q_heads; the cache is set by KVHeads alone.
template <int QHeads, int KVHeads, int HeadDim, int BaselineQHeads>
struct sqa : heads<QHeads, KVHeads, HeadDim> {
    static constexpr int baseline_q_heads = BaselineQHeads;
    static_assert(QHeads < BaselineQHeads,
                  "sqa: a sparse-query policy has fewer query heads than its baseline (QHeads < BaselineQHeads)");
    static constexpr double flop_ratio = static_cast<double>(QHeads) / BaselineQHeads;
};

}  // namespace kvshare
