#pragma once
// The narrow tile engine: attention for at most 8 query rows per K/V head (decode with
// group_size * q_len <= 8, and short prefill sequences), for a block of consecutive K/V heads at once.
// A GEMM with 1..8 rows would waste most of a vector whose lanes are query rows, so here the lanes
// run along the head dimension instead:
//
//   per K/V tile of tokens (all K/V heads of the item):
//     logits: per block of KK keys, per head: acc[r][k] = q_r * k_j elementwise over d for r < R rows
//             (R x KK independent FMA chains; each K row is read once for all rows of its group),
//             then one transposing reduction tree per `width` accumulators -> s[head][r][j]
//     per head: online softmax along the key lanes
//     values: per block of value_keys keys, per head: O = alpha O + P V (pv micro-kernel)
//
// Tiles walk the tokens and cover every head of the item (all K/V heads of a sequence when they fit),
// and inside a tile the heads are the inner loop, so a [tokens, H_kv, d] cache is read a few
// consecutive tokens at a time, each token's rows front to back: the access pattern the hardware
// prefetcher follows (the head-by-head order before it read one strided row per key). Each K and V
// row is also prefetched in software ~16 KiB ahead in its own stream (same head, a few tokens later).
// bf16 K/V are widened to fp32 on load. docs/cpu_backend.md has what was measured.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kvshare/backend/cpu/microkernels.hpp"
#include "kvshare/backend/cpu/scratch.hpp"
#include "kvshare/backend/cpu/simd.hpp"
#include "kvshare/backend/cpu/work.hpp"

namespace kvshare::backend::cpu_detail {

template <class TQ, class TKV>
class narrow_engine {
public:
    static constexpr int max_rows = 8;   // per K/V head
    static constexpr int width = simd::width;
    static constexpr int tile_keys = width >= 4 ? 4 * width : 16;     // at most, per tile
    static constexpr int min_tile_keys = width >= 4 ? width : 16;      // at least (one reduction tree)
    static constexpr int pv_c = width >= 8 ? 3 : 1;
    static constexpr std::size_t state_budget = 96 * 1024;   // bytes of per-head state per item
    static constexpr std::size_t tile_budget = 128 * 1024;   // bytes of K+V per tile (all heads of the item)

    // Rows kept per head: rows rounded up to 1, 2, 4 or 8 (the row count is a template parameter inside).
    static int padded_rows(int rows) { return rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8; }

    // K/V heads one item handles: its per-head state fits state_budget, and a tile of the shortest
    // length still fits tile_budget (this tile and the next one stay in L2).
    static int heads_per_item(int rows, int d, int dv, int kv_heads) {
        const std::size_t per_head =
            sizeof(float) * padded_rows(rows) * (round_up(d, width) + round_up(dv, width) + 3);
        const std::size_t per_token = sizeof(TKV) * (d + dv);
        const std::size_t by_state = state_budget / per_head, by_tile = tile_budget / (per_token * min_tile_keys);
        return static_cast<int>(std::clamp<std::size_t>(std::min(by_state, by_tile), 1, kv_heads));
    }

    // Keys per tile for an item of `heads` K/V heads: as many as fit tile_budget, a multiple of width.
    int tile_for(int heads) const {
        const std::size_t per_token = sizeof(TKV) * (d_ + dv_) * heads;
        const int keys = static_cast<int>(std::clamp<std::size_t>(tile_budget / per_token, min_tile_keys, tile_keys));
        return keys / min_tile_keys * min_tile_keys;
    }

    // Scratch for items of up to state_rows = heads * padded_rows rows.
    static std::size_t bytes(int state_rows, int d, int dv) {
        scratch_layout layout;
        carve(layout, state_rows, d, dv);
        return layout.bytes();
    }

    narrow_engine(std::byte* scratch, int state_rows, int d, int dv, const attention_options& options)
        : d_(d), dv_(dv), dp_(round_up(d, width)), dvp_(round_up(dv, width)), options_(options),
          rule_(logit_rule::from(options, d)) {
        scratch_layout layout(scratch);
        b_ = carve(layout, state_rows, d, dv);
    }

