#pragma once
// Whether bf16 operands go through the pair products (vdpbf16ps) or are widened to fp32: the pair
// product does 2x the FLOPs of an FMA per lane, but its throughput differs by CPU (twice the fp32
// FMA FLOP rate on a Zen 5, half of it on an Intel Xeon measured here). `automatic` times both once
// per process on the calling core (~3 ms) and picks the pairs only when they are clearly faster
// (>= 1.25x), so that near-ties do not flip the choice from one run to the next.
#include <algorithm>
#include <chrono>

#include "kvshare/backend/cpu/microkernels.hpp"   // KVSHARE_UNROLL
#include "kvshare/backend/cpu/simd.hpp"
#include "kvshare/ops/execution.hpp"

namespace kvshare::backend::cpu_detail {

#if defined(KVSHARE_CPU_BF16_DOT)
// FLOP/s of 12 independent accumulator chains of `step`, over `iterations` rounds (best of 3).
template <class Step>
double chain_rate(Step step, long iterations, double flops_per_round) {
    double best = 0.0;
    for (int attempt = 0; attempt < 3; ++attempt) {
        __m512 acc[12];
        for (int k = 0; k < 12; ++k) acc[k] = _mm512_set1_ps(1.0f + 0.01f * static_cast<float>(k));   // distinct: no CSE
        const auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < iterations; ++i) {
            KVSHARE_UNROLL for (int k = 0; k < 12; ++k) acc[k] = step(acc[k]);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        __m512 sum = acc[0];
        for (int k = 1; k < 12; ++k) sum = _mm512_add_ps(sum, acc[k]);
        volatile float sink = _mm512_reduce_add_ps(sum);
        (void)sink;
        if (seconds > 0) best = std::max(best, flops_per_round * static_cast<double>(iterations) / seconds);
    }
    return best;
}

inline bool pairs_outrun_fp32() {
    static const bool faster = [] {
        const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-6f);
        const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3f80));
        const __m512bh y = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3000));
        constexpr long rounds = 100000;
        const double fma = chain_rate([&](__m512 a) { return _mm512_fmadd_ps(a, b, c); }, rounds, 12 * 16 * 2);
        const double pairs = chain_rate([&](__m512 a) { return _mm512_dpbf16_ps(a, x, y); }, rounds, 12 * 16 * 4);
        return pairs >= 1.25 * fma;
    }();
    return faster;
}
#endif

// Whether bf16 operands (where the pair path exists at all) use the pair products.
inline bool want_bf16_pairs(bf16_products choice) {
#if defined(KVSHARE_CPU_BF16_DOT)
    switch (choice) {
        case bf16_products::pairs: return true;
        case bf16_products::fp32: return false;
        default: return pairs_outrun_fp32();
    }
#else
    (void)choice;
    return false;
#endif
}

}  // namespace kvshare::backend::cpu_detail
