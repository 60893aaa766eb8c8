#pragma once
// Hopper prefill (sm_90a), warp-specialized: the sm80 kernel's plan (packed GQA rows, heaviest
// blocks first, keys walked from the diagonal back, online softmax in registers) with the matrix
// products on wgmma and the K/V tiles brought in by TMA.
//
// CTA = 1 producer + C consumer warpgroups (C = 2 for d = 128, 3 for d = 64):
//   warpgroup 0 (producer, 24 / 32 registers): its first warp schedules the tiles and loads them. For each
//     tile it publishes the tile's bounds and its Q (TMA when the group size divides block_m, else a
//     cp.async gather of the (token, head) rows by the warp) into one of two Q buffers, completing on
//     that buffer's "q_full" mbarrier; one lane streams K and V tiles [block_n keys, 64 cols] by TMA
//     into rings of shared-memory buffers (128-byte swizzle), each completing on its "full"
//     mbarrier, and reuses a buffer once every consumer arrived on its "empty" mbarrier.
//   warpgroups 1..C (consumers, 240 / 160 registers): 64 packed query rows each (block_m = 64·C). Per
//   key block:
//       S  = Q·K^T : wgmma m64n128k16, A = Q (registers for d = 128, smem for d = 64), B = K (smem,
//                    K-major), fp32
//       online softmax in registers, P rounded to T (d = 64: the row sums as P·1 on the tensor cores)
//       O += P·V   : wgmma m64n{d_v}k16, A = P (registers), B = V (smem, MN-major)
//     The consumers meet only at the buffers' barriers, so one's softmax overlaps another's matrix
//     products; inside a consumer, S of block n is issued with P·V of block n+1 and the softmax of
//     block n runs before the wait for that P·V.
// Persistent CTAs (one per SM). Tiles are taken from a global counter when the call has a workspace
// (exec.workspace: balanced when tile costs differ, as causal ones do), else t = blockIdx.x,
// + gridDim.x, ... The producer runs ahead across tiles: the K/V rings do not drain between tiles and
// the next tile's Q loads while this one runs. Tile order: one (sequence, K/V head) after another
// (its K/V stays in L2 while its tiles run), and inside it the heaviest query blocks (the longest
// causal rows) first.
// K/V rows past a sequence's end come from the next sequence (masked, P = 0) or, past the last one,
// read as zeros; they must be finite, as any input row is. Q rows past a sequence's end are computed
// and never stored.
// Head dims: d = d_v in {64, 128} (other shapes take the sm80 kernel).
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kvshare/backend/cuda/prefill/sm80_kernel.cuh"   // prefill_params, store2, the ptx:: primitives
#include "kvshare/backend/cuda/prefill/tma.cuh"
#include "kvshare/backend/cuda/prefill/wgmma.cuh"
#include "kvshare/ops/options.hpp"

