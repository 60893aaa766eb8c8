#pragma once
// CUDA decode: split-KV attention of q_len >= 1 new tokens per sequence against a KV cache view.
//
//   q   : [total_q, H_q, d]  device, 16-byte aligned rows   (rows of sequence b: q_offsets[b] ..)
//   kv  : kv_view<T, device_memory>, contiguous [batch, cap, H_kv, d] or paged [pages, ps, H_kv, d]
//   out : [total_q, H_q, d]  device;  lse : empty or [total_q, H_q] fp32 (natural log)
//   exec: stream + workspace (size it once with decode_workspace_bytes below)
//
// d (= d_v) must be 64, 128 or 256; T is bf16 or fp16 (__nv_bfloat16 / __half, or the Eigen types),
// the same for Q, K/V and out. Anything else throws kvshare::error before a launch.
//
// The host reads q_offsets.host and kv.lengths to choose the split count (how many CTAs share one
// sequence's keys); the kernels read the device copies. So a call captured in a CUDA graph stays
// correct when the device lengths change before a replay (the split count stays what it was), but
// not when the number of query tokens per sequence changes.
//
// No allocation, no host synchronization: a kernel, plus a merge kernel when the keys are split.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <cuda_runtime_api.h>

#include "kvshare/backend/cuda/check.cuh"
#include "kvshare/backend/cuda/detail/decode_kernel.cuh"
#include "kvshare/backend/cuda/element.cuh"
#include "kvshare/backend/cuda/execution.cuh"
#include "kvshare/backend/cuda/pointer_checks.cuh"
#include "kvshare/core/concepts.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/kv_view.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend::cuda_detail {

// The most CTAs one (sequence, K/V head, row block) is split into.
inline constexpr int kMaxSplits = decode_kernels::kMaxMergeSplits;

struct device_info {
    int sm_count = 0;
};

inline device_info current_device_info() {
    // Per device, once: the SM count does not change.
    static int sm_count_of[64] = {};
    int device = 0;
    KVSHARE_CUDA_CHECK(cudaGetDevice(&device));
    device_info info;
    if (device < 64 && sm_count_of[device] > 0) {
        info.sm_count = sm_count_of[device];
        return info;
    }
    KVSHARE_CUDA_CHECK(cudaDeviceGetAttribute(&info.sm_count, cudaDevAttrMultiProcessorCount, device));
    if (device < 64) sm_count_of[device] = info.sm_count;
    return info;
}

// Row tile: warps_m 16-row MMA tiles per CTA, chosen from the largest group · q_len of the batch.
inline int decode_warps_m(int max_rows) { return max_rows <= 16 ? 1 : (max_rows <= 32 ? 2 : 4); }

// Partials per split: O [total_q, H_q, d] fp32 then LSE [total_q, H_q] fp32, splits back to back
// (O of all splits first, 256-byte aligned, then the LSEs).
inline std::size_t decode_partial_o_bytes(index_t total_q, int q_heads, int d) {
    return static_cast<std::size_t>(total_q) * q_heads * d * sizeof(float);
}
inline std::size_t decode_workspace_for(int splits, index_t total_q, int q_heads, int d) {
    if (splits <= 1) return 0;
    const std::size_t o = (decode_partial_o_bytes(total_q, q_heads, d) * splits + 255) / 256 * 256;
    return o + static_cast<std::size_t>(total_q) * q_heads * splits * sizeof(float);
}
inline int decode_splits_that_fit(std::size_t bytes, index_t total_q, int q_heads, int d) {
    if (total_q == 0) return 1;
    int splits = static_cast<int>(std::min<std::size_t>(
        kMaxSplits, bytes / (static_cast<std::size_t>(total_q) * q_heads * (d + 1) * sizeof(float))));
    while (splits > 1 && decode_workspace_for(splits, total_q, q_heads, d) > bytes) --splits;
    return std::max(splits, 1);
}

// Resident CTAs per SM the heuristic assumes (what the kernels' shared memory allows on sm_90).
template <int D>
constexpr int decode_ctas_per_sm() {
    return D <= 128 ? 2 : 1;
}

