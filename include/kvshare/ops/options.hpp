#pragma once
// Options shared by prefill and decode.
//
// Positions: with q_len queries and kv_len keys in a sequence, query i sits at key position
// p(i) = i + kv_len - q_len (bottom-right alignment: the last query meets the last key).
//   causal          : query i sees keys j <= p(i)
//   window_left = w : query i sees keys j >= p(i) - w   (w < 0: no left limit)
//   softcap = c > 0 : logits become c · tanh(logits / c) before the softmax
// A query that sees no key outputs zeros and LSE = -inf.
#include <algorithm>
#include <cstdint>

#if defined(__CUDACC__)
#define KVSHARE_OPTIONS_HD __host__ __device__
#else
#define KVSHARE_OPTIONS_HD
#endif

namespace kvshare {

struct attention_options {
    float scale = 0.0f;      // softmax scale; 0 means 1 / sqrt(head_dim)
    bool causal = false;
    int window_left = -1;    // sliding window: how many earlier keys a query sees besides its own position
    float softcap = 0.0f;    // 0 = off
};

// The keys [begin, end) that query i of a sequence with q_len queries and kv_len keys sees under
// `options`; empty (begin >= end) for a fully masked row. Every backend uses this one rule.
struct key_range {
    std::int64_t begin;
    std::int64_t end;
    KVSHARE_OPTIONS_HD constexpr bool empty() const { return begin >= end; }
};

KVSHARE_OPTIONS_HD constexpr key_range visible_keys(std::int64_t query, std::int64_t q_len, std::int64_t kv_len,
                                                     bool causal, int window_left) {
    const std::int64_t position = query + kv_len - q_len;
    std::int64_t end = causal ? (position + 1 < kv_len ? position + 1 : kv_len) : kv_len;
    std::int64_t begin = window_left >= 0 ? position - window_left : 0;
    if (begin < 0) begin = 0;
    if (end < 0) end = 0;
    return {begin, end};
}

KVSHARE_OPTIONS_HD constexpr key_range visible_keys(std::int64_t query, std::int64_t q_len, std::int64_t kv_len,
                                                     const attention_options& options) {
    return visible_keys(query, q_len, kv_len, options.causal, options.window_left);
}

}  // namespace kvshare