namespace kvshare::backend::cuda_detail::prefill_kernels {

template <int D, int DV>
struct sm90_tile {
    static constexpr bool supported = D == DV && (D == 64 || D == 128);
    // d = 64: three consumers (more rows to hide the softmax behind: 312 vs 272 TFLOP/s measured with
    // two, despite ~100 bytes of spills at the 160-register budget).
    static constexpr int consumers = D <= 64 ? 3 : 2;
    static constexpr int threads = 128 * (consumers + 1);
    // The launch gives every thread 65536 / threads registers (168 for d = 128, 128 for d = 64); the
    // consumers' setmaxnreg.inc waits until the producer's .dec has freed enough of them, so
    // producer + C · consumer must not exceed that total (a producer at 32 with d = 128 hangs).
    static constexpr int producer_registers = consumers == 3 ? 32 : 24;
    static constexpr int consumer_registers = consumers == 3 ? 160 : 240;
    static_assert(128 * (producer_registers + consumers * consumer_registers) <= (65536 / threads / 8 * 8) * threads,
                  "sm90_tile: the register split exceeds what the launch allocates");
    // S = Q·K^T with Q in registers (wgmma with a register A) rather than read from shared memory by
    // every k-step: d = 128 gained 3–4%, d = 64 (3 consumers at 160 registers, more spills) lost 9%.
    static constexpr bool q_in_registers = consumers == 2;
    // d = 64: the row sums of P come from the tensor cores instead of one FADD per element. P·V runs as
    // m64n72k16 whose B is V plus 8 columns of ones: the descriptor's stride between 64-column atoms
    // points from the V stage to a [block_n][64] tile of ones, and O's ninth n8 chunk is then P·1.
    // +3% at d = 64, whose softmax has half the matrix work of d = 128 to hide behind. d = 128 lost
    // 4.5% with the sums as extra m64n8k16 products (docs/cuda_prefill_log.md, sixth session).
    static constexpr bool rowsum_mma = supported && consumers == 3;
    static_assert(!rowsum_mma || DV == 64, "sm90_tile: the ones tile is the second 64-column atom of V");
    static constexpr int block_m = 64 * consumers;
    static constexpr int block_n = 128;
    static constexpr int stages = 2;
    static constexpr int q_bytes = block_m * D * 2;
    static constexpr int k_bytes = block_n * D * 2;
    static constexpr int v_bytes = block_n * DV * 2;
    static constexpr int barrier_bytes = 128;   // K/V full+empty [stages] each, q_full/q_empty [2] each
    static_assert(8 * (4 * stages + 4) <= barrier_bytes, "sm90_tile: the barriers do not fit");
    static constexpr int tile_info_bytes = 128;   // [2] published tiles (tile_work)
    static constexpr int ones_bytes = rowsum_mma ? block_n * 128 : 0;   // [block_n][64] ones: B of P·1
    // Q is double-buffered: the next tile's Q loads while this tile runs (persistent CTAs).
    static constexpr int smem_bytes = 2 * q_bytes + stages * (k_bytes + v_bytes) + barrier_bytes + tile_info_bytes + ones_bytes + 1024;
    static_assert(!supported || smem_bytes <= 227 * 1024, "sm90_tile: the tile does not fit in shared memory");
};

// Byte offset of element chunk c8 (8 elements) of row r in a 128B-swizzled [cols/64][Rows][64] tile.
template <int Rows>
__device__ __forceinline__ std::uint32_t swizzled_offset(int r, int c8) {
    return static_cast<std::uint32_t>((c8 / 8) * Rows * 128 + r * 128 + (((c8 % 8) ^ (r % 8)) << 4));
}

// One query block of one (sequence, K/V head), as the producer publishes it to the consumers.
struct sm90_tile_work {
    int t;   // tile index; -1: no more tiles
    int q0, q_len, k0, kv_len, hk, row0, rows, n_first, n_last, min_end, max_begin;
};

template <class T, class TOut, int D, int DV>
__global__ void __launch_bounds__(sm90_tile<D, DV>::threads, 1)
    sm90_prefill_kernel(const prefill_params<T, TOut> p, const __grid_constant__ CUtensorMap q_map,
                        const __grid_constant__ CUtensorMap k_map, const __grid_constant__ CUtensorMap v_map) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    using tile = sm90_tile<D, DV>;
    using tile_work = sm90_tile_work;
    constexpr int BM = tile::block_m, BN = tile::block_n, STAGES = tile::stages, C = tile::consumers;
    constexpr int NS = BN / 8;   // n8 chunks of S per row
    constexpr int NO = DV / 8;   // n8 chunks of O per row
    constexpr int NOA = tile::rowsum_mma ? NO + 1 : NO;   // n8 chunks of the accumulator: O (and P·1)
    constexpr float neg_inf = -INFINITY;

