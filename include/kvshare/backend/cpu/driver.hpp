#pragma once
// Work planning and execution shared by CPU prefill and decode.
//
// Work items are (sequence, K/V head, query tile[, key chunk]). A query tile holds all query heads of
// one K/V group for a run of tokens (wide engine: ~64 rows; narrow engine: <= 8 rows, e.g. one decode
// token of a GQA group). When there are too few items to keep every thread busy (decode of one
// sequence, MQA, long KV), each tile's keys are split into chunks; chunks leave unnormalized partials
// (o, max, sum) that a second pass merges by log-sum-exp. Items run largest first from an atomic
// counter (causal tiles near the end of a sequence cost the most).
//
// Everything the call needs (item list, partials, per-thread scratch) comes from one block of the
// calling thread's scratch arena, reserved before any work starts: the kernels never allocate, and
// an allocation failure throws before anything is written.
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "kvshare/backend/cpu/bf16_products.hpp"
#include "kvshare/backend/cpu/narrow_tile.hpp"
#include "kvshare/backend/cpu/scratch.hpp"
#include "kvshare/backend/cpu/thread_pool.hpp"
#include "kvshare/backend/cpu/wide_tile.hpp"
#include "kvshare/backend/cpu/work.hpp"
#include "kvshare/ops/options.hpp"

