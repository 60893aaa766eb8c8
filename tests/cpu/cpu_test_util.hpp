#pragma once
// Shared helpers of the CPU backend tests: fresh random inputs, ragged batches, the error measures,
// and the "naive low precision" computation that bounds the bf16 error (FlashAttention's rule: the
// fast kernel's error against an exact reference is at most 2x the error of the same math done
// naively in low precision).
//
// Error measure (every comparison): rel = max_i |got_i - ref_i| / max_i |ref_i| over all outputs of
// the call, against the double-precision reference backend.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "kvshare/backend/cpu/attention.hpp"
#include "kvshare/backend/reference/attention.hpp"
#include "kvshare/core/heads.hpp"
#include "kvshare/ops/decode.hpp"
#include "kvshare/ops/prefill.hpp"

namespace kvtest {

using kvshare::index_t;
using bf16 = Eigen::bfloat16;

// Sanitizer builds (ASan/UBSan) run a smaller list of shapes.
#if defined(__SANITIZE_ADDRESS__) || defined(KVSHARE_TEST_SMALL)
inline constexpr bool small_run = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool small_run = true;
#else
inline constexpr bool small_run = false;
#endif
#else
inline constexpr bool small_run = false;
#endif

inline unsigned fresh_seed() {
    std::random_device device;
    return device();
}

inline float round_bf16(float x) { return static_cast<float>(bf16(x)); }
template <class T>
float as_float(T x) {
    return static_cast<float>(x);
}

// Normal(0, 1) values, never exactly zero.
template <class T>
std::vector<T> random_values(std::mt19937& gen, std::size_t count, float scale = 1.0f) {
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<T> values(count);
    for (auto& x : values) {
        float f = normal(gen);
        if (static_cast<float>(T(f)) == 0.0f) f = 0.5f * scale;
        x = T(f);
    }
    return values;
}

// One set of options with a name for failure messages.
struct named_options {
    std::string name;
    kvshare::attention_options options;
};

inline std::vector<named_options> option_sets() {
    std::vector<named_options> sets;
    sets.push_back({"no mask", {}});
    sets.push_back({"causal", {0.0f, true, -1, 0.0f}});
    sets.push_back({"causal, window 5", {0.0f, true, 5, 0.0f}});
    sets.push_back({"window 20 (not causal)", {0.0f, false, 20, 0.0f}});
    sets.push_back({"causal, scale 0.5, softcap 3", {0.5f, true, -1, 3.0f}});
    sets.push_back({"scale 0.3, softcap 10, causal, window 0", {0.3f, true, 0, 10.0f}});
    return sets;
}

// A ragged batch: per-sequence query and key lengths.
struct batch_shape {
    std::vector<std::int32_t> q_len, kv_len;
    std::vector<std::int32_t> q_offsets() const { return offsets(q_len); }
    std::vector<std::int32_t> kv_offsets() const { return offsets(kv_len); }
    static std::vector<std::int32_t> offsets(const std::vector<std::int32_t>& lengths) {
        std::vector<std::int32_t> o(lengths.size() + 1, 0);
        for (std::size_t i = 0; i < lengths.size(); ++i) o[i + 1] = o[i] + lengths[i];
        return o;
    }
    std::string describe() const {
        std::string s;
        for (std::size_t i = 0; i < q_len.size(); ++i)
            s += "(" + std::to_string(q_len[i]) + "," + std::to_string(kv_len[i]) + ") ";
        return s;
    }
};

struct error_stats {
    double max_err = 0, max_ref = 0;
    bool finite = true;
    double rel() const { return max_ref > 0 ? max_err / max_ref : max_err; }
};

template <class A, class B>
error_stats compare(const std::vector<A>& got, const std::vector<B>& ref) {
    error_stats e;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double g = as_float(got[i]), r = as_float(ref[i]);
        if (!std::isfinite(g)) e.finite = false;
        e.max_err = std::max(e.max_err, std::abs(g - r));
        e.max_ref = std::max(e.max_ref, std::abs(r));
    }
    return e;
}

