#pragma once
// The split-KV decode kernel and its merge kernel. Host side: backend/cuda/decode.cuh.
//
// Work: one CTA per (split s, row block rb, K/V head kvh, sequence b); grid (splits, row_blocks · H_kv, batch).
// The rows of a (sequence, K/V head) are its group's query heads times its query tokens,
//   row r -> query token i = r / group, query head kvh · group + r % group,
// so a K/V tile is read from memory ONCE for the whole group (GQA packing). A CTA owns up to
// 16 · warps_m rows (one 16-row MMA tile per warp row) and the keys
//   64-key tiles s, s + splits, s + 2·splits, ... of [lo, hi) = the keys any of its rows sees,
// computed on the device from the lengths in device memory: a captured CUDA graph stays correct
// when the lengths change between replays. Striding the tiles (rather than giving each split one
// contiguous chunk) keeps the CTAs of a sequence reading neighbouring memory at any moment, and
// the splits' shares differ by at most one tile (measured: neutral to +1%, docs/cuda_notes.md v5).
//
// Pipeline: 64-token K/V tiles, config<D>::stages deep in shared memory, filled by 16-byte cp.async
// (zero-fill past the range; paged caches resolve each token through the page table, whose entries
// are fetched one tile ahead). 4 warps: warps_m row tiles × (4 / warps_m) token slices of each tile.
// Per Step (16 or 32) tokens a warp does
//   S (16 x Step) = Q (16xD) · K^T   mma.m16n8k16, fp32
//   online softmax in the log2 domain (masked -> -inf; a row that has seen nothing keeps m = -inf;
//   the mask is applied only on steps where some row's key range ends; O is rescaled only when
//   some row's running max moved)
//   O (16xD) += P · V                P rounded to T, fp32 accumulators
// then the warps of one row tile merge through shared memory, and the CTA writes either the final
// output (splits == 1) or fp32 partials (O normalized, LSE) that decode_merge_kernel combines; the
// merge is a programmatic dependent launch (PDL), scheduled while this kernel still runs.
//
// Shared memory rows are 16-byte chunks XOR-swizzled by (row % 8): ldmatrix reads 8 rows of one
// logical chunk, which land in 8 different bank groups.
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kvshare/backend/cuda/detail/ptx.cuh"
#include "kvshare/ops/options.hpp"