    extern __shared__ unsigned char smem_raw[];
    const std::uint32_t smem_base = (smem_address(smem_raw) + 1023u) & ~1023u;
    const std::uint32_t sq = smem_base;                        // [2] Q tiles [D/64][BM][64]
    const std::uint32_t sk = sq + 2 * tile::q_bytes;           // [STAGES] K tiles [D/64][BN][64]
    const std::uint32_t sv = sk + STAGES * tile::k_bytes;      // [STAGES] V tiles [DV/64][BN][64]
    const std::uint32_t ones = sv + STAGES * tile::v_bytes;    // row sums' B: ones
    const std::uint32_t bars = ones + tile::ones_bytes;         // k_full, v_full, k_empty, v_empty [STAGES]; q_full, q_empty [2]
    auto k_full = [&](int s) { return bars + 8 * s; };
    auto v_full = [&](int s) { return bars + 8 * (STAGES + s); };
    auto k_empty = [&](int s) { return bars + 8 * (2 * STAGES + s); };
    auto v_empty = [&](int s) { return bars + 8 * (3 * STAGES + s); };
    auto q_full = [&](int b) { return bars + 8 * (4 * STAGES + b); };
    auto q_empty = [&](int b) { return bars + 8 * (4 * STAGES + 2 + b); };
    // [2] published tiles, one per Q buffer
    tile_work* const published =
        reinterpret_cast<tile_work*>(smem_raw + (bars + tile::barrier_bytes - smem_address(smem_raw)));

    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, wg = warp / 4;
    const int g = p.group;
    const int total_tiles = p.m_blocks * p.batch * p.kv_heads;

    if (tid == 0) {
        for (int s = 0; s < STAGES; ++s) {
            mbarrier_init(k_full(s), 1);
            mbarrier_init(v_full(s), 1);
            mbarrier_init(k_empty(s), C * 128);
            mbarrier_init(v_empty(s), C * 128);
        }
        for (int b = 0; b < 2; ++b) {
            mbarrier_init(q_full(b), p.q_gather ? 32 : 1);   // gather: each lane releases its own copies
            mbarrier_init(q_empty(b), C * 128);
        }
        mbarrier_init_fence();
    }
    if (tile::rowsum_mma) {
        const std::uint32_t one2 = std::is_same_v<T, __half> ? 0x3C003C00u : 0x3F803F80u;
        for (int i = tid; i < tile::ones_bytes / 4; i += tile::threads)
            *reinterpret_cast<std::uint32_t*>(smem_raw + (ones - smem_address(smem_raw)) + 4 * i) = one2;
        fence_proxy_async();   // read by wgmma (the async proxy)
    }
    __syncthreads();   // the last CTA-wide barrier: from here on the roles run apart

