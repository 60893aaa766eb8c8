#pragma once
// Shared by the CUDA decode tests: one randomized decode case run on the GPU and checked against
//   ref   : the reference backend (double) on the same (rounded) inputs
//   naive : the same math done naively in T — S = round(q·k), P = round(softmax(S)), O = round(P·V),
//           fp32 accumulation — the FlashAttention rule: our error vs ref <= 2x naive's error vs ref.
// Cache rows past each sequence's length (and unused pages) hold NaN: reading one poisons the output.
// Outputs are poisoned (NaN) before the call: an unwritten element fails the check.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <kvshare/cuda.hpp>

namespace kvtest {

using namespace kvshare;

inline bool quick_mode() {
    const char* env = std::getenv("KVSHARE_TEST_QUICK");
    return env && *env && std::string(env) != "0";
}

inline std::mt19937_64& rng() {
    static std::mt19937_64 engine([] {
        const char* env = std::getenv("KVSHARE_TEST_SEED");
        const std::uint64_t seed = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
        std::fprintf(stderr, "kvshare cuda tests: seed %llu (KVSHARE_TEST_SEED to repeat)\n",
                     static_cast<unsigned long long>(seed));
        return seed;
    }());
    return engine;
}

template <class T>
float to_f(T x) {
    return static_cast<float>(x);
}
template <class T>
T from_f(float x) {
    return T(x);
}
template <class T>
float round_t(float x) {
    return to_f(from_f<T>(x));
}

template <class T>
T nan_t() {
    return from_f<T>(std::numeric_limits<float>::quiet_NaN());
}

struct decode_case {
    std::vector<int> q_lens;
    std::vector<int> kv_lens;
    int page_size = 0;          // 0: contiguous
    int block_gap = 0;          // unused elements after each block (page / sequence): 0, 8 (the
                                // block stride is no multiple of the row stride), or -1 (one block's
                                // worth: as K and V of a page interleaved in one pool)
    attention_options options{};
    bool with_lse = true;
    float q_scale = 1.0f;       // larger: peakier softmax
    int workspace = 1;          // 1: planned size, 0: none, 2: a quarter of it
    std::string name() const {
        std::string s = "batch " + std::to_string(kv_lens.size()) + " kv_lens [";
        for (std::size_t i = 0; i < kv_lens.size() && i < 6; ++i) s += std::to_string(kv_lens[i]) + " ";
        s += kv_lens.size() > 6 ? "...]" : "]";
        s += " q_lens [";
        for (std::size_t i = 0; i < q_lens.size() && i < 6; ++i) s += std::to_string(q_lens[i]) + " ";
        s += q_lens.size() > 6 ? "...]" : "]";
        s += " page " + std::to_string(page_size) + " causal " + std::to_string(options.causal) + " window " +
             std::to_string(options.window_left) + " softcap " + std::to_string(options.softcap) + " q_scale " +
             std::to_string(q_scale) + " ws " + std::to_string(workspace) + " gap " + std::to_string(block_gap);
        return s;
    }
};

struct errors {
    double ours = 0, naive = 0;           // relative Frobenius vs ref
    double ours_max = 0, naive_max = 0;   // max abs vs ref
    double lse_ours = 0, lse_naive = 0;   // max abs vs ref (finite rows)
    bool all_written = true;              // no NaN left in out / lse
    bool masked_ok = true;                // fully masked rows: out exactly 0, lse -inf in all three
};

// Host images of a KV cache (contiguous or paged) with a random page table.
template <class T>
struct host_cache {
    int blocks = 0, rows = 0, max_pages = 0;
    std::size_t block_stride = 0;   // elements
    std::vector<T> k, v;
    std::vector<std::int32_t> page_table;   // [batch, max_pages]
};

template <class Heads, class T>
host_cache<T> make_cache(const decode_case& c) {
    constexpr int H = Heads::kv_heads, D = Heads::head_dim;
    auto& gen = rng();
    std::normal_distribution<float> normal(0.f, 1.f);
    const int batch = static_cast<int>(c.kv_lens.size());
    const int max_len = std::max(1, *std::max_element(c.kv_lens.begin(), c.kv_lens.end()));
    host_cache<T> cache;
    // token t of sequence b -> (block, row); valid tokens get random values, the rest NaN
    std::vector<std::pair<int, int>> where;
    if (c.page_size == 0) {
        cache.blocks = batch;
        cache.rows = max_len + static_cast<int>(gen() % 5);
    } else {
        cache.rows = c.page_size;
        cache.max_pages = (max_len + c.page_size - 1) / c.page_size + static_cast<int>(gen() % 2);
        int needed = 0;
        for (int len : c.kv_lens) needed += (len + c.page_size - 1) / c.page_size;
        cache.blocks = needed + 3;
        std::vector<std::int32_t> ids(cache.blocks);
        std::iota(ids.begin(), ids.end(), 0);
        std::shuffle(ids.begin(), ids.end(), gen);
        cache.page_table.assign(static_cast<std::size_t>(batch) * cache.max_pages, 0);
        int next = 0;
        for (int b = 0; b < batch; ++b)
            for (int p = 0; p < cache.max_pages; ++p)
                cache.page_table[b * cache.max_pages + p] =
                    p * c.page_size < c.kv_lens[b] ? ids[next++] : ids[cache.blocks - 1 - (p % 3)];   // unused: any page
    }
    const std::size_t block_elements = static_cast<std::size_t>(cache.rows) * H * D;
    cache.block_stride = block_elements + (c.block_gap < 0 ? block_elements : static_cast<std::size_t>(c.block_gap));
    const std::size_t elements = static_cast<std::size_t>(cache.blocks) * cache.block_stride;
    cache.k.assign(elements, nan_t<T>());
    cache.v.assign(elements, nan_t<T>());
    for (int b = 0; b < batch; ++b)
        for (int t = 0; t < c.kv_lens[b]; ++t) {
            const std::size_t block = c.page_size ? cache.page_table[b * cache.max_pages + t / c.page_size] : b;
            const std::size_t row = c.page_size ? t % c.page_size : t;
            const std::size_t base = block * cache.block_stride + row * H * D;
            for (int i = 0; i < H * D; ++i) {
                cache.k[base + i] = from_f<T>(normal(gen));
                cache.v[base + i] = from_f<T>(normal(gen));
            }
        }
    return cache;
}

template <class Heads, class T>
errors run_decode_case(const decode_case& c) {
    constexpr int HQ = Heads::q_heads, HKV = Heads::kv_heads, D = Heads::head_dim, G = Heads::group_size;
    auto& gen = rng();
    std::normal_distribution<float> normal(0.f, 1.f);
    const int batch = static_cast<int>(c.kv_lens.size());
    std::vector<std::int32_t> q_offsets(batch + 1, 0);
    for (int b = 0; b < batch; ++b) q_offsets[b + 1] = q_offsets[b] + c.q_lens[b];
    const int total_q = q_offsets[batch];

    std::vector<T> q(static_cast<std::size_t>(total_q) * HQ * D);
    for (auto& x : q) x = from_f<T>(c.q_scale * normal(gen));
    const host_cache<T> cache = make_cache<Heads, T>(c);

    // ---- device ----
    cuda::device_buffer<T> d_q(q.size()), d_k(cache.k.size()), d_v(cache.v.size()), d_out(q.size());
    cuda::device_buffer<float> d_lse(static_cast<std::size_t>(total_q) * HQ);
    cuda::device_buffer<std::int32_t> d_q_offsets(q_offsets.size()), d_lengths(batch),
        d_table(std::max<std::size_t>(1, cache.page_table.size()));
    d_q.copy_from_host(q.data(), q.size());
    d_k.copy_from_host(cache.k.data(), cache.k.size());
    d_v.copy_from_host(cache.v.data(), cache.v.size());
    d_q_offsets.copy_from_host(q_offsets.data(), q_offsets.size());
    d_lengths.copy_from_host(c.kv_lens.data(), c.kv_lens.size());
    if (!cache.page_table.empty()) d_table.copy_from_host(cache.page_table.data(), cache.page_table.size());
    std::vector<T> poison(q.size(), nan_t<T>());
    std::vector<float> lse_poison(static_cast<std::size_t>(total_q) * HQ, std::numeric_limits<float>::quiet_NaN());
    d_out.copy_from_host(poison.data(), poison.size());
    d_lse.copy_from_host(lse_poison.data(), lse_poison.size());

    const std::size_t planned = cuda::decode_workspace_bytes<Heads>(batch, total_q);
    const std::size_t ws_bytes = c.workspace == 1 ? planned : (c.workspace == 2 ? planned / 4 : 0);
    cuda::device_buffer<std::byte> ws(ws_bytes);

    kv_view<T, device_memory> kv;
    const std::array<index_t, 4> kv_shape{cache.blocks, cache.rows, HKV, D};
    const std::array<index_t, 4> kv_strides{static_cast<index_t>(cache.block_stride), HKV * D, D, 1};
    kv.k = {d_k.data(), kv_shape, kv_strides};
    kv.v = {d_v.data(), kv_shape, kv_strides};
    kv.page_size = c.page_size;
    if (c.page_size) kv.page_table = {d_table.data(), {batch, cache.max_pages}};
    kv.lengths = c.kv_lens;
    kv.lengths_in_space = {d_lengths.data(), {batch}};
    const ragged_offsets<device_memory> qo{q_offsets, {d_q_offsets.data(), {batch + 1}}};
    const device_view<const T, 3> qv(d_q.data(), {total_q, HQ, D});
    const device_view<T, 3> ov(d_out.data(), {total_q, HQ, D});
    const device_view<float, 2> lv = c.with_lse ? device_view<float, 2>(d_lse.data(), {total_q, HQ}) : device_view<float, 2>{};
    execution<device_memory> exec;
    exec.workspace = ws.byte_view();
    decode<Heads>(qv, qo, kv, ov, c.options, lv, exec);
    KVSHARE_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<T> out(q.size());
    std::vector<float> lse(lse_poison.size());
    d_out.copy_to_host(out.data(), out.size());
    d_lse.copy_to_host(lse.data(), lse.size());

    // ---- double reference on the same inputs ----
    std::vector<float> qf(q.size()), kf(cache.k.size()), vf(cache.v.size()), ref(q.size()), ref_lse(lse.size());
    std::transform(q.begin(), q.end(), qf.begin(), to_f<T>);
    std::transform(cache.k.begin(), cache.k.end(), kf.begin(), to_f<T>);
    std::transform(cache.v.begin(), cache.v.end(), vf.begin(), to_f<T>);
    kv_view<float, host_memory> hkv;
    hkv.k = {kf.data(), kv_shape, kv_strides};
    hkv.v = {vf.data(), kv_shape, kv_strides};
    hkv.page_size = c.page_size;
    if (c.page_size) hkv.page_table = {cache.page_table.data(), {batch, cache.max_pages}};
    hkv.lengths = c.kv_lens;
    hkv.lengths_in_space = {c.kv_lens.data(), {batch}};
    backend::attention_backend<backend::reference>::decode<Heads>(
        host_view<const float, 3>(qf.data(), {total_q, HQ, D}), host_offsets(q_offsets), hkv,
        host_view<float, 3>(ref.data(), {total_q, HQ, D}), c.options,
        host_view<float, 2>(ref_lse.data(), {total_q, HQ}));

    // ---- naive low precision ----
    std::vector<float> naive(q.size()), naive_lse(lse.size());
    const float scale = c.options.scale > 0 ? c.options.scale : 1.0f / std::sqrt(static_cast<float>(D));
    std::vector<float> s;
    for (int b = 0; b < batch; ++b) {
        const int q_len = c.q_lens[b], kv_len = c.kv_lens[b];
        for (int i = 0; i < q_len; ++i)
            for (int h = 0; h < HQ; ++h) {
                const int hk = h / G;
                const std::size_t row = static_cast<std::size_t>(q_offsets[b] + i) * HQ + h;
                const key_range keys = visible_keys(i, q_len, kv_len, c.options);
                if (keys.empty()) {
                    for (int d = 0; d < D; ++d) naive[row * D + d] = 0.f;
                    naive_lse[row] = -std::numeric_limits<float>::infinity();
                    continue;
                }
                s.assign(keys.end - keys.begin, 0.f);
                float m = -std::numeric_limits<float>::infinity();
                for (index_t j = keys.begin; j < keys.end; ++j) {
                    const auto at = locate(hkv, b, j);
                    const float* kr = &hkv.k(at.block, at.row, hk, 0);
                    float dot = 0.f;
                    for (int d = 0; d < D; ++d) dot += qf[row * D + d] * kr[d];
                    float logit = round_t<T>(dot) * scale;
                    if (c.options.softcap > 0) logit = c.options.softcap * std::tanh(logit / c.options.softcap);
                    s[j - keys.begin] = logit;
                    m = std::max(m, logit);
                }
                float sum = 0.f;
                for (float& x : s) sum += (x = std::exp(x - m));
                for (float& x : s) x = round_t<T>(x / sum);
                naive_lse[row] = m + std::log(sum);
                for (int d = 0; d < D; ++d) {
                    float acc = 0.f;
                    for (index_t j = keys.begin; j < keys.end; ++j) {
                        const auto at = locate(hkv, b, j);
                        acc += s[j - keys.begin] * hkv.v(at.block, at.row, hk, d);
                    }
                    naive[row * D + d] = round_t<T>(acc);
                }
            }
    }

    // ---- compare ----
    errors e;
    double ref_sq = 0, ours_sq = 0, naive_sq = 0;
    for (std::size_t r = 0; r < lse.size(); ++r) {
        const bool masked = std::isinf(ref_lse[r]) && ref_lse[r] < 0;
        if (masked) {
            for (int d = 0; d < D; ++d) e.masked_ok &= to_f(out[r * D + d]) == 0.f;
            if (c.with_lse) e.masked_ok &= std::isinf(lse[r]) && lse[r] < 0;
            continue;
        }
        for (int d = 0; d < D; ++d) {
            const std::size_t i = r * D + d;
            const double o = to_f(out[i]);
            if (std::isnan(o)) e.all_written = false;
            ref_sq += double(ref[i]) * ref[i];
            ours_sq += (o - ref[i]) * (o - ref[i]);
            naive_sq += double(naive[i] - ref[i]) * (naive[i] - ref[i]);
            e.ours_max = std::max(e.ours_max, std::abs(o - ref[i]));
            e.naive_max = std::max(e.naive_max, double(std::abs(naive[i] - ref[i])));
        }
        if (c.with_lse) {
            if (std::isnan(lse[r])) e.all_written = false;
            e.lse_ours = std::max(e.lse_ours, std::abs(double(lse[r]) - ref_lse[r]));
            e.lse_naive = std::max(e.lse_naive, std::abs(double(naive_lse[r]) - ref_lse[r]));
        }
    }
    if (!(e.ours_max >= 0)) e.all_written = false;   // NaN slipped into the max
    e.ours = ref_sq > 0 ? std::sqrt(ours_sq / ref_sq) : std::sqrt(ours_sq);
    e.naive = ref_sq > 0 ? std::sqrt(naive_sq / ref_sq) : std::sqrt(naive_sq);
    return e;
}

// The assertions every case makes. Floors: 1e-6 relative / 1e-4 absolute, for the cases where the naive
// result is exact (one visible key: out = v exactly in both).
inline void check_errors(const errors& e, const std::string& what) {
    INFO(what);
    INFO("rel err ours ", e.ours, " naive ", e.naive, " | max abs ours ", e.ours_max, " naive ", e.naive_max,
         " | lse ours ", e.lse_ours, " naive ", e.lse_naive);
    CHECK(e.all_written);
    CHECK(e.masked_ok);
    CHECK(e.ours <= 2.0 * e.naive + 1e-6);
    CHECK(e.ours_max <= 2.0 * e.naive_max + 1e-4);
    CHECK(e.lse_ours <= 2.0 * e.lse_naive + 1e-4);
}

}  // namespace kvtest