namespace kvshare::backend::cuda_detail::decode_kernels {

constexpr int kThreads = 128;
constexpr int kWarps = 4;
constexpr int kTileTokens = 64;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr int kMaxMergeSplits = 128;   // == cuda_detail::kMaxSplits

template <int D>
struct config {
    static_assert(D == 64 || D == 128 || D == 256, "decode kernel: head dim must be 64, 128 or 256");
    static constexpr int chunks = D / 8;   // 16-byte chunks per row
    static constexpr int stages = D == 64 ? 4 : 3;
    static constexpr bool q_in_registers = D <= 128;
    static constexpr int tile_elements = kTileTokens * D;
    // Per-warp fp32 partials of the final merge: [warp][16][D + pad]
    static constexpr int red_stride = D + 8;
    static constexpr std::size_t smem_bytes(int warps_m) {
        const std::size_t q = static_cast<std::size_t>(16 * warps_m) * D * 2;
        const std::size_t kv = static_cast<std::size_t>(stages) * 2 * tile_elements * 2;
        const std::size_t red = static_cast<std::size_t>(kWarps) * 16 * (red_stride + 2) * 4;
        return q + (kv > red ? kv : red);
    }
};

struct decode_params {
    const void* q;                     // [total_q, H_q, D]
    long long q_stride_t, q_stride_h;  // elements
    const std::int32_t* q_offsets;     // [batch + 1], device
    const void* k;                     // contiguous [batch, cap, H_kv, D] | paged [pages, ps, H_kv, D]
    const void* v;
    long long k_stride_block, k_stride_row, k_stride_h;
    long long v_stride_block, v_stride_row, v_stride_h;
    const std::int32_t* page_table;    // [batch, max_pages] (paged)
    long long page_table_stride;
    int page_size;                     // 0: contiguous
    int page_shift;                    // log2(page_size) when a power of two, else -1
    int page_rows;                     // > 0: block stride = page_rows · row stride for K and V (see the kernel)
    const std::int32_t* lengths;       // [batch], device
    void* out;                         // [total_q, H_q, D]
    long long out_stride_t, out_stride_h;
    float* lse;                        // [total_q, H_q] or null
    long long lse_stride_t, lse_stride_h;
    float* part_o;                     // [splits, total_q, H_q, D]   (splits > 1)
    float* part_lse;                   // [splits, total_q, H_q]
    int total_q, q_heads, group, kv_heads, splits, warps_m;
    float scale_log2;                  // scale · log2(e)            (no softcap)
    float cap_in;                      // scale / softcap            (softcap)
    float cap_out;                     // softcap · log2(e)
    int softcap, causal, window;
};

// Swizzled element offset of (row, 16-byte chunk) in a tile of rows of D elements.
template <int D>
__device__ __forceinline__ int swizzle(int row, int chunk) {
    return row * D + ((chunk ^ (row & 7)) << 3);
}

#if defined(KVSHARE_DECODE_TRACE)
// Timeline instrumentation (development only): per CTA of the last launch, %globaltimer at entry,
// first tile ready, main loop done, exit; and the SM id. Per merge CTA: after the wait, exit.
__device__ unsigned long long decode_trace[16384][5];
__device__ unsigned long long merge_trace[16384][2];
__device__ __forceinline__ unsigned long long trace_now() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
    return t;
}
#define KVSHARE_DECODE_TRACE_POINT(slot)                                                                    \
    do {                                                                                                    \
        if (threadIdx.x == 0) {                                                                             \
            const unsigned cta = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);            \
            if (cta < 16384) decode_trace[cta][slot] = trace_now();                                         \
            if ((slot) == 0 && cta < 16384) {                                                               \
                unsigned sm;                                                                                \
                asm volatile("mov.u32 %0, %smid;" : "=r"(sm));                                              \
                decode_trace[cta][4] = sm;                                                                  \
            }                                                                                               \
        }                                                                                                   \
    } while (0)
#define KVSHARE_MERGE_TRACE_POINT(slot) \
    do { if (threadIdx.x == 0 && blockIdx.x < 16384) merge_trace[blockIdx.x][slot] = trace_now(); } while (0)
#else
#define KVSHARE_DECODE_TRACE_POINT(slot) ((void)0)
#define KVSHARE_MERGE_TRACE_POINT(slot) ((void)0)
#endif

