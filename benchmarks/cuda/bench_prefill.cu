// CUDA prefill throughput (backend/cuda/prefill.cuh), bf16 in/out, fp32 accumulation.
// FLOPs = 4 · B · H_q · S² · D (two matrix products of 2·S²·D each per head), halved when causal;
// counter GFLOPS. Time: cudaEvent around each call (UseManualTime) after a warm-up of min_time_seconds(),
// inputs random (never zeros). KVSHARE_BENCH_BURST=n times n back-to-back calls per event pair instead;
// host_us is the host time of one call (launch preparation).
// Shapes are the issue's targets (layout [tokens, heads, d]):
//   causal / non-causal B4 S4096 Hq32 Hkv8 D128, causal B8 S2048 Hq32 Hkv8 D64, causal B1 S16384 Hq32 Hkv8 D128.
#include <benchmark/benchmark.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "kvshare/backend/cuda/device_buffer.cuh"
#include "kvshare/backend/cuda/prefill.cuh"
#include "kvshare/core/heads.hpp"
#include "kvshare/ops/checks.hpp"

namespace {

using namespace kvshare;
using bf16 = __nv_bfloat16;

__global__ void fill_random(bf16* x, std::size_t n, std::uint32_t seed) {
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
        std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        x[i] = __float2bfloat16((static_cast<float>(h & 0xffffu) / 65535.0f - 0.5f) * 3.0f);
    }
}

// Seconds of warm-up and of timed calls (min_time); KVSHARE_BENCH_MIN_TIME overrides 0.3. The warm-up
// matters on the H200: a short burst of calls runs at a higher clock than sustained work
// (docs/cuda_prefill_log.md, sixth session); benchmarks/compare_torch_prefill.py gives its peers the same.
double min_time_seconds() {
    const char* env = std::getenv("KVSHARE_BENCH_MIN_TIME");
    return env != nullptr ? std::atof(env) : 0.3;
}

template <class Heads>
void bench_prefill(benchmark::State& state) {
    const int batch = static_cast<int>(state.range(0)), seq = static_cast<int>(state.range(1));
    const bool causal = state.range(2) != 0;
    // 0: the default kernel with a workspace (Hopper: tiles taken from its counter), 1: the mma.sync
    // kernel even on Hopper, 2: the default kernel without a workspace (Hopper: static tile stride)
    const int variant = static_cast<int>(state.range(3));
    const bool portable = variant == 1;
    constexpr int Hq = Heads::q_heads, Hkv = Heads::kv_heads, D = Heads::head_dim;
    const index_t tokens = static_cast<index_t>(batch) * seq;
    cuda::device_buffer<bf16> q(tokens * Hq * D), k(tokens * Hkv * D), v(tokens * Hkv * D), out(tokens * Hq * D);
    fill_random<<<1024, 256>>>(q.data(), q.size(), 1);
    fill_random<<<1024, 256>>>(k.data(), k.size(), 2);
    fill_random<<<1024, 256>>>(v.data(), v.size(), 3);
    std::vector<std::int32_t> offsets(batch + 1);
    for (int b = 0; b <= batch; ++b) offsets[b] = b * seq;
    cuda::device_buffer<std::int32_t> d_offsets(offsets.size());
    d_offsets.copy_from_host(offsets.data(), offsets.size());
    const ragged_offsets<device_memory> ro{offsets, device_view<const std::int32_t, 1>(d_offsets.data(), {batch + 1})};
    const device_view<const bf16, 3> vq(q.data(), {tokens, Hq, D}), vk(k.data(), {tokens, Hkv, D}),
        vv(v.data(), {tokens, Hkv, D});
    const device_view<bf16, 3> vo(out.data(), {tokens, Hq, D});
    attention_options options;
    options.causal = causal;
    execution<device_memory> exec{};
    cudaStream_t stream;
    KVSHARE_CUDA_CHECK(cudaStreamCreate(&stream));
    exec.stream = stream;
    cuda::device_buffer<std::byte> workspace(cuda::prefill_workspace_bytes());
    if (variant == 0) exec.workspace = workspace.byte_view();
    detail::check_prefill<Heads>(vq, vk, vv, vo, ro, ro, options, {});
    backend::cuda_detail::prefill_host::force_portable_path() = portable;
    auto run = [&] { backend::cuda_detail::prefill<Heads>(vq, vk, vv, vo, ro, ro, options, {}, exec); };
    const auto warm_end = std::chrono::steady_clock::now() + std::chrono::duration<double>(min_time_seconds());
    for (int i = 0; i < 3 || std::chrono::steady_clock::now() < warm_end; ++i) {   // warm-up, one call at a time
        run();
        KVSHARE_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    cudaEvent_t start, stop;
    KVSHARE_CUDA_CHECK(cudaEventCreate(&start));
    KVSHARE_CUDA_CHECK(cudaEventCreate(&stop));
    const char* burst_env = std::getenv("KVSHARE_BENCH_BURST");
    const int burst = burst_env != nullptr ? std::max(1, std::atoi(burst_env)) : 1;
    double host_seconds = 0;
    std::int64_t calls = 0;
    for (auto _ : state) {
        KVSHARE_CUDA_CHECK(cudaEventRecord(start, stream));
        for (int i = 0; i < burst; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            run();
            host_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ++calls;
        }
        KVSHARE_CUDA_CHECK(cudaEventRecord(stop, stream));
        KVSHARE_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        KVSHARE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        state.SetIterationTime(ms / 1e3 / burst);
    }
    state.counters["host_us"] = host_seconds / static_cast<double>(std::max<std::int64_t>(calls, 1)) * 1e6;
    KVSHARE_CUDA_CHECK(cudaGetLastError());
    const double flops = 4.0 * batch * Hq * static_cast<double>(seq) * seq * D * (causal ? 0.5 : 1.0);
    state.counters["GFLOPS"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
    backend::cuda_detail::prefill_host::force_portable_path() = false;
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaStreamDestroy(stream);
}

// Args: batch, seq, causal, variant (see above; 1 and 2 for the performance log)
BENCHMARK(bench_prefill<gqa<32, 8, 128>>)->Name("prefill_bf16/Hq32_Hkv8_D128")
    ->Args({4, 4096, 1, 0})->Args({4, 4096, 0, 0})->Args({1, 16384, 1, 0})->Args({4, 4096, 1, 1})
    ->Args({4, 4096, 1, 2})
    ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(min_time_seconds());
BENCHMARK(bench_prefill<gqa<32, 8, 64>>)->Name("prefill_bf16/Hq32_Hkv8_D64")
    ->Args({8, 2048, 1, 0})->Args({8, 2048, 1, 1})->Args({8, 2048, 1, 2})
    ->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(min_time_seconds());

}  // namespace


