#pragma once
// FlashAttention-2-style prefill on mma.sync tensor cores (sm_80+; also the fallback on Hopper).
//
// Work decomposition. For K/V head hk of sequence b, the group's g query heads are packed into one
// "packed" problem of q_len · g rows: row r = token · g + j is query token r / g of head hk · g + j.
// A CTA owns block_m consecutive packed rows, so every K/V tile it stages in shared memory serves all
// g heads of the group (no K/V expansion, one K/V read per group instead of per head), for any g.
// CTAs run one (sequence, K/V head) after another, so its K/V stays in L2 while they read it, and
// inside one, heaviest-first: the last query blocks (the longest causal rows) start first.
//
// Per CTA: Q tile [block_m, d] stays in shared memory; K/V tiles [block_n, d] / [block_n, d_v] stream
// through a 2-stage cp.async pipeline, from the last visible key block back to the first (the
// masked diagonal block comes first; blocks outside every row's visible range are never loaded).
// Each warp owns m_tiles × 16 rows: S = Q·K^T (ldmatrix + mma.m16n8k16, fp32), mask, online
// softmax in registers (base-2 exponent, scale folded into one FFMA), P rounded to T, O += P·V (ldmatrix.trans).
#include <cmath>
#include <cstdint>

#include "kvshare/backend/cuda/detail/ptx.cuh"
#include "kvshare/backend/cuda/prefill/sm80_tile.cuh"
#include "kvshare/ops/options.hpp"