// LSE: -inf exactly where the reference has -inf (fully masked rows), else within tol (relative to
// max(1, |lse|)). Returns the number of bad entries.
inline int lse_mismatches(const std::vector<float>& got, const std::vector<float>& ref, double tol) {
    int bad = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (std::isinf(ref[i]) && ref[i] < 0) {
            bad += !(std::isinf(got[i]) && got[i] < 0);
        } else {
            bad += !(std::abs(double(got[i]) - ref[i]) <= tol * std::max(1.0, std::abs(double(ref[i]))));
        }
    }
    return bad;
}

// Rows with LSE = -inf in the reference must be exactly zero in `out` ([rows, H_q, dv] vs lse [rows, H_q]).
template <class T>
int masked_rows_not_zero(const std::vector<T>& out, const std::vector<float>& ref_lse, int dv) {
    int bad = 0;
    for (std::size_t row = 0; row < ref_lse.size(); ++row) {
        if (!(std::isinf(ref_lse[row]) && ref_lse[row] < 0)) continue;
        for (int x = 0; x < dv; ++x) bad += as_float(out[row * dv + x]) != 0.0f;
    }
    return bad;
}

inline int count_masked(const std::vector<float>& ref_lse) {
    int n = 0;
    for (float x : ref_lse) n += std::isinf(x) && x < 0;
    return n;
}

// The naive low-precision computation of one query row (FlashAttention's baseline): logits and
// softmax in fp32 from the (already bf16) inputs, P rounded to bf16 before P·V, fp32 sums, output
// rounded to the output type.
template <class TOut, class Query, class Key, class Value>
void naive_low_precision_row(const Query& query, int d, int dv, kvshare::key_range keys, const Key& key,
                             const Value& value, const kvshare::attention_options& options, float* out) {
    const float scale = options.scale > 0 ? options.scale : 1.0f / std::sqrt(static_cast<float>(d));
    if (keys.empty()) {
        std::fill(out, out + dv, 0.0f);
        return;
    }
    std::vector<float> p(keys.end - keys.begin);
    float m = -std::numeric_limits<float>::infinity();
    for (index_t j = keys.begin; j < keys.end; ++j) {
        float s = 0;
        for (int x = 0; x < d; ++x) s += query(x) * key(j, x);
        float logit = s * scale;
        if (options.softcap > 0) logit = options.softcap * std::tanh(logit / options.softcap);
        p[j - keys.begin] = logit;
        m = std::max(m, logit);
    }
    float l = 0;
    for (float& x : p) {
        x = std::exp(x - m);
        l += x;
        x = round_bf16(x);
    }
    for (int y = 0; y < dv; ++y) {
        float acc = 0;
        for (index_t j = keys.begin; j < keys.end; ++j) acc += p[j - keys.begin] * value(j, y);
        out[y] = as_float(TOut(acc / l));
    }
}

// Random prefill inputs for a head policy and a batch.
template <class H, class T>
struct prefill_inputs {
    batch_shape shape;
    std::vector<std::int32_t> q_off, kv_off;
    std::vector<T> q, k, v;
    index_t total_q, total_kv;

    prefill_inputs(std::mt19937& gen, batch_shape s) : shape(std::move(s)) {
        q_off = shape.q_offsets();
        kv_off = shape.kv_offsets();
        total_q = q_off.back();
        total_kv = kv_off.back();
        q = random_values<T>(gen, total_q * H::q_heads * H::head_dim);
        k = random_values<T>(gen, total_kv * H::kv_heads * H::head_dim);
        v = random_values<T>(gen, total_kv * H::kv_heads * H::value_head_dim);
    }
    kvshare::host_view<const T, 3> qv() const { return {q.data(), {total_q, H::q_heads, H::head_dim}}; }
    kvshare::host_view<const T, 3> kv_() const { return {k.data(), {total_kv, H::kv_heads, H::head_dim}}; }
    kvshare::host_view<const T, 3> vv() const { return {v.data(), {total_kv, H::kv_heads, H::value_head_dim}}; }
    auto q_offsets() const { return kvshare::host_offsets(q_off); }
    auto kv_offsets() const { return kvshare::host_offsets(kv_off); }
    index_t out_size() const { return total_q * H::q_heads * H::value_head_dim; }
    index_t lse_size() const { return total_q * H::q_heads; }