    // rows: the query rows of the first K/V head; the item covers heads [h, h + heads).
    template <class TOut>
    void begin(const query_rows<TQ, TOut>& rows, int heads) {
        rows_ = rows.rows();
        rt_ = padded_rows(rows_);
        heads_ = heads;
        tile_ = tile_for(heads);
        const index_t state = static_cast<index_t>(heads_) * rt_;
        std::fill(b_.qs, b_.qs + state * dp_, 0.0f);
        for (int i = 0; i < heads_; ++i) {
            const auto head = rows.shifted(i);
            for (int r = 0; r < rows_; ++r) {
                const TQ* q = head.q_row(r);
                float* dst = b_.qs + (static_cast<index_t>(i) * rt_ + r) * dp_;
                for (int x = 0; x < d_; ++x) dst[x] = to_float(q[x]);
            }
        }
        std::fill(b_.o, b_.o + state * dvp_, 0.0f);
        std::fill(b_.m, b_.m + state, neg_inf);
        std::fill(b_.l, b_.l + state, 0.0f);
        any_begin_ = INT64_MAX;
        any_end_ = 0;
        for (int r = 0; r < rt_; ++r) {
            const key_range keys = rows.keys(r < rows_ ? r : 0, options_);
            b_.kb[r] = keys.begin;
            b_.ke[r] = std::max(keys.end, keys.begin);
            if (!keys.empty()) {
                any_begin_ = std::min<index_t>(any_begin_, keys.begin);
                any_end_ = std::max<index_t>(any_end_, keys.end);
            }
        }
    }

    void run(const kv_rows<TKV>& kv, index_t k0, index_t k1) {
        switch (rt_) {
            case 1: run_rows<1>(kv, k0, k1); break;
            case 2: run_rows<2>(kv, k0, k1); break;
            case 4: run_rows<4>(kv, k0, k1); break;
            default: run_rows<8>(kv, k0, k1); break;
        }
    }

    template <class TOut>
    void finish(const query_rows<TQ, TOut>& rows) const {
        for (int i = 0; i < heads_; ++i) {
            const auto head = rows.shifted(i);
            for (int r = 0; r < rows_; ++r) {
                const index_t at = static_cast<index_t>(i) * rt_ + r;
                finish_row(b_.o + at * dvp_, b_.m[at], b_.l[at], dv_, head.out_row(r), head.lse_at(r));
            }
        }
    }

    // Split-KV partials, head by head: o [heads * rows, dvp], m and l [heads * rows].
    void export_partial(float* o, float* m, float* l) const {
        for (int i = 0; i < heads_; ++i)
            for (int r = 0; r < rows_; ++r) {
                const index_t at = static_cast<index_t>(i) * rt_ + r, to = static_cast<index_t>(i) * rows_ + r;
                std::memcpy(o + to * dvp_, b_.o + at * dvp_, sizeof(float) * dvp_);
                m[to] = b_.m[at];
                l[to] = b_.l[at];
            }
    }

private:
    struct buffers {
        float* qs;             // [state_rows, dp] queries (head-major), zero padded
        float* o;              // [state_rows, dvp]
        float *m, *l;          // [state_rows]
        float* alpha;          // [state_rows] O rescale factors of this tile
        float* ones;           // [max_rows] 1.0f: the alpha of a tile's later value blocks
        float* s;              // [state_rows, tile_keys] logits, then P
        index_t *kb, *ke;      // [max_rows] visible keys per row (the same for every head)
        const TKV** kps[2];    // [tile_keys] key / value rows of the first head, two tiles in turn
        const TKV** vps[2];
        TKV* zero_row;         // [dp] zeros: the key row of the lanes beyond the tile
    };

