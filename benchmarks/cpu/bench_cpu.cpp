// kvshare_bench_cpu: the CPU backend against this machine's own ceilings, measured by the same binary.
//
//   ceiling/fma_fp32/threads:N   12 independent zmm FMA chains per thread        -> GFLOPS
//   ceiling/dot_bf16/threads:N   12 independent vdpbf16ps chains per thread      -> GFLOPS (bf16 pair products)
//   ceiling/read_stream/threads:N  read-only sum over uncached_bytes(), split over threads -> GBps
//   prefill/<dtype>/<heads>/S/causal/threads   (dtype bf16_pairs / bf16_widened: the product path forced)
//                                              FLOPs = 4 * B * H_q * S^2 * D, halved when causal -> GFLOPS
//   decode/<dtype>/<heads>/B/L/threads         bytes = K + V bytes read per call                -> GBps
//   cla_pair/...                              two layers (different queries) reading one cache
//
// Decode runs on KV that is not in cache: buffers are rotated so that the bytes touched between two
// reads of one buffer are >= uncached_bytes() (4x this machine's L3, at least 1 GiB; dev VMs have had
// 32 MiB and 260 MiB of L3), and read_stream reads as much. Threads come from kvshare's own pool, as in
// the kernels. All times are wall-clock (UseRealTime). Compare ratios taken in one run: the machine
// is shared and noisy.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "kvshare/backend/cpu/attention.hpp"
#include "kvshare/backend/cpu/thread_pool.hpp"
#include "kvshare/core/heads.hpp"
#include "kvshare/ops/decode.hpp"
#include "kvshare/ops/prefill.hpp"

namespace {

using kvshare::index_t;
using bf16 = Eigen::bfloat16;
using kvshare::backend::cpu_detail::thread_pool;

// ------------------------------------------------------------------------------------------- ceilings

#if defined(__AVX512F__)
// 12 independent FMA chains, `iterations` times, on zmm registers.
double fma_chains(long iterations) {
    __m512 a0 = _mm512_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
           a9 = a0, a10 = a0, a11 = a0;
    const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-6f);
    for (long i = 0; i < iterations; ++i) {
        asm volatile(
            "vfmadd213ps %[c], %[b], %[a0]\n\t"
            "vfmadd213ps %[c], %[b], %[a1]\n\t"
            "vfmadd213ps %[c], %[b], %[a2]\n\t"
            "vfmadd213ps %[c], %[b], %[a3]\n\t"
            "vfmadd213ps %[c], %[b], %[a4]\n\t"
            "vfmadd213ps %[c], %[b], %[a5]\n\t"
            "vfmadd213ps %[c], %[b], %[a6]\n\t"
            "vfmadd213ps %[c], %[b], %[a7]\n\t"
            "vfmadd213ps %[c], %[b], %[a8]\n\t"
            "vfmadd213ps %[c], %[b], %[a9]\n\t"
            "vfmadd213ps %[c], %[b], %[a10]\n\t"
            "vfmadd213ps %[c], %[b], %[a11]\n\t"
            : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4), [a5] "+v"(a5),
              [a6] "+v"(a6), [a7] "+v"(a7), [a8] "+v"(a8), [a9] "+v"(a9), [a10] "+v"(a10), [a11] "+v"(a11)
            : [b] "v"(b), [c] "v"(c));
    }
    const __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a5), a11);
    return _mm512_reduce_add_ps(s);
}
constexpr double fma_flops_per_iteration = 12 * 16 * 2;
#endif