    // Runs backend B (cpu or reference) into out / lse.
    template <class Backend, class TOut>
    void run(const kvshare::attention_options& options, std::vector<TOut>& out, std::vector<float>& lse,
             int threads = 0, kvshare::bf16_products bf16 = kvshare::bf16_products::automatic) const {
        out.assign(out_size(), TOut(-7.0f));
        lse.assign(lse_size(), -7.0f);
        kvshare::prefill<H, Backend>(qv(), kv_(), vv(),
                                     kvshare::host_view<TOut, 3>(out.data(), {total_q, H::q_heads, H::value_head_dim}),
                                     q_offsets(), kv_offsets(), options,
                                     kvshare::host_view<float, 2>(lse.data(), {total_q, H::q_heads}),
                                     kvshare::execution<kvshare::host_memory>{threads, bf16});
    }

    template <class TOut>
    std::vector<float> naive_low_precision(const kvshare::attention_options& options) const {
        std::vector<float> out(out_size());
        constexpr int G = H::group_size, D = H::head_dim, DV = H::value_head_dim;
        for (std::size_t b = 0; b + 1 < q_off.size(); ++b) {
            const index_t q0 = q_off[b], q_len = q_off[b + 1] - q0, k0 = kv_off[b], kv_len = kv_off[b + 1] - k0;
            for (index_t i = 0; i < q_len; ++i)
                for (int h = 0; h < H::q_heads; ++h) {
                    const int hk = h / G;
                    const T* qr = q.data() + ((q0 + i) * H::q_heads + h) * D;
                    naive_low_precision_row<TOut>(
                        [&](int x) { return as_float(qr[x]); }, D, DV, kvshare::visible_keys(i, q_len, kv_len, options),
                        [&](index_t j, int x) { return as_float(k[((k0 + j) * H::kv_heads + hk) * D + x]); },
                        [&](index_t j, int x) { return as_float(v[((k0 + j) * H::kv_heads + hk) * DV + x]); },
                        options, out.data() + ((q0 + i) * H::q_heads + h) * DV);
                }
        }
        return out;
    }
};

// A KV cache for decode tests: the same tokens stored contiguous [batch, capacity, H_kv, d] and paged
// [pages, page_size, H_kv, d] with a shuffled page table (and unused pages in between).
template <class H, class TKV>
struct cache_inputs {
    std::vector<std::int32_t> lengths;
    int batch, capacity, page_size, pages_per_seq, pages;
    std::vector<TKV> k, v, k_paged, v_paged;
    std::vector<std::int32_t> table;

    cache_inputs(std::mt19937& gen, std::vector<std::int32_t> lens, int page = 16) : lengths(std::move(lens)) {
        constexpr int D = H::head_dim, DV = H::value_head_dim, HK = H::kv_heads;
        batch = static_cast<int>(lengths.size());
        capacity = 1;
        for (int len : lengths) capacity = std::max(capacity, len + 3);   // a little unused room
        page_size = page;
        pages_per_seq = (capacity + page_size - 1) / page_size;
        pages = batch * pages_per_seq + 3;
        k = random_values<TKV>(gen, static_cast<std::size_t>(batch) * capacity * HK * D);
        v = random_values<TKV>(gen, static_cast<std::size_t>(batch) * capacity * HK * DV);
        std::vector<std::int32_t> order(pages);
        for (int i = 0; i < pages; ++i) order[i] = i;
        std::shuffle(order.begin(), order.end(), gen);
        table.assign(static_cast<std::size_t>(batch) * pages_per_seq, 0);
        for (std::size_t i = 0; i < table.size(); ++i) table[i] = order[i];
        k_paged = random_values<TKV>(gen, static_cast<std::size_t>(pages) * page_size * HK * D);   // garbage elsewhere
        v_paged = random_values<TKV>(gen, static_cast<std::size_t>(pages) * page_size * HK * DV);
        for (int b = 0; b < batch; ++b)
            for (int t = 0; t < capacity; ++t) {
                const index_t page = table[b * pages_per_seq + t / page_size], row = t % page_size;
                for (int h = 0; h < HK; ++h) {
                    for (int x = 0; x < D; ++x)
                        k_paged[((page * page_size + row) * HK + h) * D + x] = k[((index_t(b) * capacity + t) * HK + h) * D + x];
                    for (int x = 0; x < DV; ++x)
                        v_paged[((page * page_size + row) * HK + h) * DV + x] =
                            v[((index_t(b) * capacity + t) * HK + h) * DV + x];
                }
            }
    }