    if (wg == 0) {
        // ---------------------------------------------------------------- producer (its first warp)
        set_max_registers_decrease<tile::producer_registers>();
        if (warp != 0) return;
        // Tile t: (b, hk) = t / m_blocks, query block m_blocks - 1 - t % m_blocks (heaviest first).
        auto tile_at = [&](int t, tile_work& w) -> bool {
            const int mb = p.m_blocks - 1 - t % p.m_blocks;
            const int bh = t / p.m_blocks;
            const int b = bh / p.kv_heads;
            w.t = t;
            w.hk = bh % p.kv_heads;
            w.q0 = p.q_offsets[b];
            w.q_len = p.q_offsets[b + 1] - w.q0;
            w.k0 = p.kv_offsets[b];
            w.kv_len = p.kv_offsets[b + 1] - w.k0;
            w.rows = w.q_len * g;
            w.row0 = mb * BM;
            if (w.row0 >= w.rows) return false;   // past this sequence's queries: no tile
            const int t_first = w.row0 / g, t_last = (min(w.row0 + BM, w.rows) - 1) / g;
            const key_range first = visible_keys(t_first, w.q_len, w.kv_len, p.causal, p.window_left);
            const key_range last = visible_keys(t_last, w.q_len, w.kv_len, p.causal, p.window_left);
            const int kv_begin = static_cast<int>(first.begin), kv_end = static_cast<int>(last.end);
            w.min_end = static_cast<int>(first.end);
            w.max_begin = static_cast<int>(last.begin);
            w.n_first = kv_begin / BN;
            w.n_last = kv_end > kv_begin ? (kv_end - 1) / BN : w.n_first - 1;
            return true;
        };
        int taken = 0;   // tiles this CTA has taken
        auto next_work = [&](tile_work& w) {   // the next tile of this CTA that has rows, or w.t = -1
            for (;;) {
                int t = blockIdx.x + taken * gridDim.x;   // static schedule: a stride of the grid
                if (p.tile_counter != nullptr && taken > 0) {
                    int got = 0;
                    if (lane == 0) got = atomicAdd(p.tile_counter, 1);
                    t = gridDim.x + __shfl_sync(0xffffffffu, got, 0);
                }
                ++taken;
                if (t >= total_tiles) {
                    w.t = -1;
                    return;
                }
                if (tile_at(t, w)) return;
            }
        };
        int published_count = 0;   // tile k goes to Q buffer k % 2
        auto publish = [&](const tile_work& w) {
            const int b = published_count % 2;
            mbarrier_wait(q_empty(b), ((published_count / 2) & 1) ^ 1);   // the first use passes at once
            ++published_count;
            if (lane == 0) published[b] = w;
            const std::uint32_t dst = sq + b * tile::q_bytes;
            if (w.t < 0) {
                if (p.q_gather || lane == 0) mbarrier_arrive(q_full(b));
            } else if (!p.q_gather) {
                // Box [BM/g tokens, g heads, 64 cols]: its rows land in packed order token·g + head.
                if (lane == 0) {
                    mbarrier_arrive_expect_tx(q_full(b), tile::q_bytes);
#pragma unroll
                    for (int h = 0; h < D / 64; ++h)
                        tma_load_3d(dst + h * BM * 128, &q_map, h * 64, w.hk * g, w.q0 + w.row0 / g, q_full(b));
                }
            } else {
                // Group sizes that do not divide BM: the warp gathers the rows by cp.async; each lane
                // makes its copies visible to the consumers (wgmma: the async proxy) and arrives.
                constexpr int CH = D / 8;
                for (int c = lane; c < BM * CH; c += 32) {
                    const int r = c / CH, ch = c % CH, row = w.row0 + r;
                    const bool ok = row < w.rows;
                    const int token = row / g, h = w.hk * g + row % g;
                    const T* src =
                        ok ? p.q + static_cast<std::int64_t>(w.q0 + token) * p.q_s0 + h * p.q_s1 + ch * 8 : p.q;
                    cp_async_16(dst + swizzled_offset<BM>(r, ch), src, ok ? 16 : 0);
                }
                cp_async_commit();
                cp_async_wait<0>();
                fence_proxy_async();
                mbarrier_arrive(q_full(b));
            }
        };

        int it = 0;   // K/V blocks streamed so far (stage it % STAGES), continuous across tiles
        tile_work w;
        next_work(w);
        publish(w);
        while (w.t >= 0) {
            tile_work w_next;
            next_work(w_next);
            // The next tile's Q goes out once this tile's first blocks are on their way (the buffer it
            // reuses frees when the consumers have read the tile before this one: at its start with Q
            // in registers, at its end otherwise).
            const int blocks = w.n_last - w.n_first + 1;
            const int publish_after = min(blocks, STAGES);
            if (publish_after <= 0) publish(w_next);
            for (int n = w.n_last, issued = 1; n >= w.n_first; --n, ++it, ++issued) {
                const int s = it % STAGES;
                const std::uint32_t empty_parity = ((it / STAGES) & 1) ^ 1;   // first round passes at once
                mbarrier_wait(k_empty(s), empty_parity);
                if (lane == 0) {
                    mbarrier_arrive_expect_tx(k_full(s), tile::k_bytes);
#pragma unroll
                    for (int h = 0; h < D / 64; ++h)
                        tma_load_3d(sk + s * tile::k_bytes + h * BN * 128, &k_map, h * 64, w.hk, w.k0 + n * BN,
                                    k_full(s));
                }
                mbarrier_wait(v_empty(s), empty_parity);
                if (lane == 0) {
                    mbarrier_arrive_expect_tx(v_full(s), tile::v_bytes);
#pragma unroll
                    for (int h = 0; h < DV / 64; ++h)
                        tma_load_3d(sv + s * tile::v_bytes + h * BN * 128, &v_map, h * 64, w.hk, w.k0 + n * BN,
                                    v_full(s));
                }
                if (issued == publish_after) publish(w_next);
            }
            w = w_next;
        }
        return;
    }