template <class T, int D, int Step>
__global__ void __launch_bounds__(kThreads, D <= 128 ? 2 : 1) decode_kernel(const __grid_constant__ decode_params p) {
    KVSHARE_DECODE_TRACE_POINT(0);
    using cfg = config<D>;
    static_assert(Step == 16 || Step == 32, "decode kernel: a warp step is 16 or 32 tokens");
    constexpr int CH = cfg::chunks;
    constexpr int NT = Step / 8;                        // 8-token MMA n-tiles per step
    constexpr int RPP = kThreads / CH;                  // tile rows one pass of the CTA copies
    constexpr int PASSES = kTileTokens / RPP;
    extern __shared__ __align__(16) unsigned char smem_raw[];

    // Let the merge kernel (a programmatic dependent) get scheduled while this grid runs.
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
    const int split = blockIdx.x;
    const int b = blockIdx.z;
    const int kvh = blockIdx.y % p.kv_heads;
    const int rb = blockIdx.y / p.kv_heads;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    const int q0 = p.q_offsets[b];
    const int q_len = p.q_offsets[b + 1] - q0;
    const int rows = q_len * p.group;
    const int cta_m = 16 * p.warps_m;
    const int row0 = rb * cta_m;
    if (row0 >= rows) return;
    const int row_end = min(rows, row0 + cta_m);
    const int len = p.lengths[b];

    // Keys any row of this block sees, and this split's share of them.
    const key_range first = visible_keys(row0 / p.group, q_len, len, p.causal != 0, p.window);
    const key_range last = visible_keys((row_end - 1) / p.group, q_len, len, p.causal != 0, p.window);
    const int lo = static_cast<int>(first.begin);
    const int span = max(0, static_cast<int>(last.end) - lo);
    const int hi = lo + span;
    const int all_tiles = (span + kTileTokens - 1) / kTileTokens;
    const int tiles = all_tiles > split ? (all_tiles - split + p.splits - 1) / p.splits : 0;
    // first key of this CTA's k-th tile
    auto tile_start = [&](int k) { return lo + (split + k * p.splits) * kTileTokens; };

    T* q_smem = reinterpret_cast<T*>(smem_raw);
    T* kv_smem = q_smem + cta_m * D;
    const T* q_base = static_cast<const T*>(p.q);
    const T* k_base = static_cast<const T*>(p.k);
    const T* v_base = static_cast<const T*>(p.v);

    // ---- Q rows -> shared (zero rows past row_end) -----------------------------------------------
    if (tiles > 0) {
        for (int idx = tid; idx < cta_m * CH; idx += kThreads) {
            const int r = idx / CH, c = idx % CH;
            const int row = row0 + r;
            const bool valid = row < row_end;
            const int i = valid ? row / p.group : 0, g = valid ? row % p.group : 0;
            const T* src = q_base + (q0 + i) * p.q_stride_t + (kvh * p.group + g) * p.q_stride_h + c * 8;
            ptx::cp_async_16(ptx::smem_address(q_smem + swizzle<D>(r, c)), valid ? src : q_base, valid ? 16 : 0);
        }
        ptx::cp_async_commit();
    }

    // ---- K/V tile copies -----------------------------------------------------------------------------
    // Thread tid copies chunk c0 of tile rows r0 + it · RPP (it < PASSES), for K and for V.
    const int r0 = tid / CH, c0 = tid % CH;
    const bool paged = p.page_size > 0;
    const T* k_thread = k_base + kvh * p.k_stride_h + c0 * 8 + (paged ? 0 : b * p.k_stride_block);
    const T* v_thread = v_base + kvh * p.v_stride_h + c0 * 8 + (paged ? 0 : b * p.v_stride_block);
    // Paged: page ids of tokens lane and lane + 32 of the next tile to load, fetched one tile ahead
    // (right after this tile's copies are issued) and not touched until that tile's copies, so that
    // no instruction waits on the page table in between. There each lane turns its two ids into
    // pool rows
    //   page · page_rows + token % page_size   (page_rows = block stride / row stride, the same for K and V)
    // so that a copy's address is one multiply-add; where the pool's strides do not allow that
    // (page_rows == 0) every copy computes page · block stride + row · row stride. Measured on an
    // H200: docs/cuda_notes.md v8.
    int page_lo = 0, page_hi = 0;
    auto fetch_pages = [&](int tile) {
        const int t0 = tile_start(tile);
        const std::int32_t* table = p.page_table + b * p.page_table_stride;
        const int ta = t0 + lane, tb = t0 + lane + 32;
        page_lo = ta < hi ? table[p.page_shift >= 0 ? ta >> p.page_shift : ta / p.page_size] : 0;
        page_hi = tb < hi ? table[p.page_shift >= 0 ? tb >> p.page_shift : tb / p.page_size] : 0;
    };
    auto row_in_page = [&](int t) { return p.page_shift >= 0 ? (t & (p.page_size - 1)) : t % p.page_size; };
    static_assert(32 % RPP == 0, "decode kernel: a copy pass's rows are all below or all above row 32");
    // Shared-memory destination of pass it: rows r0 + it · RPP keep (row % 8) when RPP % 8 == 0, so
    // the swizzle is the same for every pass (D <= 128); D = 256 alternates two patterns.
    const int dst_even = swizzle<D>(r0, c0);
    const int dst_odd = swizzle<D>(r0 + RPP, c0) - RPP * D;
    const long long k_pass = static_cast<long long>(RPP) * p.k_stride_row;
    const long long v_pass = static_cast<long long>(RPP) * p.v_stride_row;
    auto load_tile = [&](int tile) {
        int entry_lo = page_lo, entry_hi = page_hi;   // page ids, or pool rows where page_rows > 0
        if (paged && p.page_rows > 0) {
            const int ta = tile_start(tile) + lane;
            entry_lo = page_lo * p.page_rows + row_in_page(ta);
            entry_hi = page_hi * p.page_rows + row_in_page(ta + 32);
        }
        T* ks = kv_smem + (tile % cfg::stages) * 2 * cfg::tile_elements;
        T* vs = ks + cfg::tile_elements;
        const int t0 = tile_start(tile) + r0;   // this thread's first token of the tile
        const T* kp = k_thread + static_cast<long long>(t0) * p.k_stride_row;
        const T* vp = v_thread + static_cast<long long>(t0) * p.v_stride_row;
#pragma unroll
        for (int it = 0; it < PASSES; ++it) {
            const int r = r0 + it * RPP;
            const int t = t0 + it * RPP;
            const bool valid = t < hi;
            const T* ksrc = kp;
            const T* vsrc = vp;
            if (paged) {
                // row r's entry sits in lane r % 32 of entry_lo (r < 32) or entry_hi
                const long long entry = __shfl_sync(0xffffffffu, it * RPP < 32 ? entry_lo : entry_hi, r & 31);
                if (p.page_rows > 0) {
                    ksrc = k_thread + entry * p.k_stride_row;
                    vsrc = v_thread + entry * p.v_stride_row;
                } else {
                    const long long row = row_in_page(t);
                    ksrc = k_thread + entry * p.k_stride_block + row * p.k_stride_row;
                    vsrc = v_thread + entry * p.v_stride_block + row * p.v_stride_row;
                }
            }
            const int dst = it * RPP * D + ((RPP % 8 == 0 || it % 2 == 0) ? dst_even : dst_odd);
            ptx::cp_async_16(ptx::smem_address(ks + dst), valid ? ksrc : k_base, valid ? 16 : 0);
            ptx::cp_async_16(ptx::smem_address(vs + dst), valid ? vsrc : v_base, valid ? 16 : 0);
            kp += k_pass;
            vp += v_pass;
        }
        if (paged && tile + 1 < tiles) fetch_pages(tile + 1);
    };

    if (paged && tiles > 0) fetch_pages(0);
#pragma unroll
    for (int s = 0; s < cfg::stages - 1; ++s) {
        if (s < tiles) load_tile(s);
        ptx::cp_async_commit();
    }

    // ---- per-warp state ---------------------------------------------------------------------------
    const int warps_n = kWarps / p.warps_m;
    const int wm = warp / warps_n, wn = warp % warps_n;
    const int slice = kTileTokens / warps_n;   // tokens of each tile this warp handles: 16, 32 or 64
    const int g = lane >> 2, c = lane & 3;

    // Visible keys of this lane's two rows (g, g + 8); and over the warp's
    // valid rows, the keys every row sees ([lo_all, hi_all)): steps inside need no mask.
    int key_lo[2], key_hi[2];
    int lo_all = -1, hi_all = 0x7fffffff;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int row = row0 + wm * 16 + g + 8 * h;
        if (row < row_end) {
            const key_range keys = visible_keys(row / p.group, q_len, len, p.causal != 0, p.window);
            key_lo[h] = static_cast<int>(keys.begin);   // >= lo
            key_hi[h] = static_cast<int>(keys.end);     // <= hi
            lo_all = max(lo_all, key_lo[h]);
            hi_all = min(hi_all, key_hi[h]);
        } else {
            key_lo[h] = 0;
            key_hi[h] = 0;
        }
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        lo_all = max(lo_all, __shfl_xor_sync(0xffffffffu, lo_all, off));
        hi_all = min(hi_all, __shfl_xor_sync(0xffffffffu, hi_all, off));
    }

    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m_run[2] = {-INFINITY, -INFINITY};
    float l_run[2] = {0.0f, 0.0f};

    // ldmatrix addresses. A lane reads row lrow of an 8x8 matrix at logical chunk 2·kk + sel; the
    // swizzled chunk is (2·kk) ^ (sel ^ (row % 8)) because 2·kk has bit 0 clear, and row % 8 is
    // lane % 8 for every matrix. So per lane: 4 offsets for (2·kk) % 8 in {0, 2, 4, 6}, plus 128
    // bytes per 8 chunks.
    auto chunk_offsets = [&](int x, std::uint32_t (&off)[4]) {
#pragma unroll
        for (int j = 0; j < 4; ++j) off[j] = static_cast<std::uint32_t>(((2 * j) ^ x) << 4);
    };
    std::uint32_t k_sw[4], v_sw[4], q_sw[4];
    chunk_offsets(((lane >> 3) & 1) ^ (lane & 7), k_sw);   // K: matrices (tokens 0-7 | 8-15) x (k 0-7 | 8-15)
    chunk_offsets((lane >> 4) ^ (lane & 7), v_sw);         // V (trans): (tokens 0-7 | 8-15) x (d 0-7 | 8-15)
    chunk_offsets((lane >> 4) ^ (lane & 7), q_sw);         // Q: (rows 0-7 | 8-15) x (k 0-7 | 8-15)
    const std::uint32_t k_lane = 2 * ((lane & 7) + ((lane >> 4) << 3)) * D;
    const std::uint32_t v_lane = 2 * ((lane & 7) + (((lane >> 3) & 1) << 3)) * D;
    const std::uint32_t q_lane = 2 * (lane & 15) * D;
    auto kk_offset = [](int kk, const std::uint32_t (&off)[4]) { return static_cast<std::uint32_t>((kk >> 2) * 128) + off[kk & 3]; };

    std::uint32_t qf[cfg::q_in_registers ? D / 16 : 1][4];
    const std::uint32_t q_warp = ptx::smem_address(q_smem + wm * 16 * D) + q_lane;
    if (tiles > 0) {
        if constexpr (cfg::q_in_registers) {
            ptx::cp_async_wait<cfg::stages - 1>();   // the Q group is the oldest
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk)
                ptx::ldmatrix_x4(qf[kk], q_warp + kk_offset(kk, q_sw));
        }
    }

    // ---- main loop --------------------------------------------------------------------------------
    for (int tile = 0; tile < tiles; ++tile) {
        ptx::cp_async_wait<cfg::stages - 2>();
        __syncthreads();   // tile's data visible to all; everyone is done with tile - 1's buffer
#if defined(KVSHARE_DECODE_TRACE)
        if (tile == 0) KVSHARE_DECODE_TRACE_POINT(1);
#endif
        if (tile + cfg::stages - 1 < tiles) load_tile(tile + cfg::stages - 1);
        ptx::cp_async_commit();

        const T* ks = kv_smem + (tile % cfg::stages) * 2 * cfg::tile_elements;
        const std::uint32_t k_addr = ptx::smem_address(ks);
        const std::uint32_t v_addr = ptx::smem_address(ks + cfg::tile_elements);
        const int t0 = tile_start(tile);

        for (int step = 0; step < slice; step += Step) {
            const int tok0 = wn * slice + step;   // first token of this step, within the tile
            const int j0 = t0 + tok0;             // its key position
            if (j0 >= hi) break;

            const std::uint32_t k_step = k_addr + k_lane + 2 * tok0 * D;
            const std::uint32_t v_step = v_addr + v_lane + 2 * tok0 * D;

            // S = Q K^T for 16 rows x Step tokens
            float s[NT][4];
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk) {
                std::uint32_t a[4];
                if constexpr (cfg::q_in_registers) {
#pragma unroll
                    for (int j = 0; j < 4; ++j) a[j] = qf[kk][j];
                } else {
                    ptx::ldmatrix_x4(a, q_warp + kk_offset(kk, q_sw));
                }
#pragma unroll
                for (int pair = 0; pair < NT / 2; ++pair) {
                    std::uint32_t bk[4];
                    ptx::ldmatrix_x4(bk, k_step + pair * 32 * D + kk_offset(kk, k_sw));
                    ptx::mma_16816<T>(s[2 * pair], a, bk[0], bk[1]);
                    ptx::mma_16816<T>(s[2 * pair + 1], a, bk[2], bk[3]);
                }
            }

            // logits in the log2 domain; the mask only where some row's range ends inside the step
            const bool interior = j0 >= lo_all && j0 + Step <= hi_all;
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    s[nt][e] = p.softcap ? p.cap_out * ptx::tanh_accurate(s[nt][e] * p.cap_in) : s[nt][e] * p.scale_log2;
            if (!interior) {
#pragma unroll
                for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int j = j0 + nt * 8 + 2 * c + (e & 1);
                        const int h = e >> 1;
                        if (j < key_lo[h] || j >= key_hi[h]) s[nt][e] = -INFINITY;
                    }
            }
            float row_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int nt = 0; nt < NT; ++nt) {
                row_max[0] = fmaxf(row_max[0], fmaxf(s[nt][0], s[nt][1]));
                row_max[1] = fmaxf(row_max[1], fmaxf(s[nt][2], s[nt][3]));
            }
            float alpha[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                row_max[h] = fmaxf(row_max[h], __shfl_xor_sync(0xffffffffu, row_max[h], 1));
                row_max[h] = fmaxf(row_max[h], __shfl_xor_sync(0xffffffffu, row_max[h], 2));
                const float m_new = fmaxf(m_run[h], row_max[h]);
                const float m_use = m_new == -INFINITY ? 0.0f : m_new;
                alpha[h] = ptx::exp2_fast(m_run[h] - m_use);
                m_run[h] = m_new;
                row_max[h] = m_use;
            }
            float row_sum[2] = {0.f, 0.f};
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const float pe = ptx::exp2_fast(s[nt][e] - row_max[e >> 1]);
                    s[nt][e] = pe;
                    row_sum[e >> 1] += pe;
                }