    kvshare::kv_view<TKV, kvshare::host_memory> contiguous() const {
        constexpr int D = H::head_dim, DV = H::value_head_dim, HK = H::kv_heads;
        return {{k.data(), {batch, capacity, HK, D}},
                {v.data(), {batch, capacity, HK, DV}},
                0,
                {},
                lengths,
                {lengths.data(), {batch}}};
    }
    kvshare::kv_view<TKV, kvshare::host_memory> paged() const {
        constexpr int D = H::head_dim, DV = H::value_head_dim, HK = H::kv_heads;
        return {{k_paged.data(), {pages, page_size, HK, D}},
                {v_paged.data(), {pages, page_size, HK, DV}},
                page_size,
                {table.data(), {batch, pages_per_seq}},
                lengths,
                {lengths.data(), {batch}}};
    }
    float key(int b, index_t t, int h, int x) const {
        return as_float(k[((index_t(b) * capacity + t) * H::kv_heads + h) * H::head_dim + x]);
    }
    float value(int b, index_t t, int h, int x) const {
        return as_float(v[((index_t(b) * capacity + t) * H::kv_heads + h) * H::value_head_dim + x]);
    }
};

template <class H, class TQ, class TKV>
struct decode_inputs {
    cache_inputs<H, TKV> cache;
    std::vector<std::int32_t> q_len, q_off;
    std::vector<TQ> q;
    index_t total_q;

    decode_inputs(std::mt19937& gen, std::vector<std::int32_t> q_lengths, std::vector<std::int32_t> kv_lengths,
                  int page = 16)
        : cache(gen, std::move(kv_lengths), page), q_len(std::move(q_lengths)) {
        q_off = batch_shape::offsets(q_len);
        total_q = q_off.back();
        q = random_values<TQ>(gen, total_q * H::q_heads * H::head_dim);
    }
    kvshare::host_view<const TQ, 3> qv() const { return {q.data(), {total_q, H::q_heads, H::head_dim}}; }
    index_t out_size() const { return total_q * H::q_heads * H::value_head_dim; }
    index_t lse_size() const { return total_q * H::q_heads; }

    template <class Backend, class TOut>
    void run(const kvshare::attention_options& options, bool paged, std::vector<TOut>& out, std::vector<float>& lse,
             int threads = 0, kvshare::bf16_products bf16 = kvshare::bf16_products::automatic) const {
        out.assign(out_size(), TOut(-7.0f));
        lse.assign(lse_size(), -7.0f);
        kvshare::decode<H, Backend>(qv(), kvshare::host_offsets(q_off), paged ? cache.paged() : cache.contiguous(),
                                    kvshare::host_view<TOut, 3>(out.data(), {total_q, H::q_heads, H::value_head_dim}),
                                    options, kvshare::host_view<float, 2>(lse.data(), {total_q, H::q_heads}),
                                    kvshare::execution<kvshare::host_memory>{threads, bf16});
    }

    template <class TOut>
    std::vector<float> naive_low_precision(const kvshare::attention_options& options) const {
        std::vector<float> out(out_size());
        constexpr int G = H::group_size, D = H::head_dim, DV = H::value_head_dim;
        for (std::size_t b = 0; b + 1 < q_off.size(); ++b) {
            const index_t q0 = q_off[b], n = q_off[b + 1] - q0, kv_len = cache.lengths[b];
            for (index_t i = 0; i < n; ++i)
                for (int h = 0; h < H::q_heads; ++h) {
                    const int hk = h / G;
                    const TQ* qr = q.data() + ((q0 + i) * H::q_heads + h) * D;
                    naive_low_precision_row<TOut>(
                        [&](int x) { return as_float(qr[x]); }, D, DV, kvshare::visible_keys(i, n, kv_len, options),
                        [&](index_t j, int x) { return cache.key(static_cast<int>(b), j, hk, x); },
                        [&](index_t j, int x) { return cache.value(static_cast<int>(b), j, hk, x); }, options,
                        out.data() + ((q0 + i) * H::q_heads + h) * DV);
                }
        }
        return out;
    }
};

}  // namespace kvtest