namespace kvshare::backend::cuda_detail::prefill_kernels {

// The warp-level primitives (cp.async, ldmatrix, mma.sync m16n8k16, packing, exp2) shared with the
// decode kernels; fragment layouts in detail/ptx.cuh.
using ptx::cp_async_16;
using ptx::cp_async_commit;
using ptx::cp_async_wait;
using ptx::exp2_fast;
using ptx::ldmatrix_x4;
using ptx::ldmatrix_x4_trans;
using ptx::mma_16816;
using ptx::pack2;
using ptx::smem_address;

// Everything a launch needs; strides are in elements.
template <class T, class TOut>
struct prefill_params {
    const T* q;     // [total_q, H_q, d]
    const T* k;     // [total_kv, H_kv, d]
    const T* v;     // [total_kv, H_kv, d_v]
    TOut* out;      // [total_q, H_q, d_v]
    float* lse;     // [total_q, H_q] or null
    std::int64_t q_s0, q_s1, k_s0, k_s1, v_s0, v_s1, o_s0, o_s1, lse_s0, lse_s1;
    const std::int32_t* q_offsets;    // [batch + 1], device
    const std::int32_t* kv_offsets;   // [batch + 1], device
    int batch, kv_heads, group, m_blocks;
    float scale_log2;     // scale · log2(e)          (softcap off)
    float softcap_in;     // scale / softcap          (softcap on: logit = softcap · tanh(s · scale / softcap))
    float softcap_log2;   // softcap · log2(e)
    bool softcap;
    bool causal;
    int window_left;
    // sm90 kernel only
    int* tile_counter;   // zeroed int in device memory: tiles taken dynamically; null: a static stride
    bool q_gather;       // Q rows gathered by cp.async (the group size does not divide block_m)
};

template <class TOut>
__device__ __forceinline__ void store2(TOut* p, float x, float y) {
    if constexpr (std::is_same_v<TOut, float>) {
        *reinterpret_cast<float2*>(p) = make_float2(x, y);
    } else if constexpr (std::is_same_v<TOut, __nv_bfloat16>) {
        *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(x, y);
    } else {
        *reinterpret_cast<__half2*>(p) = __floats2half2_rn(x, y);
    }
}

template <class T, class TOut, int D, int DV>
__global__ void __launch_bounds__(sm80_tile<D, DV>::threads, sm80_tile<D, DV>::min_blocks)
    sm80_prefill_kernel(const prefill_params<T, TOut> p) {
    using tile = sm80_tile<D, DV>;
    constexpr int BM = tile::block_m, BN = tile::block_n, MT = tile::m_tiles, THREADS = tile::threads;
    constexpr int QS = tile::q_stride, KS = tile::k_stride, VS = tile::v_stride;
    constexpr int NT = BN / 8;    // n8 tiles of S per row block
    constexpr int OT = DV / 8;    // n8 tiles of O
    constexpr float neg_inf = -INFINITY;

    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* sq = reinterpret_cast<T*>(smem_raw);   // [BM][QS]
    T* sk = sq + BM * QS;                      // [stages][BN][KS]
    T* sv = sk + tile::stages * BN * KS;       // [stages][BN][VS]

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int mb = p.m_blocks - 1 - static_cast<int>(blockIdx.x % p.m_blocks);   // heaviest first
    const int bh = static_cast<int>(blockIdx.x / p.m_blocks);                     // (b, hk) groups in turn
    const int hk = bh % p.kv_heads, b = bh / p.kv_heads;
    const int q0 = p.q_offsets[b], q_len = p.q_offsets[b + 1] - q0;
    const int k0 = p.kv_offsets[b], kv_len = p.kv_offsets[b + 1] - k0;
    const int g = p.group;
    const int rows = q_len * g;
    const int row0 = mb * BM;
    if (row0 >= rows) return;

    // Keys any row of this block sees: [first token's begin, last token's end). A block fully inside
    // [max_begin, min_end) needs no mask.
    const int t_first = row0 / g, t_last = (min(row0 + BM, rows) - 1) / g;
    const key_range first = visible_keys(t_first, q_len, kv_len, p.causal, p.window_left);
    const key_range last = visible_keys(t_last, q_len, kv_len, p.causal, p.window_left);
    const int kv_begin = static_cast<int>(first.begin), kv_end = static_cast<int>(last.end);
    const int min_end = static_cast<int>(first.end), max_begin = static_cast<int>(last.begin);
    const int n_first = kv_begin / BN;
    const int n_last = kv_end > kv_begin ? (kv_end - 1) / BN : n_first - 1;

    auto load_q = [&] {
        constexpr int CH = D / 8;
        for (int c = tid; c < BM * CH; c += THREADS) {
            const int r = c / CH, ch = c % CH, row = row0 + r;
            const bool ok = row < rows;
            const int t = row / g, h = hk * g + row % g;
            const T* src = ok ? p.q + (q0 + t) * p.q_s0 + h * p.q_s1 + ch * 8 : p.q;
            cp_async_16(smem_address(sq + r * QS + ch * 8), src, ok ? 16 : 0);
        }
    };
    // K/V tile loads. Fast path (THREADS a multiple of the 16-byte chunks per row): thread tid copies
    // chunk tid % CH of rows tid / CH + i · (THREADS / CH), from one base pointer per tensor, so the
    // per-chunk addresses are not hoisted into registers. Otherwise (e.g. d = 96) a plain strided loop.
    constexpr int KCH = D / 8, VCH = DV / 8;
    constexpr bool even_split = THREADS % KCH == 0 && THREADS % VCH == 0 && BN % (THREADS / KCH) == 0 &&
                                BN % (THREADS / VCH) == 0;
    const int k_row = tid / KCH, v_row = tid / VCH;
    const T* k_thread = p.k + static_cast<std::int64_t>(k0 + k_row) * p.k_s0 + hk * p.k_s1 + (tid % KCH) * 8;
    const T* v_thread = p.v + static_cast<std::int64_t>(k0 + v_row) * p.v_s0 + hk * p.v_s1 + (tid % VCH) * 8;
    const std::uint32_t sk_thread = smem_address(sk + k_row * KS + (tid % KCH) * 8);
    const std::uint32_t sv_thread = smem_address(sv + v_row * VS + (tid % VCH) * 8);
    auto load_kv = [&](int n, int stage) {
        if constexpr (even_split) {
            constexpr int KSTEP = THREADS / KCH, VSTEP = THREADS / VCH;
#pragma unroll
            for (int i = 0; i < BN / KSTEP; ++i) {
                const int key = n * BN + k_row + i * KSTEP;
                const bool ok = key < kv_len;
                const T* src = ok ? k_thread + static_cast<std::int64_t>(n * BN + i * KSTEP) * p.k_s0 : p.k;
                cp_async_16(sk_thread + (stage * BN * KS + i * KSTEP * KS) * 2, src, ok ? 16 : 0);
            }
#pragma unroll
            for (int i = 0; i < BN / VSTEP; ++i) {
                const int key = n * BN + v_row + i * VSTEP;
                const bool ok = key < kv_len;
                const T* src = ok ? v_thread + static_cast<std::int64_t>(n * BN + i * VSTEP) * p.v_s0 : p.v;
                cp_async_16(sv_thread + (stage * BN * VS + i * VSTEP * VS) * 2, src, ok ? 16 : 0);
            }
        } else {
            T* skt = sk + stage * BN * KS;
            T* svt = sv + stage * BN * VS;
            for (int c = tid; c < BN * KCH; c += THREADS) {
                const int r = c / KCH, ch = c % KCH, key = n * BN + r;
                const bool ok = key < kv_len;
                const T* src = ok ? p.k + static_cast<std::int64_t>(k0 + key) * p.k_s0 + hk * p.k_s1 + ch * 8 : p.k;
                cp_async_16(smem_address(skt + r * KS + ch * 8), src, ok ? 16 : 0);
            }
            for (int c = tid; c < BN * VCH; c += THREADS) {
                const int r = c / VCH, ch = c % VCH, key = n * BN + r;
                const bool ok = key < kv_len;
                const T* src = ok ? p.v + static_cast<std::int64_t>(k0 + key) * p.v_s0 + hk * p.v_s1 + ch * 8 : p.v;
                cp_async_16(smem_address(svt + r * VS + ch * 8), src, ok ? 16 : 0);
            }
        }
    };

    float o[MT][OT][4];
    float m[MT][2], l[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int j = 0; j < OT; ++j) o[mt][j][0] = o[mt][j][1] = o[mt][j][2] = o[mt][j][3] = 0.0f;
        m[mt][0] = m[mt][1] = neg_inf;
        l[mt][0] = l[mt][1] = 0.0f;
    }