#pragma unroll
            for (int h = 0; h < 2; ++h) l_run[h] = l_run[h] * alpha[h] + row_sum[h];
            // Rescale O only when some row's running max moved (rare once the max has settled).
            if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
                for (int n = 0; n < D / 8; ++n) {
                    o[n][0] *= alpha[0];
                    o[n][1] *= alpha[0];
                    o[n][2] *= alpha[1];
                    o[n][3] *= alpha[1];
                }
            }

            // O += P V, 16 tokens per k-step
#pragma unroll
            for (int k16 = 0; k16 < NT / 2; ++k16) {
                const std::uint32_t pa[4] = {
                    ptx::pack2<T>(s[2 * k16][0], s[2 * k16][1]), ptx::pack2<T>(s[2 * k16][2], s[2 * k16][3]),
                    ptx::pack2<T>(s[2 * k16 + 1][0], s[2 * k16 + 1][1]),
                    ptx::pack2<T>(s[2 * k16 + 1][2], s[2 * k16 + 1][3])};
#pragma unroll
                for (int n2 = 0; n2 < D / 16; ++n2) {
                    std::uint32_t bv[4];
                    ptx::ldmatrix_x4_trans(bv, v_step + k16 * 32 * D + kk_offset(n2, v_sw));
                    ptx::mma_16816<T>(o[2 * n2], pa, bv[0], bv[1]);
                    ptx::mma_16816<T>(o[2 * n2 + 1], pa, bv[2], bv[3]);
                }
            }
        }
    }

    // ---- merge the warps of each row tile ----------------------------------------------------------
    KVSHARE_DECODE_TRACE_POINT(2);
    ptx::cp_async_wait<0>();
    __syncthreads();   // pipeline buffers are free now
    float* red_o = reinterpret_cast<float*>(kv_smem);                  // [warp][16][red_stride]
    float* red_m = red_o + kWarps * 16 * cfg::red_stride;              // [warp][16]
    float* red_l = red_m + kWarps * 16;                                // [warp][16]
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 1);
        l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 2);
    }
    if (tiles > 0) {
        float* my_o = red_o + warp * 16 * cfg::red_stride;
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
            *reinterpret_cast<float2*>(my_o + g * cfg::red_stride + n * 8 + 2 * c) = make_float2(o[n][0], o[n][1]);
            *reinterpret_cast<float2*>(my_o + (g + 8) * cfg::red_stride + n * 8 + 2 * c) =
                make_float2(o[n][2], o[n][3]);
        }
        if (c == 0) {
            red_m[warp * 16 + g] = m_run[0];
            red_m[warp * 16 + g + 8] = m_run[1];
            red_l[warp * 16 + g] = l_run[0];
            red_l[warp * 16 + g + 8] = l_run[1];
        }
    }
    __syncthreads();

    const bool direct = p.splits == 1;
    for (int idx = tid; idx < cta_m * (D / 4); idx += kThreads) {
        const int r = idx / (D / 4), c4 = idx % (D / 4);
        const int row = row0 + r;
        if (row >= row_end) continue;
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        float lse = -INFINITY;
        if (tiles > 0) {
            const int tile_m = r >> 4, rr = r & 15;
            float m_all = -INFINITY;
            for (int w = 0; w < warps_n; ++w) m_all = fmaxf(m_all, red_m[(tile_m * warps_n + w) * 16 + rr]);
            if (m_all != -INFINITY) {
                float l_all = 0.f;
                for (int w = 0; w < warps_n; ++w) {
                    const int wi = tile_m * warps_n + w;
                    const float scale = ptx::exp2_fast(red_m[wi * 16 + rr] - m_all);
                    l_all += scale * red_l[wi * 16 + rr];
                    const float4 part = *reinterpret_cast<const float4*>(red_o + (wi * 16 + rr) * cfg::red_stride + c4 * 4);
                    acc[0] += scale * part.x;
                    acc[1] += scale * part.y;
                    acc[2] += scale * part.z;
                    acc[3] += scale * part.w;
                }
                const float inv = 1.0f / l_all;
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[j] *= inv;
                lse = (m_all + __log2f(l_all)) * kLn2;
            }
        }
        const int token = q0 + row / p.group;
        const int head = kvh * p.group + row % p.group;
        if (direct) {
            T* out = static_cast<T*>(p.out) + token * p.out_stride_t + head * p.out_stride_h + c4 * 4;
            uint2 packed;
            packed.x = ptx::pack2<T>(acc[0], acc[1]);
            packed.y = ptx::pack2<T>(acc[2], acc[3]);
            *reinterpret_cast<uint2*>(out) = packed;
            if (c4 == 0 && p.lse) p.lse[token * p.lse_stride_t + head * p.lse_stride_h] = lse;
        } else {
            const long long prow = (static_cast<long long>(split) * p.total_q + token) * p.q_heads + head;
            *reinterpret_cast<float4*>(p.part_o + prow * D + c4 * 4) = make_float4(acc[0], acc[1], acc[2], acc[3]);
            if (c4 == 0) p.part_lse[prow] = lse;
        }
    }
    KVSHARE_DECODE_TRACE_POINT(3);
}

