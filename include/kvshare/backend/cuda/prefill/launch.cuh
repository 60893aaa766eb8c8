#pragma once
// Host side of the CUDA prefill: backend-specific checks (all before any launch, so a bad call writes
// nothing), the work plan from the host copy of the offsets, and the launch on the caller's stream.
// No allocation, no synchronization.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kvshare/backend/cuda/execution.cuh"
#include "kvshare/backend/cuda/pointer_checks.cuh"
#include "kvshare/backend/cuda/prefill/sm80_kernel.cuh"
#include "kvshare/backend/cuda/prefill/sm90_kernel.cuh"
#include "kvshare/core/concepts.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend::cuda_detail {

namespace prefill_host {

template <class T>
inline constexpr bool is_tensor_core_type = std::is_same_v<T, __nv_bfloat16> || std::is_same_v<T, __half>;

// Tests and benchmarks set this to run the portable mma.sync kernel on Hopper too (both paths are then
// checked on one GPU). Not for production use; not thread-safe against concurrent launches.
inline bool& force_portable_path() {
    static bool force = false;
    return force;
}

// Launches `kernel` with its dynamic shared memory on `stream`; errors before or at launch throw.
template <class Kernel, class... Args>
void launch(Kernel kernel, int ctas, int threads, int smem_bytes, cudaStream_t stream, const Args&... args) {
    cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_bytes);
    if (status != cudaSuccess)
        detail::throw_error("cuda prefill: cannot reserve ", smem_bytes, " bytes of shared memory (",
                            cudaGetErrorString(status), ")");
    kernel<<<static_cast<unsigned>(ctas), threads, smem_bytes, stream>>>(args...);
    status = cudaGetLastError();
    if (status != cudaSuccess) detail::throw_error("cuda prefill: launch failed (", cudaGetErrorString(status), ")");
}

// The Hopper kernel runs where the device is sm_90 and the binary holds sm_90 code for it.
template <class Kernel>
bool hopper_kernel_usable(Kernel kernel) {
    int device = 0, major = 0;
    if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
        return false;
    if (major != 9) return false;
    cudaFuncAttributes attributes{};
    if (cudaFuncGetAttributes(&attributes, kernel) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    // binaryVersion 90 alone also holds for a plain compute_90 PTX build, where the kernel body is only
    // a trap (wgmma/setmaxnreg need sm_90a): the real body needs well over 32 registers.
    return attributes.binaryVersion == 90 && attributes.numRegs > 32;
}

}  // namespace prefill_host

// Workspace the Hopper prefill uses when exec.workspace holds at least this much: its tile counter.
inline constexpr std::size_t prefill_workspace_bytes() { return sizeof(int); }