    if (n_last >= n_first) {
        load_q();
        load_kv(n_last, 0);
        cp_async_commit();
    }
    const std::uint32_t sq_lane = smem_address(sq + (warp * MT * 16 + (lane % 16)) * QS + (lane / 16) * 8);
    for (int n = n_last, it = 0; n >= n_first; --n, ++it) {
        const int stage = it & 1;
        if (n > n_first) {
            load_kv(n - 1, stage ^ 1);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();

        // S = Q · K^T for this warp's rows: [MT·16, BN]
        float s[MT][NT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int j = 0; j < NT; ++j) s[mt][j][0] = s[mt][j][1] = s[mt][j][2] = s[mt][j][3] = 0.0f;
        const std::uint32_t sk_lane =
            smem_address(sk + stage * BN * KS + ((lane % 8) + (lane / 16) * 8) * KS + ((lane / 8) % 2) * 8);
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
            std::uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) ldmatrix_x4(a[mt], sq_lane + (mt * 16 * QS + kk * 16) * 2);
#pragma unroll
            for (int nn = 0; nn < BN / 16; ++nn) {
                std::uint32_t bk[4];
                ldmatrix_x4(bk, sk_lane + (nn * 16 * KS + kk * 16) * 2);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    mma_16816<T>(s[mt][2 * nn], a[mt], bk[0], bk[1]);
                    mma_16816<T>(s[mt][2 * nn + 1], a[mt], bk[2], bk[3]);
                }
            }
        }

        // Logits in base 2, masked; online softmax per row.
        const bool needs_mask = n * BN + BN > min_end || n * BN < max_begin;
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
            // This thread's rows (mt, hf): local row warp·MT·16 + mt·16 + lane/4 + 8·hf. Their key ranges
            // are recomputed only in masked blocks (keeps registers free for the accumulators).
            int row_begin[2] = {0, 0}, row_end[2] = {0, 0};
            if (needs_mask) {
#pragma unroll
                for (int hf = 0; hf < 2; ++hf) {
                    const int row = row0 + warp * MT * 16 + mt * 16 + lane / 4 + hf * 8;
                    if (row < rows) {
                        const key_range r = visible_keys(row / g, q_len, kv_len, p.causal, p.window_left);
                        row_begin[hf] = static_cast<int>(r.begin);
                        row_end[hf] = static_cast<int>(r.end);
                    }
                }
            }
            // Softcap (uniform branch: plain blocks never evaluate tanh), then the mask. Without softcap
            // the scale is folded into the exponent: p = 2^(s·scale·log2e - m), one FFMA per element.
            if (p.softcap) {
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e) s[mt][j][e] = p.softcap_log2 * tanhf(s[mt][j][e] * p.softcap_in);
            }
            if (needs_mask) {
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int key = n * BN + j * 8 + (lane % 4) * 2 + (e & 1);
                        if (key < row_begin[e >> 1] || key >= row_end[e >> 1]) s[mt][j][e] = neg_inf;
                    }
            }
            const float mul = p.softcap ? 1.0f : p.scale_log2;