// Combines the splits of each (token, head) row: one CTA of kMergeThreads per row. Right after the
// dependency wait every thread issues all its loads at once — split s's LSE in thread s, and warp w
// the O partials of splits w, w + 8, ... (D / 32 values per lane) — so the merge costs one memory
// round trip; the warps then add up through shared memory.
//   out = Σ_s exp(lse_s - M) · O_s / Σ_s exp(lse_s - M),  lse = M + log Σ_s exp(lse_s - M)
// Every split wrote its partial (an empty one O = 0, lse = -inf), so the sums need no branches.
// Launched as a programmatic dependent of decode_kernel: it may start while decode_kernel runs and
// waits (griddepcontrol.wait) until decode_kernel has finished and its writes are visible.
constexpr int kMergeThreads = 256;
constexpr int kMergeWarps = kMergeThreads / 32;
constexpr int kMergePerWarp = kMaxMergeSplits / kMergeWarps;   // 16
static_assert(kMaxMergeSplits <= kMergeThreads, "merge: one thread per split");

template <class T, int D>
__global__ void __launch_bounds__(kMergeThreads) decode_merge_kernel(const __grid_constant__ decode_params p) {
    constexpr int per_lane = D / 32;   // 2, 4 or 8
    __shared__ float weights[kMaxMergeSplits];
    __shared__ __align__(16) float partial[kMergeWarps][D];
    __shared__ float warp_max[kMergeWarps], warp_sum[kMergeWarps];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const long long rows = static_cast<long long>(p.total_q) * p.q_heads;
    const long long row = blockIdx.x;

    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    KVSHARE_MERGE_TRACE_POINT(0);

    const int s_mine = threadIdx.x;
    const float lse_mine = s_mine < p.splits ? p.part_lse[s_mine * rows + row] : -INFINITY;
    float o_part[kMergePerWarp][per_lane];
#pragma unroll
    for (int i = 0; i < kMergePerWarp; ++i) {
        const int s = warp + i * kMergeWarps;
        const float* src = p.part_o + (s * rows + row) * D + lane * per_lane;
#pragma unroll
        for (int j = 0; j < per_lane; j += 2) {
            const float2 x = s < p.splits ? *reinterpret_cast<const float2*>(src + j) : make_float2(0.f, 0.f);
            o_part[i][j] = x.x;
            o_part[i][j + 1] = x.y;
        }
    }

    float m = lse_mine;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
    if (lane == 0) warp_max[warp] = m;
    __syncthreads();
    m = warp_max[0];
#pragma unroll
    for (int w = 1; w < kMergeWarps; ++w) m = fmaxf(m, warp_max[w]);
    const float w_mine = m == -INFINITY ? 0.f : __expf(lse_mine - m);   // 0 for empty splits
    if (s_mine < kMaxMergeSplits) weights[s_mine] = w_mine;
    float l = w_mine;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) l += __shfl_xor_sync(0xffffffffu, l, off);
    if (lane == 0) warp_sum[warp] = l;
    __syncthreads();

    float acc[per_lane];