// The split count: the one that finishes soonest under a simple model — waves of `slots` CTAs,
// each CTA costing its whole 64-key tiles (a split gets ceil(tiles / s) of them: uneven shares leave
// a tail) plus a fixed overhead (pipeline fill, epilogue) worth kOverheadTiles; ragged batches are
// bounded by their longest sequence. Fewer splits win ties (less partial data to merge).
inline int choose_splits(double units, double mean_keys, double max_keys, int slots, int limit) {
    constexpr double kOverheadTiles = 1.5;
    const double mean_tiles = std::ceil(mean_keys / 64.0), max_tiles = std::ceil(max_keys / 64.0);
    int best = 1;
    double best_cost = 0;
    const int upper = std::max(1, std::min(limit, static_cast<int>(max_tiles)));
    for (int s = 1; s <= upper; ++s) {
        const double waves = std::ceil(units * s / slots);
        const double cost = std::max(waves * (std::ceil(mean_tiles / s) + kOverheadTiles),
                                     std::ceil(max_tiles / s) + kOverheadTiles) *
                            (s > 1 ? 1.02 : 1.0);   // the merge kernel
        if (s == 1 || cost < best_cost * 0.995) {
            best = s;
            best_cost = cost;
        }
    }
    return best;
}

template <class T, int D, int Step>
void launch_decode_kernel(dim3 grid, int warps_m, cudaStream_t stream, const decode_kernels::decode_params& p) {
    using namespace decode_kernels;
    // Per device, once (a cudaFuncSetAttribute is cheap but not free).
    static int done_for_device[64] = {};
    int device = 0;
    KVSHARE_CUDA_CHECK(cudaGetDevice(&device));
    if (device >= 64 || !done_for_device[device]) {
        KVSHARE_CUDA_CHECK(cudaFuncSetAttribute(decode_kernel<T, D, Step>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                static_cast<int>(config<D>::smem_bytes(4))));
        if (device < 64) done_for_device[device] = 1;
    }
    decode_kernel<T, D, Step><<<grid, kThreads, config<D>::smem_bytes(warps_m), stream>>>(p);
}

// Tuning knob (benchmarks, experiments): KVSHARE_CUDA_DECODE_SPLITS=n forces n splits where the
// workspace allows it. Read from the environment once per process (a getenv per call is host time
// inside every call's latency).
inline int forced_splits() {
    static const int value = [] {
        const char* forced = std::getenv("KVSHARE_CUDA_DECODE_SPLITS");
        return forced && *forced ? std::atoi(forced) : 0;
    }();
    return value;
}