#if defined(__AVX512BF16__)
double dot_chains(long iterations) {
    __m512 a0 = _mm512_set1_ps(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
           a9 = a0, a10 = a0, a11 = a0;
    const __m512i b = _mm512_set1_epi16(0x3f80), c = _mm512_set1_epi16(0x3000);
    for (long i = 0; i < iterations; ++i) {
        asm volatile(
            "vdpbf16ps %[c], %[b], %[a0]\n\t"
            "vdpbf16ps %[c], %[b], %[a1]\n\t"
            "vdpbf16ps %[c], %[b], %[a2]\n\t"
            "vdpbf16ps %[c], %[b], %[a3]\n\t"
            "vdpbf16ps %[c], %[b], %[a4]\n\t"
            "vdpbf16ps %[c], %[b], %[a5]\n\t"
            "vdpbf16ps %[c], %[b], %[a6]\n\t"
            "vdpbf16ps %[c], %[b], %[a7]\n\t"
            "vdpbf16ps %[c], %[b], %[a8]\n\t"
            "vdpbf16ps %[c], %[b], %[a9]\n\t"
            "vdpbf16ps %[c], %[b], %[a10]\n\t"
            "vdpbf16ps %[c], %[b], %[a11]\n\t"
            : [a0] "+v"(a0), [a1] "+v"(a1), [a2] "+v"(a2), [a3] "+v"(a3), [a4] "+v"(a4), [a5] "+v"(a5),
              [a6] "+v"(a6), [a7] "+v"(a7), [a8] "+v"(a8), [a9] "+v"(a9), [a10] "+v"(a10), [a11] "+v"(a11)
            : [b] "v"(b), [c] "v"(c));
    }
    const __m512 s = _mm512_add_ps(_mm512_add_ps(a0, a5), a11);
    return _mm512_reduce_add_ps(s);
}
constexpr double dot_flops_per_iteration = 12 * 16 * 4;   // 2 products + 2 adds per lane
#endif

constexpr long chain_iterations = 2'000'000;

void ceiling_fma_fp32(benchmark::State& state) {
#if defined(__AVX512F__)
    const int threads = static_cast<int>(state.range(0));
    std::atomic<double> sink{0};
    for (auto _ : state) {
        thread_pool::global().run(threads, [&](int) { sink.store(fma_chains(chain_iterations)); });
    }
    benchmark::DoNotOptimize(sink.load());
    state.counters["GFLOPS"] = benchmark::Counter(threads * chain_iterations * fma_flops_per_iteration / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
#else
    state.SkipWithError("needs AVX-512");
#endif
}

void ceiling_dot_bf16(benchmark::State& state) {
#if defined(__AVX512BF16__)
    const int threads = static_cast<int>(state.range(0));
    std::atomic<double> sink{0};
    for (auto _ : state) {
        thread_pool::global().run(threads, [&](int) { sink.store(dot_chains(chain_iterations)); });
    }
    benchmark::DoNotOptimize(sink.load());
    state.counters["GFLOPS"] = benchmark::Counter(threads * chain_iterations * dot_flops_per_iteration / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
#else
    state.SkipWithError("needs AVX512-BF16");
#endif
}

// A buffer of `bytes` bytes, touched once (so the pages exist), with harmless values.
template <class T>
std::unique_ptr<T[], decltype(&std::free)> make_buffer(std::size_t count, float base) {
    T* p = static_cast<T*>(std::aligned_alloc(64, (count * sizeof(T) + 63) / 64 * 64));
    for (std::size_t i = 0; i < count; ++i) p[i] = T(base + 0.001f * static_cast<float>(i % 997));
    return {p, &std::free};
}

// Bytes that pass through the caches before data is read again: 4x the L3 (sysconf), at least 1 GiB.
std::size_t uncached_bytes() {
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    return std::max<std::size_t>(std::size_t{1} << 30, l3 > 0 ? 4 * static_cast<std::size_t>(l3) : 0);
}

void ceiling_read_stream(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    const std::size_t bytes = uncached_bytes(), count = bytes / sizeof(float);
    auto buffer = make_buffer<float>(count, 0.5f);
    const float* data = buffer.get();
    std::atomic<float> sink{0};
    for (auto _ : state) {
        thread_pool::global().run(threads, [&](int t) {
            const std::size_t begin = count / threads * t, end = count / threads * (t + 1);
            using namespace kvshare::backend::cpu_detail::simd;
            vf s0 = zero(), s1 = zero(), s2 = zero(), s3 = zero();
            for (std::size_t i = begin; i + 4 * width <= end; i += 4 * width) {
                s0 = add(s0, load(data + i));
                s1 = add(s1, load(data + i + width));
                s2 = add(s2, load(data + i + 2 * width));
                s3 = add(s3, load(data + i + 3 * width));
            }
            sink.store(reduce_add(add(add(s0, s1), add(s2, s3))));
        });
    }
    benchmark::DoNotOptimize(sink.load());
    state.counters["GBps"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Google Benchmark calls a benchmark function several times (to pick the iteration count, and once
// per repetition): keep the (large) caches of the last decode shape instead of refilling them.
template <class T>
struct buffer_set {
    std::size_t k_count = 0, v_count = 0;
    std::vector<std::unique_ptr<T[], decltype(&std::free)>> k, v;
};

template <class T>
buffer_set<T>& cached_buffers(std::size_t k_count, std::size_t v_count, int caches) {
    static buffer_set<T> held;
    if (held.k_count != k_count || held.v_count != v_count || static_cast<int>(held.k.size()) != caches) {
        held.k.clear();
        held.v.clear();
        held.k_count = k_count;
        held.v_count = v_count;
        for (int c = 0; c < caches; ++c) {
            held.k.push_back(make_buffer<T>(k_count, 0.01f * (c + 1)));
            held.v.push_back(make_buffer<T>(v_count, 0.02f));
        }
    }
    return held;
}

// --------------------------------------------------------------------------------------------- prefill

// Args: S, causal, threads. One sequence (B = 1). Products: how bf16 operands are multiplied.
template <class H, class T, kvshare::bf16_products Products = kvshare::bf16_products::automatic>
void prefill(benchmark::State& state) {
    const index_t S = state.range(0);
    const bool causal = state.range(1) != 0;
    const int threads = static_cast<int>(state.range(2));
    constexpr int HQ = H::q_heads, HK = H::kv_heads, D = H::head_dim, DV = H::value_head_dim;
    std::mt19937 gen(7);
    std::normal_distribution<float> normal;
    std::vector<T> q(S * HQ * D), k(S * HK * D), v(S * HK * DV);
    for (auto* x : {&q, &k, &v})
        for (auto& e : *x) e = T(normal(gen));
    std::vector<float> out(S * HQ * DV);
    const std::vector<std::int32_t> offsets{0, static_cast<std::int32_t>(S)};
    const auto offs = kvshare::host_offsets(offsets);
    const kvshare::attention_options options{0.0f, causal, -1, 0.0f};
    for (auto _ : state) {
        kvshare::prefill<H>(kvshare::host_view<const T, 3>(q.data(), {S, HQ, D}),
                            kvshare::host_view<const T, 3>(k.data(), {S, HK, D}),
                            kvshare::host_view<const T, 3>(v.data(), {S, HK, DV}),
                            kvshare::host_view<float, 3>(out.data(), {S, HQ, DV}), offs, offs, options, {},
                            kvshare::execution<kvshare::host_memory>{threads, Products});
        benchmark::DoNotOptimize(out.data());
    }
    const double flops = 4.0 * HQ * double(S) * double(S) * D * (causal ? 0.5 : 1.0);
    state.counters["GFLOPS"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------------------------------------- decode

// Args: B, L, threads, layers (1, or 2 for a CLA pair: two layers with their own queries, one cache).
template <class H, class TKV, kvshare::bf16_products Products = kvshare::bf16_products::automatic>
void decode(benchmark::State& state) {
    const int B = static_cast<int>(state.range(0));
    const index_t L = state.range(1);
    const int threads = static_cast<int>(state.range(2));
    const int layers = static_cast<int>(state.range(3));
    constexpr int HQ = H::q_heads, HK = H::kv_heads, D = H::head_dim, DV = H::value_head_dim;
    const std::size_t k_count = std::size_t(B) * L * HK * D, v_count = std::size_t(B) * L * HK * DV;
    const double cache_bytes = double(k_count + v_count) * sizeof(TKV);
    // rotate over enough caches that >= uncached_bytes() pass between two reads of one
    const int caches = std::max(1, static_cast<int>(std::ceil(static_cast<double>(uncached_bytes()) / cache_bytes)));
    auto& held = cached_buffers<TKV>(k_count, v_count, caches);
    std::mt19937 gen(11);
    std::normal_distribution<float> normal;
    std::vector<TKV> q(std::size_t(layers) * B * HQ * D);   // queries in the cache's type
    std::vector<float> out(std::size_t(B) * HQ * DV);
    for (auto& e : q) e = TKV(normal(gen));
    std::vector<std::int32_t> q_off(B + 1), lengths(B, static_cast<std::int32_t>(L));
    for (int b = 0; b <= B; ++b) q_off[b] = b;
    const auto qo = kvshare::host_offsets(q_off);
    int c = 0;
    for (auto _ : state) {
        const kvshare::kv_view<TKV, kvshare::host_memory> kv{
            {held.k[c].get(), {B, L, HK, D}}, {held.v[c].get(), {B, L, HK, DV}}, 0, {}, lengths, {lengths.data(), {B}}};
        for (int layer = 0; layer < layers; ++layer)
            kvshare::decode<H>(kvshare::host_view<const TKV, 3>(q.data() + std::size_t(layer) * B * HQ * D, {B, HQ, D}),
                               qo, kv, kvshare::host_view<float, 3>(out.data(), {B, HQ, DV}), {}, {},
                               kvshare::execution<kvshare::host_memory>{threads, Products});
        benchmark::DoNotOptimize(out.data());
        c = (c + 1) % caches;
    }
    state.counters["GBps"] =
        benchmark::Counter(layers * cache_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

using mha = kvshare::heads<32, 32, 128>;
using gqa = kvshare::heads<32, 8, 128>;
using mqa = kvshare::heads<32, 1, 128>;

void thread_args(benchmark::internal::Benchmark* b) {
    b->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime();
}

void prefill_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"S", "causal", "threads"})->Args({2048, 1, 2})->UseRealTime()->Unit(benchmark::kMillisecond);
}

void decode_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"B", "L", "threads", "layers"})
        ->Args({1, 16384, 2, 1})
        ->Args({8, 16384, 2, 1})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(ceiling_fma_fp32)->Name("ceiling/fma_fp32")->Apply(thread_args);
BENCHMARK(ceiling_dot_bf16)->Name("ceiling/dot_bf16")->Apply(thread_args);
BENCHMARK(ceiling_read_stream)->Name("ceiling/read_stream")->Apply(thread_args)->Unit(benchmark::kMillisecond);

BENCHMARK(prefill<gqa, float>)->Name("prefill/fp32/gqa_32_8_d128")->Apply(prefill_args)->Args({2048, 0, 2})->Args({2048, 1, 1});
BENCHMARK(prefill<gqa, bf16>)->Name("prefill/bf16/gqa_32_8_d128")->Apply(prefill_args)->Args({2048, 1, 1});
// bf16 with each product path forced (the plain bf16 rows take what `automatic` picks on this CPU).
BENCHMARK(prefill<gqa, bf16, kvshare::bf16_products::pairs>)->Name("prefill/bf16_pairs/gqa_32_8_d128")->Apply(prefill_args);
BENCHMARK(prefill<gqa, bf16, kvshare::bf16_products::fp32>)->Name("prefill/bf16_widened/gqa_32_8_d128")->Apply(prefill_args);
BENCHMARK(prefill<mha, float>)->Name("prefill/fp32/mha_32_d128")->Apply(prefill_args);
BENCHMARK(prefill<mha, bf16>)->Name("prefill/bf16/mha_32_d128")->Apply(prefill_args);
BENCHMARK(prefill<mqa, float>)->Name("prefill/fp32/mqa_32_d128")->Apply(prefill_args);
BENCHMARK(prefill<mqa, bf16>)->Name("prefill/bf16/mqa_32_d128")->Apply(prefill_args);

BENCHMARK(decode<mha, float>)->Name("decode/fp32/mha_32_d128")->Apply(decode_args);
BENCHMARK(decode<gqa, float>)->Name("decode/fp32/gqa_32_8_d128")->Apply(decode_args);
BENCHMARK(decode<mqa, float>)->Name("decode/fp32/mqa_32_d128")->Apply(decode_args);
BENCHMARK(decode<mha, bf16>)->Name("decode/bf16/mha_32_d128")->Apply(decode_args);
BENCHMARK(decode<gqa, bf16>)->Name("decode/bf16/gqa_32_8_d128")->Apply(decode_args);
BENCHMARK(decode<mqa, bf16>)->Name("decode/bf16/mqa_32_d128")->Apply(decode_args);
BENCHMARK(decode<mqa, bf16, kvshare::bf16_products::pairs>)->Name("decode/bf16_pairs/mqa_32_d128")->Apply(decode_args);
BENCHMARK(decode<mqa, bf16, kvshare::bf16_products::fp32>)->Name("decode/bf16_widened/mqa_32_d128")->Apply(decode_args);
// CLA: two adjacent layers share one cache; the pair reads it twice (once per layer).
BENCHMARK(decode<gqa, float>)
    ->Name("cla_pair/decode/fp32/gqa_32_8_d128")
    ->ArgNames({"B", "L", "threads", "layers"})
    ->Args({1, 16384, 2, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