#pragma unroll
    for (int j = 0; j < per_lane; ++j) acc[j] = 0.f;
#pragma unroll
    for (int i = 0; i < kMergePerWarp; ++i) {
        const float w = weights[warp + i * kMergeWarps];   // 0 past the last split
#pragma unroll
        for (int j = 0; j < per_lane; ++j) acc[j] += w * o_part[i][j];
    }
#pragma unroll
    for (int j = 0; j < per_lane; ++j) partial[warp][lane * per_lane + j] = acc[j];
    __syncthreads();
    if (warp != 0) return;
    l = 0.f;
#pragma unroll
    for (int w = 0; w < kMergeWarps; ++w) l += warp_sum[w];
    const float inv = l > 0.f ? 1.0f / l : 0.f;
#pragma unroll
    for (int j = 0; j < per_lane; ++j) {
        const int d = lane * per_lane + j;
        float sum = 0.f;
#pragma unroll
        for (int w = 0; w < kMergeWarps; ++w) sum += partial[w][d];
        acc[j] = sum * inv;
    }
    const int token = static_cast<int>(row / p.q_heads), head = static_cast<int>(row % p.q_heads);
    T* out = static_cast<T*>(p.out) + token * p.out_stride_t + head * p.out_stride_h + lane * per_lane;
#pragma unroll
    for (int j = 0; j < per_lane; j += 2) *reinterpret_cast<std::uint32_t*>(out + j) = ptx::pack2<T>(acc[j], acc[j + 1]);
    if (lane == 0 && p.lse) p.lse[token * p.lse_stride_t + head * p.lse_stride_h] = l > 0.f ? m + __logf(l) : -INFINITY;
    KVSHARE_MERGE_TRACE_POINT(1);
}

}  // namespace kvshare::backend::cuda_detail::decode_kernels
