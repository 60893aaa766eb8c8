#pragma once
// What one work item of the CPU backend sees: a block of query rows of one K/V head and the keys of
// its sequence. Shared by prefill and decode, by both tile engines and by the split-KV merge.
//
// Rows: the query rows of a work item are (token, head-in-group) pairs, row r = t * group + g, i.e.
// all query heads of one K/V group for `tokens` consecutive query tokens. They are processed together
// against each K/V tile (GQA packing), so a K/V head is read once per tile for its whole group.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kvshare/backend/cpu/simd.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend::cpu_detail {

inline constexpr int round_up(int x, int m) { return (x + m - 1) / m * m; }

// How logits become exp2 arguments (everything runs in base 2: exp(x) = exp2(x * log2e)).
//   plain  : u = q.k, softmax argument u * scale * log2e
//   softcap: u = softcap * log2e * tanh(q.k * scale / softcap), argument u
struct logit_rule {
    float scale_log2 = 0;   // plain: scale * log2e
    float pre = 0;          // softcap: scale / softcap
    float post = 0;         // softcap: softcap * log2e
    bool softcap = false;

    static logit_rule from(const attention_options& options, int head_dim) {
        const float scale = options.scale > 0 ? options.scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
        logit_rule rule;
        rule.softcap = options.softcap > 0;
        rule.scale_log2 = scale * log2e;
        rule.pre = rule.softcap ? scale / options.softcap : 0.0f;
        rule.post = rule.softcap ? options.softcap * log2e : 0.0f;
        return rule;
    }
    // Factor applied to a stored u to get the exp2 argument.
    float factor() const { return softcap ? 1.0f : scale_log2; }
    simd::vf transform(simd::vf s) const {
        return softcap ? simd::mul(simd::tanh(simd::mul(s, simd::set1(pre))), simd::set1(post)) : s;
    }
};

// The query rows of one work item. q/out/lse point at (first token, first head of the group).
template <class TQ, class TOut>
struct query_rows {
    const TQ* q;
    index_t q_token, q_head;       // element strides of q between tokens and between heads
    TOut* out;
    index_t out_token, out_head;
    float* lse;                    // null: not wanted
    index_t lse_token, lse_head;
    int tokens, group;             // rows = tokens * group
    int first;                     // index of the first token within its sequence's queries
    int q_len, kv_len;             // of the sequence (for the mask)

    int rows() const { return tokens * group; }
    // The same rows for the K/V head `heads` further on.
    query_rows shifted(int heads) const {
        query_rows r = *this;
        const index_t step = static_cast<index_t>(heads) * group;
        r.q += step * q_head;
        r.out += step * out_head;
        if (r.lse) r.lse += step * lse_head;
        return r;
    }
    const TQ* q_row(int r) const { return q + (r / group) * q_token + (r % group) * q_head; }
    TOut* out_row(int r) const { return out + (r / group) * out_token + (r % group) * out_head; }
    float* lse_at(int r) const { return lse ? lse + (r / group) * lse_token + (r % group) * lse_head : nullptr; }
    key_range keys(int r, const attention_options& options) const {
        return visible_keys(first + r / group, q_len, kv_len, options);
    }
};

// The keys and values of one (sequence, K/V head): contiguous or paged.
template <class TKV>
struct kv_rows {
    const TKV* k;                  // contiguous: token 0 of the sequence at this head; paged: this head's offset
    const TKV* v;
    index_t k_token, v_token;      // element strides between consecutive tokens (within a page)
    index_t k_head = 0, v_head = 0;        // element strides between K/V heads (multi-head items)
    const std::int32_t* pages = nullptr;   // paged: this sequence's row of the page table
    index_t page_step = 0;                 // element stride of the page table along the page index
    index_t k_page = 0, v_page = 0;        // element strides between pages
    int page_size = 0;                     // 0: contiguous

    // Row pointers of keys [t0, t0 + n) into kp / vp, walking pages incrementally (no division per key).
    void fill(index_t t0, int n, const TKV** kp, const TKV** vp) const {
        if (page_size == 0) {
            for (int j = 0; j < n; ++j) {
                kp[j] = k + (t0 + j) * k_token;
                vp[j] = v + (t0 + j) * v_token;
            }
            return;
        }
        index_t page = t0 / page_size, row = t0 % page_size;
        const TKV* kb = k + pages[page * page_step] * k_page;
        const TKV* vb = v + pages[page * page_step] * v_page;
        for (int j = 0; j < n; ++j) {
            kp[j] = kb + row * k_token;
            vp[j] = vb + row * v_token;
            if (++row == page_size && j + 1 < n) {
                row = 0;
                ++page;
                kb = k + pages[page * page_step] * k_page;
                vb = v + pages[page * page_step] * v_page;
            }
        }
    }
};

// Software-prefetch (into L2) every cache line of `bytes` bytes starting at p: K/V rows the hardware
// prefetcher would fetch too late (rows of one head are strided across pages, and a compute-laden
// loop keeps few misses in flight).
inline void prefetch_bytes(const void* p, std::size_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (std::size_t at = 0; at < bytes; at += 64) simd::prefetch(c + at);
}

// Writes one finished row: out = o / l (zeros when the row saw no key), lse = ln(l) + m * ln2.
//   o: [dv] fp32 unnormalized, m: running max in the log2 domain, l: running sum
template <class TOut>
inline void finish_row(const float* o, float m, float l, int dv, TOut* out, float* lse) {
    using namespace simd;
    const float inv = l > 0 ? 1.0f / l : 0.0f;
    const vf vinv = set1(inv);
    int x = 0;
    for (; x + width <= dv; x += width) store(out + x, mul(load(o + x), vinv));
    if (x < dv) {
        const vmask tail = tail_mask(dv - x);
        store_masked(out + x, mul(load_masked(o + x, tail), vinv), tail);
    }
    if (lse) *lse = l > 0 ? (m + std::log2(l)) * ln2 : neg_inf;
}

// Split-KV partials: each chunk of a row's keys left (o unnormalized, m, l); combine them.
//   o_parts: chunk c's row at o_parts + c * part_stride; m_parts/l_parts at c * ml_stride
template <class TOut>
inline void merge_row(const float* o_parts, index_t part_stride, const float* m_parts, const float* l_parts,
                      index_t ml_stride, int chunks, int dv, float* tmp, TOut* out, float* lse) {
    using namespace simd;
    float m = neg_inf;
    for (int c = 0; c < chunks; ++c) m = std::max(m, m_parts[c * ml_stride]);
    const float m_use = m == neg_inf ? 0.0f : m;
    float l = 0;
    for (int x = 0; x < dv; x += width) store(tmp + x, zero());
    for (int c = 0; c < chunks; ++c) {
        const float lc = l_parts[c * ml_stride];
        if (!(lc > 0)) continue;
        const float w = std::exp2(m_parts[c * ml_stride] - m_use);
        l += w * lc;
        const vf vw = set1(w);
        const float* oc = o_parts + c * part_stride;
        for (int x = 0; x < dv; x += width) store(tmp + x, fmadd(load(oc + x), vw, load(tmp + x)));
    }
    finish_row(tmp, m, l, dv, out, lse);
}

}  // namespace kvshare::backend::cpu_detail