    static buffers carve(scratch_layout& layout, int state_rows, int d, int dv) {
        const std::size_t dp = round_up(d, width), dvp = round_up(dv, width), sr = std::max(state_rows, 1);
        buffers b{};
        b.qs = layout.take<float>(sr * dp);
        b.o = layout.take<float>(sr * dvp);
        b.m = layout.take<float>(sr);
        b.l = layout.take<float>(sr);
        b.alpha = layout.take<float>(sr);
        b.ones = layout.take<float>(max_rows);
        if (b.ones) std::fill(b.ones, b.ones + max_rows, 1.0f);
        b.s = layout.take<float>(sr * tile_keys);
        b.kb = layout.take<index_t>(max_rows);
        b.ke = layout.take<index_t>(max_rows);
        for (int i = 0; i < 2; ++i) {
            b.kps[i] = layout.take<const TKV*>(tile_keys);
            b.vps[i] = layout.take<const TKV*>(tile_keys);
        }
        b.zero_row = layout.take<TKV>(dp);
        if (b.zero_row) std::fill(b.zero_row, b.zero_row + dp, TKV(0.0f));
        return b;
    }

    // Row pointers of the first head: this tile's, and the next tile's (the software prefetch reads them).
    struct tile_rows {
        const TKV* const* k;
        const TKV* const* v;
        int n;
        const TKV* const* next_k;
        const TKV* const* next_v;
        int next_n;
    };

    template <int R>
    void run_rows(const kv_rows<TKV>& kv, index_t k0, index_t k1) {
        k0 = std::max(k0, any_begin_);
        k1 = std::min(k1, any_end_);
        int cur = 0;
        int n = static_cast<int>(std::min<index_t>(tile_, k1 - k0));
        if (k0 < k1) kv.fill(k0, n, b_.kps[0], b_.vps[0]);
        for (index_t t0 = k0; t0 < k1; cur ^= 1) {
            const index_t next = t0 + n;
            const int next_n = next < k1 ? static_cast<int>(std::min<index_t>(tile_, k1 - next)) : 0;
            if (next_n > 0) kv.fill(next, next_n, b_.kps[cur ^ 1], b_.vps[cur ^ 1]);
            const tile_rows rows{b_.kps[cur], b_.vps[cur], n, b_.kps[cur ^ 1], b_.vps[cur ^ 1], next_n};
            logits<R>(rows, kv.k_head);
            for (int i = 0; i < heads_; ++i) {
                const index_t state = static_cast<index_t>(i) * rt_;
                softmax<R>(t0, n, b_.s + state * tile_keys, b_.m + state, b_.l + state, b_.alpha + state);
            }
            values<R>(rows, kv.v_head);
            t0 = next;
            n = next_n;
        }
    }

    // Software prefetch (into L2): as the logits read the K row of (token j, head i), the K row of
    // (token j + ahead, head i) is prefetched, and likewise for V along the values loop, `ahead` tokens
    // being ~prefetch_distance bytes of the item's heads. Each stream so runs a fixed distance ahead at
    // the rate of its demand loads, across tile edges. Measured on the Xeon (docs/cpu_backend.md): on a
    // compute-laden loop the hardware prefetcher alone keeps too few misses in flight.
    static constexpr std::size_t prefetch_distance = 16 * 1024;

    // Tokens ahead for rows of `row_elements` per head, and the row `ahead` tokens past key j of this
    // tile (from the next tile past its end; null past both).
    int tokens_ahead(int row_elements) const {
        return std::max<int>(1, static_cast<int>(prefetch_distance / (sizeof(TKV) * row_elements * heads_)));
    }
    static const TKV* row_ahead(const TKV* const* rows, int n, const TKV* const* next, int next_n, int j) {
        return j < n ? rows[j] : j - n < next_n ? next[j - n] : nullptr;
    }

    // Keys per block of the logits loop: R x KK accumulator vectors, max(width, R) of them, which
    // one reduce_transpose per `width` of them turns into R x KK logits.
    template <int R>
    static constexpr int logit_keys = R >= width ? 1 : width / R;