    // -------------------------------------------------------------------- consumers
    set_max_registers_increase<tile::consumer_registers>();
    const int cw = wg - 1;   // consumer warpgroup: rows cw·64 .. cw·64 + 63

    int it = 0;   // K/V blocks consumed so far, in step with the producer
    for (int k = 0;; ++k) {
        const int qb = k % 2;   // Q buffer of this tile
        mbarrier_wait(q_full(qb), (k / 2) & 1);
        const tile_work w = published[qb];
        if (w.t < 0) break;
        const std::uint32_t sqb = sq + qb * tile::q_bytes;
        const int q0 = w.q0, q_len = w.q_len, kv_len = w.kv_len, hk = w.hk, rows = w.rows;
        const int n_first = w.n_first, n_last = w.n_last, min_end = w.min_end, max_begin = w.max_begin;
        float o[NOA * 4];
        // l: this thread's partial row sums (the sum over a row's 4 lanes is taken at the end); with
        // rowsum_mma the full sums are o[4·NO + 2·hf] instead.
        float m[2] = {neg_inf, neg_inf}, l[2] = {0.0f, 0.0f};
#pragma unroll
        for (int i = 0; i < NOA * 4; ++i) o[i] = 0.0f;
        // This thread's rows: local row cw·64 + 16·(warp % 4) + lane/4 + 8·hf.
        const int my_row = w.row0 + cw * 64 + 16 * (warp % 4) + lane / 4;
        // Q as register A fragments when the tile keeps them (ldmatrix.x4 per k16 step: lane l gives row
        // l % 8 + 8·((l / 8) % 2) of the warp's 16, chunk 2·kk + l / 16): the Q buffer is free again at once.
        std::uint32_t qa[tile::q_in_registers ? D / 16 : 1][4];
        if constexpr (tile::q_in_registers) {
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk)
                ptx::ldmatrix_x4(qa[kk], sqb + swizzled_offset<BM>(cw * 64 + 16 * (warp % 4) + lane % 8 + 8 * ((lane / 8) % 2),
                                                                  2 * kk + lane / 16));
            mbarrier_arrive(q_empty(qb));
        }