// q: [total_q, H_q, d], k: [total_kv, H_kv, d], v: [total_kv, H_kv, d_v], out: [total_q, H_q, d_v],
// lse: empty or [total_q, H_q]. Arguments already passed detail::check_prefill.
template <HeadPolicy Heads, class T, class TOut>
void launch_prefill(const device_view<const T, 3>& q, const device_view<const T, 3>& k,
                    const device_view<const T, 3>& v, const device_view<TOut, 3>& out,
                    const ragged_offsets<device_memory>& q_offsets, const ragged_offsets<device_memory>& kv_offsets,
                    const attention_options& options, const device_view<float, 2>& lse,
                    const execution<device_memory>& exec) {
    const cudaStream_t stream = exec.stream;
    using namespace prefill_kernels;
    using tile = sm80_tile<Heads::head_dim, Heads::value_head_dim>;
    if constexpr (!prefill_host::is_tensor_core_type<T>) {
        detail::throw_error("cuda prefill: q/k/v must be __nv_bfloat16 or __half (tensor-core types)");
    } else if constexpr (!(std::is_same_v<TOut, T> || std::is_same_v<TOut, float>)) {
        detail::throw_error("cuda prefill: out must have the element type of q, or float");
    } else if constexpr (!tile::supported) {
        detail::throw_error("cuda prefill: head_dim ", Heads::head_dim, " / value_head_dim ", Heads::value_head_dim,
                            " not supported (each must be a multiple of 16, from 16 to 256)");
    } else {
        const int batch = q_offsets.batch();
        const int g = Heads::group_size;
        int max_q = 0;
        for (int b = 0; b < batch; ++b) max_q = std::max(max_q, static_cast<int>(q_offsets.length(b)));
        if (batch == 0 || max_q == 0) return;
        KVSHARE_REQUIRE(static_cast<std::int64_t>(max_q) * g < (std::int64_t{1} << 30), "cuda prefill: q_len · group (",
                        static_cast<std::int64_t>(max_q) * g, ") too large");

        require_vector_view(q, "q");
        require_vector_view(k, "k");
        require_vector_view(v, "v");
        KVSHARE_REQUIRE(reinterpret_cast<std::uintptr_t>(out.data()) % (2 * sizeof(TOut)) == 0 &&
                            out.stride(0) % 2 == 0 && out.stride(1) % 2 == 0,
                        "out: data and strides must be aligned to two elements for the CUDA prefill's paired stores");
        require_device_view(out, "out");
        require_device_view(lse, "lse");
        require_device_view(q_offsets.in_space, "q_offsets.in_space");
        require_device_view(kv_offsets.in_space, "kv_offsets.in_space");

        using hopper = sm90_tile<Heads::head_dim, Heads::value_head_dim>;
        bool use_hopper = false;
        if constexpr (hopper::supported) {
            use_hopper = !prefill_host::force_portable_path() &&
                         prefill_host::hopper_kernel_usable(sm90_prefill_kernel<T, TOut, Heads::head_dim, Heads::value_head_dim>);
        }
        const int block_m = use_hopper ? hopper::block_m : tile::block_m;
        const int m_blocks = static_cast<int>((static_cast<std::int64_t>(max_q) * g + block_m - 1) / block_m);
        const std::int64_t ctas = static_cast<std::int64_t>(m_blocks) * batch * Heads::kv_heads;
        KVSHARE_REQUIRE(ctas < (std::int64_t{1} << 31), "cuda prefill: ", ctas, " thread blocks exceed the grid limit");

        prefill_params<T, TOut> p{};
        p.q = q.data();
        p.k = k.data();
        p.v = v.data();
        p.out = out.data();
        p.lse = lse.empty() ? nullptr : lse.data();
        p.q_s0 = q.stride(0), p.q_s1 = q.stride(1);
        p.k_s0 = k.stride(0), p.k_s1 = k.stride(1);
        p.v_s0 = v.stride(0), p.v_s1 = v.stride(1);
        p.o_s0 = out.stride(0), p.o_s1 = out.stride(1);
        p.lse_s0 = lse.empty() ? 0 : lse.stride(0);
        p.lse_s1 = lse.empty() ? 0 : lse.stride(1);
        p.q_offsets = q_offsets.in_space.data();
        p.kv_offsets = kv_offsets.in_space.data();
        p.batch = batch;
        p.kv_heads = Heads::kv_heads;
        p.group = g;
        p.m_blocks = m_blocks;
        constexpr double log2e = 1.4426950408889634;
        const double scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(static_cast<double>(Heads::head_dim));
        p.softcap = options.softcap > 0;
        p.scale_log2 = static_cast<float>(scale * log2e);
        p.softcap_in = p.softcap ? static_cast<float>(scale / options.softcap) : 0.0f;
        p.softcap_log2 = p.softcap ? static_cast<float>(options.softcap * log2e) : 0.0f;
        p.causal = options.causal;
        p.window_left = options.window_left;

        if constexpr (hopper::supported) {
            if (use_hopper) {
                constexpr auto type = std::is_same_v<T, __nv_bfloat16> ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                                        : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
                // Rows past the last offset read as zeros (never the view's unused tail).
                const auto kv_rows = static_cast<std::uint64_t>(std::max(kv_offsets.total(), 1));
                const CUtensorMap k_map = prefill_host::tiled_map_3d(
                    k.data(), type, kv_rows, Heads::kv_heads, Heads::head_dim, k.stride(0), k.stride(1), hopper::block_n);
                const CUtensorMap v_map = prefill_host::tiled_map_3d(v.data(), type, kv_rows, Heads::kv_heads,
                                                                     Heads::value_head_dim, v.stride(0), v.stride(1),
                                                                     hopper::block_n);
                // Q by TMA in boxes of [block_m / g tokens, g heads, 64] where g divides block_m, else
                // gathered by cp.async (the map is then unused; built over K so that it is valid).
                p.q_gather = hopper::block_m % g != 0;
                const CUtensorMap q_map =
                    p.q_gather ? k_map
                               : prefill_host::tiled_map_3d(q.data(), type,
                                                            static_cast<std::uint64_t>(std::max(q_offsets.total(), 1)),
                                                            Heads::q_heads, Heads::head_dim, q.stride(0), q.stride(1),
                                                            hopper::block_m / g, g);
                // Persistent: one CTA per SM walks the tiles (ctas of them), taken from a counter in the
                // workspace when there is one, else with a stride of the grid.
                int device = 0, sms = 0;
                KVSHARE_CUDA_CHECK(cudaGetDevice(&device));
                KVSHARE_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
                const int grid = static_cast<int>(std::min<std::int64_t>(ctas, std::max(sms, 1)));
                p.tile_counter = nullptr;
                if (exec.workspace.extent(0) >= static_cast<index_t>(prefill_workspace_bytes()) &&
                    reinterpret_cast<std::uintptr_t>(exec.workspace.data()) % alignof(int) == 0) {
                    require_device_view(exec.workspace, "exec.workspace");
                    p.tile_counter = reinterpret_cast<int*>(exec.workspace.data());
                    KVSHARE_CUDA_CHECK(cudaMemsetAsync(p.tile_counter, 0, sizeof(int), stream));
                }
                prefill_host::launch(sm90_prefill_kernel<T, TOut, Heads::head_dim, Heads::value_head_dim>, grid,
                                     hopper::threads, hopper::smem_bytes, stream, p, q_map, k_map, v_map);
                return;
            }
        }
        prefill_host::launch(sm80_prefill_kernel<T, TOut, Heads::head_dim, Heads::value_head_dim>,
                             static_cast<int>(ctas), tile::threads, tile::smem_bytes, stream, p);
    }
}

}  // namespace kvshare::backend::cuda_detail