template <int D, class T, class Heads>
void decode_launch(const tensor_view<const T, 3, device_memory>& q, const ragged_offsets<device_memory>& q_offsets,
                   const kv_view<T, device_memory>& kv, const tensor_view<T, 3, device_memory>& out,
                   const attention_options& options, const tensor_view<float, 2, device_memory>& lse,
                   const execution<device_memory>& exec) {
    using namespace decode_kernels;
    constexpr int group = Heads::group_size;
    const int batch = q_offsets.batch();
    const index_t total_q = q.extent(0);
    if (batch == 0 || total_q == 0) return;

    // ---- plan (host numbers only) -----------------------------------------------------------------
    int max_rows = 0;
    double units = 0, key_sum = 0, key_max = 0;
    for (int b = 0; b < batch; ++b) max_rows = std::max(max_rows, q_offsets.length(b) * group);
    const int warps_m = decode_warps_m(max_rows);
    const int cta_m = 16 * warps_m;
    const int row_blocks = (max_rows + cta_m - 1) / cta_m;
    for (int b = 0; b < batch; ++b) {
        const int q_len = q_offsets.length(b);
        if (q_len == 0) continue;
        const int blocks = (q_len * group + cta_m - 1) / cta_m;
        // keys of the widest row block: the last query's range, widened by q_len under a window
        const key_range keys = visible_keys(q_len - 1, q_len, kv.lengths[b], options);
        double n = static_cast<double>(std::max<std::int64_t>(0, keys.end - keys.begin));
        if (options.window_left >= 0) n = std::min<double>(kv.lengths[b], n + q_len);
        units += static_cast<double>(blocks) * Heads::kv_heads;
        key_sum += n * blocks * Heads::kv_heads;
        key_max = std::max(key_max, n);
    }
    if (units == 0) return;   // no query rows at all
    const device_info info = current_device_info();
    const int slots = info.sm_count * decode_ctas_per_sm<D>();
    const int fit = decode_splits_that_fit(exec.workspace.empty() ? 0 : static_cast<std::size_t>(exec.workspace.extent(0)),
                                           total_q, Heads::q_heads, D);
    int splits = choose_splits(units, key_sum / units, key_max, slots, fit);
    if (forced_splits() > 0) splits = std::clamp(forced_splits(), 1, fit);

    // ---- parameters ---------------------------------------------------------------------------------
    decode_params p{};
    p.q = q.data();
    p.q_stride_t = q.stride(0);
    p.q_stride_h = q.stride(1);
    p.q_offsets = q_offsets.in_space.data();
    p.k = kv.k.data();
    p.v = kv.v.data();
    p.k_stride_block = kv.k.stride(0);
    p.k_stride_row = kv.k.stride(1);
    p.k_stride_h = kv.k.stride(2);
    p.v_stride_block = kv.v.stride(0);
    p.v_stride_row = kv.v.stride(1);
    p.v_stride_h = kv.v.stride(2);
    p.page_size = kv.page_size;
    p.page_shift = -1;
    if (kv.page_size > 0 && (kv.page_size & (kv.page_size - 1)) == 0)
        for (p.page_shift = 0; (1 << p.page_shift) < kv.page_size;) ++p.page_shift;
    p.page_rows = 0;
    if (kv.paged() && kv.k.stride(1) > 0 && kv.v.stride(1) > 0 && kv.k.stride(0) % kv.k.stride(1) == 0 &&
        kv.v.stride(0) % kv.v.stride(1) == 0 && kv.k.stride(0) / kv.k.stride(1) == kv.v.stride(0) / kv.v.stride(1)) {
        // pool rows (page · page_rows + row) must fit an int
        const long long page_rows = kv.k.stride(0) / kv.k.stride(1);
        if (page_rows >= kv.page_size && page_rows * std::max(kv.k.extent(0), kv.v.extent(0)) < (1ll << 31))
            p.page_rows = static_cast<int>(page_rows);
    }
    p.page_table = kv.paged() ? kv.page_table.data() : nullptr;
    p.page_table_stride = kv.paged() ? kv.page_table.stride(0) : 0;
    p.lengths = kv.lengths_in_space.data();
    p.out = out.data();
    p.out_stride_t = out.stride(0);
    p.out_stride_h = out.stride(1);
    p.lse = lse.empty() ? nullptr : lse.data();
    p.lse_stride_t = lse.empty() ? 0 : lse.stride(0);
    p.lse_stride_h = lse.empty() ? 0 : lse.stride(1);
    p.total_q = static_cast<int>(total_q);
    p.q_heads = Heads::q_heads;
    p.group = group;
    p.kv_heads = Heads::kv_heads;
    p.splits = splits;
    p.warps_m = warps_m;
    const float scale = options.scale > 0 ? options.scale : 1.0f / std::sqrt(static_cast<float>(Heads::head_dim));
    p.scale_log2 = scale * kLog2e;
    p.softcap = options.softcap > 0 ? 1 : 0;
    p.cap_in = options.softcap > 0 ? scale / options.softcap : 0.f;
    p.cap_out = options.softcap * kLog2e;
    p.causal = options.causal ? 1 : 0;
    p.window = options.window_left;
    if (splits > 1) {
        auto* base = reinterpret_cast<unsigned char*>(exec.workspace.data());
        p.part_o = reinterpret_cast<float*>(base);
        p.part_lse = reinterpret_cast<float*>(
            base + (decode_partial_o_bytes(total_q, Heads::q_heads, D) * splits + 255) / 256 * 256);
    }

    // ---- launch ---------------------------------------------------------------------------------------
    // A warp handles 64 / (4 / warps_m) tokens of each tile: 32-token steps where that allows (fewer
    // softmax rounds per key), else 16.
    const dim3 grid(splits, row_blocks * Heads::kv_heads, batch);
    if (warps_m >= 2)
        launch_decode_kernel<T, D, 32>(grid, warps_m, exec.stream, p);
    else
        launch_decode_kernel<T, D, 16>(grid, warps_m, exec.stream, p);
    KVSHARE_CUDA_CHECK(cudaGetLastError());
    if (splits > 1) {
        // The merge is a programmatic dependent launch: scheduled while decode_kernel runs, it waits
        // on the device for decode_kernel's results (griddepcontrol.wait), so no launch gap.
        cudaLaunchConfig_t config{};
        config.gridDim = dim3(static_cast<unsigned>(total_q * Heads::q_heads));
        config.blockDim = dim3(kMergeThreads);
        config.dynamicSmemBytes = 0;
        config.stream = exec.stream;
        cudaLaunchAttribute attribute{};
        attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute.val.programmaticStreamSerializationAllowed = 1;
        config.attrs = &attribute;
        config.numAttrs = 1;
        KVSHARE_CUDA_CHECK(cudaLaunchKernelEx(&config, decode_merge_kernel<T, D>, p));
    }
}