        // S = Q·K^T for the K tile in stage s: 64 rows x BN keys, D/16 k-steps (one commit group).
        auto issue_s = [&](float (&sc)[NS * 4], int s) {
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk) {
                const std::uint32_t a_addr = sqb + (kk / 4) * BM * 128 + cw * 64 * 128 + (kk % 4) * 32;
                const std::uint32_t b_addr = sk + s * tile::k_bytes + (kk / 4) * BN * 128 + (kk % 4) * 32;
                if constexpr (tile::q_in_registers)
                    wgmma_rs<T, BN, 0>(sc, qa[kk], wgmma_descriptor(b_addr, 16, 1024), kk > 0);
                else
                    wgmma_ss<T, BN>(sc, wgmma_descriptor(a_addr, 16, 1024), wgmma_descriptor(b_addr, 16, 1024), kk > 0);
            }
            wgmma_commit();
        };
        // O += P·V for the V tile in stage s (one commit group).
        auto issue_pv = [&](const std::uint32_t (&pa)[BN / 16][4], int s) {
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk) {
                const std::uint32_t b_addr = sv + s * tile::v_bytes + kk * 16 * 128;
                if constexpr (tile::rowsum_mma)   // atom stride: from this V stage to the ones tile
                    wgmma_rs<T, DV + 8>(o, pa[kk], wgmma_descriptor(b_addr, ones - (sv + s * tile::v_bytes), 1024), 1);
                else
                    wgmma_rs<T, DV>(o, pa[kk], wgmma_descriptor(b_addr, BN * 128, 1024), 1);
            }
            wgmma_commit();
        };
        // Mask and exponentiate the logits of key block n in place; returns the factor the running sums
        // and O must be scaled by (new max) and adds the block's row sums into `sum`.
        auto softmax = [&](float (&sc)[NS * 4], int n, float (&corr)[2], float (&sum)[2]) {
            const bool needs_mask = n * BN + BN > min_end || n * BN < max_begin;
            if (p.softcap) {   // uniform branch: plain blocks never evaluate tanh
#pragma unroll
                for (int i = 0; i < NS * 4; ++i) sc[i] = p.softcap_log2 * tanhf(sc[i] * p.softcap_in);
            }
            if (needs_mask) {
#pragma unroll
                for (int hf = 0; hf < 2; ++hf) {
                    const int row = my_row + 8 * hf;
                    int begin = 0, end = 0;
                    if (row < rows) {
                        const key_range r = visible_keys(row / g, q_len, kv_len, p.causal, p.window_left);
                        begin = static_cast<int>(r.begin);
                        end = static_cast<int>(r.end);
                    }
#pragma unroll
                    for (int j = 0; j < NS; ++j)
#pragma unroll
                        for (int e = 0; e < 2; ++e) {
                            const int key = n * BN + j * 8 + (lane % 4) * 2 + e;
                            if (key < begin || key >= end) sc[4 * j + 2 * hf + e] = neg_inf;
                        }
                }
            }
            // Without softcap the scale is folded into the exponent: p = 2^(s·scale·log2e - m), one FFMA.
            const float mul = p.softcap ? 1.0f : p.scale_log2;
#pragma unroll
            for (int hf = 0; hf < 2; ++hf) {
                float mx = neg_inf;
#pragma unroll
                for (int j = 0; j < NS; ++j) mx = fmaxf(mx, fmaxf(sc[4 * j + 2 * hf], sc[4 * j + 2 * hf + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m[hf], mx * mul);             // running max, base-2 logits
                const float m_use = m_new == neg_inf ? 0.0f : m_new;   // a row with nothing visible yet
                corr[hf] = exp2_fast(m[hf] - m_use);
                m[hf] = m_new;
                float row_sum = 0.0f;
#pragma unroll
                for (int j = 0; j < NS; ++j) {
                    const float p0 = exp2_fast(fmaf(sc[4 * j + 2 * hf], mul, -m_use));
                    const float p1 = exp2_fast(fmaf(sc[4 * j + 2 * hf + 1], mul, -m_use));
                    sc[4 * j + 2 * hf] = p0;
                    sc[4 * j + 2 * hf + 1] = p1;
                    if constexpr (!tile::rowsum_mma) row_sum += p0 + p1;
                }
                sum[hf] = row_sum;
            }
        };
        // P as register A fragments: two n8 chunks of S = one k16 step.
        auto pack_p = [&](const float (&sc)[NS * 4], std::uint32_t (&pa)[BN / 16][4]) {
#pragma unroll
            for (int kk = 0; kk < BN / 16; ++kk) {
                pa[kk][0] = pack2<T>(sc[8 * kk + 0], sc[8 * kk + 1]);
                pa[kk][1] = pack2<T>(sc[8 * kk + 2], sc[8 * kk + 3]);
                pa[kk][2] = pack2<T>(sc[8 * kk + 4], sc[8 * kk + 5]);
                pa[kk][3] = pack2<T>(sc[8 * kk + 6], sc[8 * kk + 7]);
            }
        };

        if (n_last >= n_first) {
            // Software pipeline inside the warpgroup: while O += P·V of block n+1 runs on the tensor
            // cores, the softmax of block n (whose S was issued just before) runs on the ALUs.
            float sc[NS * 4];
            std::uint32_t pa[BN / 16][4];
            float corr[2], sum[2];
            mbarrier_wait(k_full(it % STAGES), (it / STAGES) & 1);
            issue_s(sc, it % STAGES);
            wgmma_wait<0>();
            pin_registers(sc);
            mbarrier_arrive(k_empty(it % STAGES));
            softmax(sc, n_last, corr, sum);
            mbarrier_wait(v_full(it % STAGES), (it / STAGES) & 1);   // V for the P·V issued next
            l[0] = sum[0];
            l[1] = sum[1];
            pack_p(sc, pa);
            ++it;
            for (int n = n_last - 1; n >= n_first; --n, ++it) {
                const int s = it % STAGES, ps = (it - 1) % STAGES;
                mbarrier_wait(k_full(s), (it / STAGES) & 1);
                issue_s(sc, s);
                pin_registers(o);
                issue_pv(pa, ps);
                wgmma_wait<1>();   // S done, P·V may still run
                pin_registers(sc);
                mbarrier_arrive(k_empty(s));
                softmax(sc, n, corr, sum);
                // The wait for the V of block n (its P·V is issued next; a loop, so it ends a basic
                // block) also keeps ptxas from hoisting the P·V wait below above the softmax: without
                // it the softmax ran after the wait in the SASS (docs/cuda_prefill_log.md, v8).
                mbarrier_wait(v_full(s), (it / STAGES) & 1);
                wgmma_wait<0>();
                pin_registers(o);
                mbarrier_arrive(v_empty(ps));
#pragma unroll
                for (int hf = 0; hf < 2; ++hf) {
                    l[hf] = l[hf] * corr[hf] + sum[hf];
#pragma unroll
                    for (int j = 0; j < NOA; ++j) {
                        o[4 * j + 2 * hf] *= corr[hf];
                        o[4 * j + 2 * hf + 1] *= corr[hf];
                    }
                }
                pack_p(sc, pa);
            }
            const int ps = (it - 1) % STAGES;
            pin_registers(o);
            issue_pv(pa, ps);
            wgmma_wait<0>();
            pin_registers(o);
            mbarrier_arrive(v_empty(ps));
        }
        // Q from shared memory: every S of the tile has completed, the producer may refill the buffer.
        if constexpr (!tile::q_in_registers) mbarrier_arrive(q_empty(qb));
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
            float sum = l[hf];
            if constexpr (tile::rowsum_mma) {
                sum = o[4 * NO + 2 * hf];
            } else {
                sum += __shfl_xor_sync(0xffffffffu, sum, 1);
                sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            }
            const int row = my_row + 8 * hf;
            if (row >= rows) continue;
            const int token = row / g, h = hk * g + row % g;
            const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            TOut* dst = p.out + static_cast<std::int64_t>(q0 + token) * p.o_s0 + h * p.o_s1 + (lane % 4) * 2;
#pragma unroll
            for (int j = 0; j < NO; ++j) store2(dst + j * 8, o[4 * j + 2 * hf] * inv, o[4 * j + 2 * hf + 1] * inv);
            if (p.lse != nullptr && lane % 4 == 0)
                p.lse[static_cast<std::int64_t>(q0 + token) * p.lse_s0 + h * p.lse_s1] =
                    sum > 0.0f ? (m[hf] + log2f(sum)) * 0.69314718055994531f : neg_inf;
        }
    }
#else
    __trap();   // built without sm_90a code: the host never selects this kernel then (see launch.cuh)
#endif
}

}  // namespace kvshare::backend::cuda_detail::prefill_kernels