#pragma unroll
            for (int hf = 0; hf < 2; ++hf) {
                float mx = neg_inf;
#pragma unroll
                for (int j = 0; j < NT; ++j) mx = fmaxf(mx, fmaxf(s[mt][j][2 * hf], s[mt][j][2 * hf + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m[mt][hf], mx * mul);          // running max, base-2 logits
                const float m_use = m_new == neg_inf ? 0.0f : m_new;   // a row with nothing visible yet
                const float corr = exp2_fast(m[mt][hf] - m_use);
                m[mt][hf] = m_new;
                float sum = 0.0f;
#pragma unroll
                for (int j = 0; j < NT; ++j) {
                    const float p0 = exp2_fast(fmaf(s[mt][j][2 * hf], mul, -m_use));
                    const float p1 = exp2_fast(fmaf(s[mt][j][2 * hf + 1], mul, -m_use));
                    s[mt][j][2 * hf] = p0;
                    s[mt][j][2 * hf + 1] = p1;
                    sum += p0 + p1;
                }
                l[mt][hf] = l[mt][hf] * corr + sum;
#pragma unroll
                for (int j = 0; j < OT; ++j) {
                    o[mt][j][2 * hf] *= corr;
                    o[mt][j][2 * hf + 1] *= corr;
                }
            }
        }

        // O += P · V: P from the S accumulators (C layout of two n8 tiles = A layout of one k16 step).
        const std::uint32_t sv_lane =
            smem_address(sv + stage * BN * VS + ((lane % 8) + ((lane / 8) % 2) * 8) * VS + (lane / 16) * 8);
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
            std::uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                a[mt][0] = pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                a[mt][1] = pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                a[mt][2] = pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                a[mt][3] = pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
            }
#pragma unroll
            for (int nn = 0; nn < DV / 16; ++nn) {
                std::uint32_t bv[4];
                ldmatrix_x4_trans(bv, sv_lane + (kk * 16 * VS + nn * 16) * 2);
#pragma unroll
                for (int mt = 0; mt < MT; ++mt) {
                    mma_16816<T>(o[mt][2 * nn], a[mt], bv[0], bv[1]);
                    mma_16816<T>(o[mt][2 * nn + 1], a[mt], bv[2], bv[3]);
                }
            }
        }
        __syncthreads();   // the next iteration's prefetch overwrites the stage read here
    }

    // Epilogue: O / l, LSE = ln 2 · (m + log2 l); rows with nothing visible give zeros and -inf.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
            float sum = l[mt][hf];
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            const int row = row0 + warp * MT * 16 + mt * 16 + lane / 4 + hf * 8;
            if (row >= rows) continue;
            const int t = row / g, h = hk * g + row % g;
            const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            TOut* dst = p.out + (q0 + t) * p.o_s0 + h * p.o_s1 + (lane % 4) * 2;
#pragma unroll
            for (int j = 0; j < OT; ++j) store2(dst + j * 8, o[mt][j][2 * hf] * inv, o[mt][j][2 * hf + 1] * inv);
            if (p.lse != nullptr && lane % 4 == 0)
                p.lse[(q0 + t) * p.lse_s0 + h * p.lse_s1] =
                    sum > 0.0f ? (m[mt][hf] + log2f(sum)) * 0.69314718055994531f : neg_inf;
        }
}

}  // namespace kvshare::backend::cuda_detail::prefill_kernels