// Checks the CUDA-specific requirements, then runs decode_launch for the head dim.
template <HeadPolicy Heads, class TQ, class TKV, class TOut>
void decode(const tensor_view<const TQ, 3, device_memory>& q, const ragged_offsets<device_memory>& q_offsets,
            const kv_view<TKV, device_memory>& kv, const tensor_view<TOut, 3, device_memory>& out,
            const attention_options& options, const tensor_view<float, 2, device_memory>& lse,
            const execution<device_memory>& exec) {
    static_assert(device_element<TQ>::supported,
                  "cuda decode: q must be bf16 or fp16 (__nv_bfloat16, __half, Eigen::bfloat16, Eigen::half)");
    static_assert(std::is_same_v<std::remove_cv_t<TQ>, std::remove_cv_t<TKV>> &&
                      std::is_same_v<std::remove_cv_t<TQ>, std::remove_cv_t<TOut>>,
                  "cuda decode: q, the KV cache and out must have the same element type");
    using T = device_element_t<TQ>;
    constexpr int D = Heads::head_dim;
    if constexpr (Heads::head_dim != Heads::value_head_dim || !(D == 64 || D == 128 || D == 256)) {
        detail::throw_error("cuda decode: head_dim ", Heads::head_dim, " / value_head_dim ", Heads::value_head_dim,
                            " is not supported (supported: head_dim == value_head_dim in {64, 128, 256})");
    } else {
        KVSHARE_REQUIRE(q.extent(0) <= (index_t{1} << 30), "cuda decode: ", q.extent(0), " query tokens is too many");
        require_vector_view(q, "q");
        require_vector_view(out, "out");
        require_vector_view(kv.k, "kv.k");
        require_vector_view(kv.v, "kv.v");
        require_device_view(q_offsets.in_space, "q_offsets.in_space");
        require_device_view(kv.lengths_in_space, "kv.lengths_in_space");
        if (kv.paged()) require_device_view(kv.page_table, "kv.page_table");
        if (!lse.empty()) require_device_view(lse, "lse");
        if (!exec.workspace.empty()) {
            KVSHARE_REQUIRE(reinterpret_cast<std::uintptr_t>(exec.workspace.data()) % 256 == 0,
                            "exec.workspace must be 256-byte aligned (cudaMalloc memory is)");
            require_device_view(exec.workspace, "exec.workspace");
        }
        // Reinterpret Eigen 16-bit types as the CUDA ones (same bits).
        const tensor_view<const T, 3, device_memory> q_d(reinterpret_cast<const T*>(q.data()), q.shape(), q.strides());
        const tensor_view<T, 3, device_memory> out_d(reinterpret_cast<T*>(out.data()), out.shape(), out.strides());
        kv_view<T, device_memory> kv_d;
        kv_d.k = {reinterpret_cast<const T*>(kv.k.data()), kv.k.shape(), kv.k.strides()};
        kv_d.v = {reinterpret_cast<const T*>(kv.v.data()), kv.v.shape(), kv.v.strides()};
        kv_d.page_size = kv.page_size;
        kv_d.page_table = kv.page_table;
        kv_d.lengths = kv.lengths;
        kv_d.lengths_in_space = kv.lengths_in_space;
        decode_launch<D, T, Heads>(q_d, q_offsets, kv_d, out_d, options, lse, exec);
    }
}

}  // namespace kvshare::backend::cuda_detail

namespace kvshare::cuda {

// Workspace bytes decode needs to split the keys as far as it wants for `batch` sequences with
// `total_q` query tokens in all (any lengths), on the current device. Allocate once, reuse:
//   kvshare::cuda::device_buffer<std::byte> ws(kvshare::cuda::decode_workspace_bytes<Heads>(batch, batch));
//   kvshare::execution<kvshare::device_memory> exec{stream, ws.byte_view()};
template <HeadPolicy Heads>
std::size_t decode_workspace_bytes(int batch, index_t total_q) {
    using namespace backend::cuda_detail;
    KVSHARE_REQUIRE(batch >= 0 && total_q >= 0, "decode_workspace_bytes: batch = ", batch, ", total_q = ", total_q);
    if (batch == 0 || total_q == 0) return 0;
    constexpr int D = Heads::value_head_dim;
    const int slots = current_device_info().sm_count * (D <= 128 ? 2 : 1);
    // choose_splits never takes more than about 2 waves' worth of CTAs over the smallest unit count
    const int units = batch * Heads::kv_heads;
    const int splits = std::min(kMaxSplits, std::max(1, (2 * slots + units - 1) / units));
    return decode_workspace_for(splits, total_q, Heads::q_heads, D);
}

}  // namespace kvshare::cuda