namespace kvshare::backend::cpu_detail {

// The query side of a call: q [total_q, H_q, d], out [total_q, H_q, d_v], lse [total_q, H_q] (optional).
template <class TQ, class TOut>
struct query_side {
    const TQ* q;
    index_t q_token, q_head;
    TOut* out;
    index_t out_token, out_head;
    float* lse;
    index_t lse_token, lse_head;
    const std::int32_t* offsets;   // [batch + 1], host
};

struct head_shape {
    int q_heads, kv_heads, head_dim, value_head_dim;
    int group() const { return q_heads / kv_heads; }
};

struct work_item {
    std::int32_t b, h, heads;            // sequence, first K/V head, K/V heads (narrow items: a block)
    std::int32_t first, tokens;          // query tokens [first, first + tokens)
    index_t k0, k1;                      // keys of this item
    std::int64_t cost;
    std::int32_t slot;                   // -1: writes the output; else partial slot (split KV)
    bool narrow;
};

struct merge_group {
    std::int32_t b, h, heads, first, tokens;
    std::int32_t slot0, chunks;
};

// Runs attention for every query of every sequence. KvSource: length(b) -> keys of sequence b,
// rows(b, h) -> kv_rows<TKV> of sequence b, K/V head h.
template <class TQ, class TKV, class TOut, class KvSource>
void run_attention(const head_shape& heads, const query_side<TQ, TOut>& qs, int batch, const KvSource& kv,
                   const attention_options& options, const execution<host_memory>& exec) {
    using wide = wide_engine<TQ, TKV>;
    using narrow = narrow_engine<TQ, TKV>;
    const int group = heads.group(), d = heads.head_dim, dv = heads.value_head_dim;
    const int dvp = round_up(dv, simd::width);
    const int threads = thread_pool::resolve(exec.threads);
    const bool pairs = wide::dot_capable && want_bf16_pairs(exec.bf16);   // times the CPU only for bf16 operands

    // Tiles: narrow when all of a sequence's query rows of one K/V group fit 8 rows; narrow tiles
    // cover a block of K/V heads (read token by token in address order), wide tiles one K/V head.
    const int wide_tokens = std::max(1, wide::target_rows / group);
    auto for_each_tile = [&](auto&& f) {
        for (int b = 0; b < batch; ++b) {
            const int q_len = qs.offsets[b + 1] - qs.offsets[b];
            if (q_len <= 0) continue;
            const index_t kv_len = kv.length(b);
            const bool is_narrow = static_cast<index_t>(q_len) * group <= narrow::max_rows;
            const int step = is_narrow ? q_len : wide_tokens;
            const int head_step = is_narrow ? narrow::heads_per_item(q_len * group, d, dv, heads.kv_heads) : 1;
            for (int h = 0; h < heads.kv_heads; h += head_step)
                for (int first = 0; first < q_len; first += step) {
                    const int tokens = std::min(step, q_len - first);
                    const int nh = std::min(head_step, heads.kv_heads - h);
                    const key_range a = visible_keys(first, q_len, kv_len, options);
                    const key_range z = visible_keys(first + tokens - 1, q_len, kv_len, options);
                    f(b, h, nh, first, tokens, std::min(a.begin, z.begin), std::max(a.end, z.end), is_narrow);
                }
        }
    };

    // Pass 1: count tiles, size the largest, decide the key split.
    int tiles = 0, max_wide_rows = 1, max_narrow_state = 1, max_slot_rows = 1;
    for_each_tile([&](int, int, int nh, int, int tokens, index_t, index_t, bool is_narrow) {
        ++tiles;
        const int rows = tokens * group;
        if (is_narrow)
            max_narrow_state = std::max(max_narrow_state, nh * narrow::padded_rows(rows));
        else
            max_wide_rows = std::max(max_wide_rows, rows);
        max_slot_rows = std::max(max_slot_rows, nh * rows);
    });
    if (tiles == 0) return;
    constexpr index_t min_chunk = 512;
    int split = 1;
    if (threads > 1 && tiles < 4 * threads) split = (4 * threads + tiles - 1) / tiles;
    auto chunks_of = [&](index_t keys) {
        if (split == 1 || keys <= min_chunk) return 1;
        return static_cast<int>(std::min<index_t>(split, (keys + min_chunk - 1) / min_chunk));
    };
    int items = 0, groups = 0, slots = 0;
    for_each_tile([&](int, int, int, int, int, index_t kb, index_t ke, bool) {
        const int c = chunks_of(ke - kb);
        items += c;
        if (c > 1) {
            ++groups;
            slots += c;
        }
    });

    // Many query tiles per (sequence, K/V head) (prefill): pack each V (and K on the fp32 product
    // path) once per call, in a pre-pass, into contiguous rows (fp32) or row pairs (bf16 path), instead
    // of reading them strided (a row per 4 KiB page: L1 set conflicts) or re-packing them once per
    // query tile.
    bool prepack = false;
    for (int b = 0; b < batch && !prepack; ++b)
        prepack = qs.offsets[b + 1] - qs.offsets[b] >= 4 * wide_tokens && kv.length(b) >= 2 * wide::tile_keys;
    index_t packed_total = 0;
    if (prepack)
        for (int b = 0; b < batch; ++b) packed_total += wide::packed_words(kv.length(b), d, dv, pairs) * heads.kv_heads;

    // One block: items, groups, partials, packed V (and K), per-thread scratch.
    const int workers = std::max(1, std::min(threads, items));
    const std::size_t wide_bytes = wide::bytes(max_wide_rows, d, dv);
    const std::size_t narrow_bytes = narrow::bytes(max_narrow_state, d, dv);
    const std::size_t thread_bytes = (wide_bytes + narrow_bytes + dvp * sizeof(float) + 63) / 64 * 64;
    const index_t slot_floats = static_cast<index_t>(max_slot_rows) * (dvp + 2);
    scratch_layout plan;
    plan.take<work_item>(items);
    plan.take<merge_group>(groups);
    plan.take<float>(static_cast<std::size_t>(slots) * slot_floats);
    plan.take<std::uint32_t>(packed_total);
    plan.take<index_t>(prepack ? batch : 0);
    plan.take<std::byte>(thread_bytes * workers);
    scratch_layout carve(scratch_arena::local().reserve(plan.bytes()));
    work_item* item = carve.take<work_item>(items);
    merge_group* merge = carve.take<merge_group>(groups);
    float* partials = carve.take<float>(static_cast<std::size_t>(slots) * slot_floats);
    std::uint32_t* packed_v = carve.take<std::uint32_t>(packed_total);
    index_t* packed_at = carve.take<index_t>(prepack ? batch : 0);
    std::byte* thread_scratch = carve.take<std::byte>(thread_bytes * workers);
    auto packed_of = [&](int b, int h) -> std::uint32_t* {
        if (!prepack) return nullptr;
        return packed_v + packed_at[b] + h * wide::packed_words(kv.length(b), d, dv, pairs);
    };
    if (prepack) {
        index_t at = 0;
        for (int b = 0; b < batch; ++b) {
            packed_at[b] = at;
            at += wide::packed_words(kv.length(b), d, dv, pairs) * heads.kv_heads;
        }
        std::atomic<int> next_pack{0};
        const int jobs = batch * heads.kv_heads;
        thread_pool::global().run(std::max(1, std::min(threads, jobs)), [&](int) {
            for (int j = next_pack.fetch_add(1); j < jobs; j = next_pack.fetch_add(1)) {
                const int b = j / heads.kv_heads, h = j % heads.kv_heads;
                wide::pack_sequence(kv.rows(b, h), kv.length(b), d, dv, pairs, packed_of(b, h));
            }
        });
    }

    // Pass 2: fill the items. Cost ~ rows computed x keys visited.
    {
        int i = 0, g = 0, slot = 0;
        for_each_tile([&](int b, int h, int nh, int first, int tokens, index_t kb, index_t ke, bool is_narrow) {
            const int c = chunks_of(ke - kb);
            const std::int64_t rows =
                is_narrow ? nh * (tokens * group + 2) : round_up(tokens * group, wide::row_align);
            if (c == 1) {
                item[i++] = {b, h, nh, first, tokens, kb, ke, rows * std::max<index_t>(ke - kb, 1), -1, is_narrow};
                return;
            }
            merge[g++] = {b, h, nh, first, tokens, slot, c};
            const index_t per = (ke - kb + c - 1) / c;
            const index_t chunk = (per + wide::tile_keys - 1) / wide::tile_keys * wide::tile_keys;
            for (int k = 0; k < c; ++k) {
                const index_t k0 = kb + k * chunk, k1 = std::min(ke, k0 + chunk);
                item[i++] = {b, h, nh, first, tokens, k0, k1, rows * std::max<index_t>(k1 - k0, 1), slot++, is_narrow};
            }
        });
    }
    // Largest first within each (sequence, K/V head), the heads one after the other: the threads
    // work on neighbouring query tiles of one head, whose K/V then stay in L2/L3.
    std::sort(item, item + items, [](const work_item& x, const work_item& y) {
        if (x.b != y.b || x.h != y.h) return x.b != y.b ? x.b < y.b : x.h < y.h;
        return x.cost > y.cost;
    });

    auto rows_of = [&](std::int32_t b, std::int32_t h, std::int32_t first, std::int32_t tokens) {
        const index_t row = qs.offsets[b] + first;
        const index_t head = static_cast<index_t>(h) * group;
        return query_rows<TQ, TOut>{qs.q + row * qs.q_token + head * qs.q_head,
                                    qs.q_token,
                                    qs.q_head,
                                    qs.out + row * qs.out_token + head * qs.out_head,
                                    qs.out_token,
                                    qs.out_head,
                                    qs.lse ? qs.lse + row * qs.lse_token + head * qs.lse_head : nullptr,
                                    qs.lse_token,
                                    qs.lse_head,
                                    tokens,
                                    group,
                                    first,
                                    qs.offsets[b + 1] - qs.offsets[b],
                                    static_cast<int>(kv.length(b))};
    };
    auto slot_o = [&](int slot) { return partials + static_cast<index_t>(slot) * slot_floats; };
    auto slot_m = [&](int slot) { return slot_o(slot) + static_cast<index_t>(max_slot_rows) * dvp; };
    auto slot_l = [&](int slot) { return slot_m(slot) + max_slot_rows; };

    std::atomic<int> next{0};
    auto work = [&](int tid) {
        std::byte* mine = thread_scratch + thread_bytes * tid;
        wide wide_tile(mine, max_wide_rows, d, dv, options, pairs);
        narrow narrow_tile(mine + wide_bytes, max_narrow_state, d, dv, options);
        for (int i = next.fetch_add(1, std::memory_order_relaxed); i < items;
             i = next.fetch_add(1, std::memory_order_relaxed)) {
            const work_item& it = item[i];
            const auto rows = rows_of(it.b, it.h, it.first, it.tokens);
            const kv_rows<TKV> keys = kv.rows(it.b, it.h);
            auto go = [&](auto& engine) {
                engine.run(keys, it.k0, it.k1);
                if (it.slot < 0)
                    engine.finish(rows);
                else
                    engine.export_partial(slot_o(it.slot), slot_m(it.slot), slot_l(it.slot));
            };
            if (it.narrow) {
                narrow_tile.begin(rows, it.heads);
                go(narrow_tile);
            } else {
                wide_tile.begin(rows);
                wide_tile.set_packed_kv(packed_of(it.b, it.h), kv.length(it.b));
                go(wide_tile);
            }
        }
    };
    thread_pool::global().run(workers, work);
    if (groups == 0) return;

    // Merge the split-KV partials (slot layout: o [heads * rows, dvp], m [heads * rows], l [heads * rows]).
    std::atomic<int> next_group{0};
    auto combine = [&](int tid) {
        float* tmp = reinterpret_cast<float*>(thread_scratch + thread_bytes * tid + wide_bytes + narrow_bytes);
        for (int g = next_group.fetch_add(1, std::memory_order_relaxed); g < groups;
             g = next_group.fetch_add(1, std::memory_order_relaxed)) {
            const merge_group& mg = merge[g];
            const auto rows = rows_of(mg.b, mg.h, mg.first, mg.tokens);
            const int per_head = rows.rows();
            for (int i = 0; i < mg.heads; ++i) {
                const auto head = rows.shifted(i);
                for (int r = 0; r < per_head; ++r) {
                    const index_t at = static_cast<index_t>(i) * per_head + r;
                    merge_row(slot_o(mg.slot0) + at * dvp, slot_floats, slot_m(mg.slot0) + at, slot_l(mg.slot0) + at,
                              slot_floats, mg.chunks, dv, tmp, head.out_row(r), head.lse_at(r));
                }
            }
        }
    };
    thread_pool::global().run(std::max(1, std::min(threads, groups)), combine);
}

}  // namespace kvshare::backend::cpu_detail