    // s[head][r][j] = q_r . k_j for every head of the item, j < n rounded up to width (keys past n
    // read zero_row). Keys in blocks of KK, heads inner: the item's K rows of KK consecutive tokens
    // are read front to back (R x KK independent FMA chains hide the FMA latency), so the hardware
    // prefetcher sees KK sequential streams rather than one strided row per key.
    template <int R>
    void logits(const tile_rows& rows, index_t k_head) {
        using namespace simd;
        const int n = rows.n;
        constexpr int KK = logit_keys<R>;
        constexpr int A = R * KK;   // accumulators: a multiple of width
        const int full = d_ / width * width;
        const vmask tail = tail_mask(d_ - full);
        const int padded = round_up(n, width);
        const int ahead = tokens_ahead(d_);
        for (int j0 = 0; j0 < padded; j0 += KK) {
            for (int i = 0; i < heads_; ++i) {
                const float* qs = b_.qs + static_cast<index_t>(i) * rt_ * dp_;
                const TKV* kr[KK];
                KVSHARE_UNROLL for (int k = 0; k < KK; ++k) {
                    const int j = j0 + k;
                    kr[k] = j < n ? rows.k[j] + i * k_head : b_.zero_row;
                    if (j < n) {
                        if (const TKV* a = row_ahead(rows.k, n, rows.next_k, rows.next_n, j + ahead))
                            prefetch_bytes(a + i * k_head, sizeof(TKV) * d_);
                    }
                }
                vf acc[A];
                KVSHARE_UNROLL for (int a = 0; a < A; ++a) acc[a] = zero();
                for (int x = 0; x < full; x += width) {
                    vf kk[KK];
                    KVSHARE_UNROLL for (int k = 0; k < KK; ++k) {
                        kk[k] = load(kr[k] + x);
                        if constexpr (R > 1) KVSHARE_IN_REGISTER(kk[k]);   // one load per key, not per row
                    }
                    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
                        vf qq = load(qs + r * dp_ + x);
                        if constexpr (KK > 1) KVSHARE_IN_REGISTER(qq);
                        KVSHARE_UNROLL for (int k = 0; k < KK; ++k) acc[r * KK + k] = fmadd(qq, kk[k], acc[r * KK + k]);
                    }
                }
                if (full < d_) {
                    vf kk[KK];
                    KVSHARE_UNROLL for (int k = 0; k < KK; ++k) kk[k] = load_masked(kr[k] + full, tail);
                    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
                        const vf qq = load(qs + r * dp_ + full);
                        KVSHARE_UNROLL for (int k = 0; k < KK; ++k) acc[r * KK + k] = fmadd(qq, kk[k], acc[r * KK + k]);
                    }
                }
                // acc[r * KK + k] -> s[i][r][j0 + k], width accumulators per reduction
                float* s = b_.s + static_cast<index_t>(i) * rt_ * tile_keys + j0;
                KVSHARE_UNROLL for (int g = 0; g < A; g += width) {
                    alignas(64) float sums[width];
                    store(sums, reduce_transpose(acc + g));
                    KVSHARE_UNROLL for (int l = 0; l < width; ++l) s[(g + l) / KK * tile_keys + (g + l) % KK] = sums[l];
                }
            }
        }
    }

    // Online softmax along the key lanes of each row of one head. s: [R, tile_keys] logits -> P;
    // m, l: the head's running max and sum; alpha: the head's rescale factors of O.
    template <int R>
    void softmax(index_t t0, int n, float* s_head, float* m, float* l, float* alpha_out) {
        using namespace simd;
        const int vecs = (n + width - 1) / width;
        const float factor = rule_.factor();
        for (int r = 0; r < R; ++r) {
            float* s = s_head + r * tile_keys;
            const index_t end = std::min<index_t>(b_.ke[r], t0 + n);
            const bool masked = b_.kb[r] > t0 || end < t0 + static_cast<index_t>(vecs) * width;
            // visible lanes: [kb, ke) relative to t0, clamped to the tile
            const vi kb = set1_i(static_cast<std::int32_t>(std::clamp<index_t>(b_.kb[r] - t0, 0, tile_keys)));
            const vi ke = set1_i(static_cast<std::int32_t>(std::clamp<index_t>(end - t0, 0, tile_keys)));
            vf mx = set1(neg_inf);
            for (int v = 0; v < vecs; ++v) {
                vf u = rule_.transform(load(s + v * width));
                if (masked) u = select(in_range(add_i(iota(), set1_i(v * width)), kb, ke), u, set1(neg_inf));
                if (masked || rule_.softcap) store(s + v * width, u);
                mx = max(mx, u);
            }
            const float m_old = m[r];
            const float m_new = std::max(m_old, reduce_max(mx) * factor);
            const float m_use = m_new == neg_inf ? 0.0f : m_new;
            const float alpha = std::exp2(m_old - m_use);
            const vf vfactor = set1(factor), neg_m = set1(-m_use);
            vf sum = zero();
            for (int v = 0; v < vecs; ++v) {
                const vf p = exp2(fmadd(load(s + v * width), vfactor, neg_m));
                sum = add(sum, p);
                store(s + v * width, p);
            }
            m[r] = m_new;
            alpha_out[r] = alpha;
            l[r] = l[r] * alpha + reduce_add(sum);
        }
    }

    template <int R, int C>
    void values_block(const float* p, int n, const TKV* const* vp, int dv0, float* o, const float* alpha) {
        const int last_start = dv0 + (C - 1) * width;
        const simd::vmask last = simd::tail_mask(std::min(width, dv_ - last_start));
        pv_f32<R, C, TKV>(p, tile_keys, 1, n, vp, dv0, last, o + dv0, dvp_, alpha);
    }

    // Keys per block of the values loop (heads inner, as in logits).
    static constexpr int value_keys = 8;

    // o[head] = alpha[head] o[head] + P[head] V[head] for every head of the item: blocks of
    // value_keys keys, heads inner; alpha applies with the first block only.
    template <int R>
    void values(const tile_rows& rows, index_t v_head) {
        const int n = rows.n;
        const int vecs = dvp_ / width;
        const int ahead = tokens_ahead(dv_);
        for (int j0 = 0; j0 < n; j0 += value_keys) {
            const int nb = std::min(value_keys, n - j0);
            for (int i = 0; i < heads_; ++i) {
                const index_t state = static_cast<index_t>(i) * rt_;
                const TKV* vr[value_keys];
                for (int j = 0; j < nb; ++j) {
                    vr[j] = rows.v[j0 + j] + i * v_head;
                    if (const TKV* a = row_ahead(rows.v, n, rows.next_v, rows.next_n, j0 + j + ahead))
                        prefetch_bytes(a + i * v_head, sizeof(TKV) * dv_);
                }
                const float* p = b_.s + state * tile_keys + j0;
                const float* alpha = j0 == 0 ? b_.alpha + state : b_.ones;
                float* o = b_.o + state * dvp_;
                int c = 0;
                for (; c + pv_c <= vecs; c += pv_c) values_block<R, pv_c>(p, nb, vr, c * width, o, alpha);
                const int rest = vecs - c;
                if constexpr (pv_c > 1) {
                    if (rest == 1) values_block<R, 1>(p, nb, vr, c * width, o, alpha);
                }
                if constexpr (pv_c > 2) {
                    if (rest == 2) values_block<R, (pv_c > 2 ? 2 : 1)>(p, nb, vr, c * width, o, alpha);
                }
            }
        }
    }

    int d_, dv_, dp_, dvp_;
    attention_options options_;
    logit_rule rule_;
    buffers b_{};
    int rows_ = 0, rt_ = 1, heads_ = 1, tile_ = tile_keys;
    index_t any_begin_ = 0, any_end_ = 0;
};

}  // namespace kvshare::backend::cpu_detail
