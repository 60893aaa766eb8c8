#pragma once
// Appending K/V rows to a device KV cache: the copy behind kv_writer<device_memory> (cache.cuh).
//
//   append_rows(runs, src, dest, stream)
//     runs : host list of row runs {source_row, dest_row, rows} (cache/writer.hpp), made by the cache
//     src  : [n, H_kv, w] device view (any strides, last one 1): the new rows, w = d (K) or d_v (V)
//     dest : device pool [pool_rows, H_kv, w], dense: row t of the pool starts at dest + t · H_kv · w
//   copies src rows [source_row, +rows) to pool rows [dest_row, +rows) for every run.
//
// The runs travel as kernel parameters (kRunsPerLaunch per launch), so there is no allocation, no
// host-to-device copy and no synchronization: appends can be captured in a CUDA graph. Rows are
// copied with 16-byte vectors when every address and stride allows it, else element by element.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include <cuda_runtime_api.h>

#include "kvshare/backend/cuda/check.cuh"
#include "kvshare/backend/cuda/pointer_checks.cuh"
#include "kvshare/cache/writer.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend::cuda_detail {

namespace append_kernels {

constexpr int kRunsPerLaunch = 96;
constexpr int kThreads = 128;

struct run_batch {
    long long source_row[kRunsPerLaunch];
    long long dest_row[kRunsPerLaunch];
    int rows[kRunsPerLaunch];
    int count;
};

struct copy_params {
    const unsigned char* src;   // bytes
    long long src_row_stride;   // bytes between source rows
    long long src_head_stride;  // bytes between heads of a source row
    unsigned char* dest;
    int heads;
    int width_units;            // units of Unit per head row
    long long dest_row_bytes;   // heads · w · sizeof(T)
};

// grid (row blocks, runs): CTA (x, run) copies rows x, x + gridDim.x, ... of its run.
template <class Unit>
__global__ void __launch_bounds__(kThreads) copy_rows_kernel(const __grid_constant__ copy_params p,
                                                             const __grid_constant__ run_batch runs) {
    const int run = blockIdx.y;
    const int units = p.heads * p.width_units;
    for (int r = blockIdx.x; r < runs.rows[run]; r += gridDim.x) {
        const unsigned char* src = p.src + (runs.source_row[run] + r) * p.src_row_stride;
        Unit* dest = reinterpret_cast<Unit*>(p.dest + (runs.dest_row[run] + r) * p.dest_row_bytes);
        for (int u = threadIdx.x; u < units; u += kThreads) {
            const int h = u / p.width_units, x = u % p.width_units;
            dest[u] = reinterpret_cast<const Unit*>(src + h * p.src_head_stride)[x];
        }
    }
}

}  // namespace append_kernels

// Checks (before anything is written): src is device memory, dest is device memory. The cache has
// checked shapes and bounds; the runs must lie inside src and the pool.
template <class T>
void append_rows(std::span<const row_run> runs, const tensor_view<const T, 3, device_memory>& src, T* dest,
                 cudaStream_t stream) {
    using namespace append_kernels;
    if (runs.empty() || src.extent(1) == 0 || src.extent(2) == 0) return;
    require_device_view(src, "append: source rows");
    require_device_pointer(dest, "append: cache storage");

    const index_t heads = src.extent(1), width = src.extent(2);
    copy_params p{};
    p.src = reinterpret_cast<const unsigned char*>(src.data());
    p.src_row_stride = src.stride(0) * static_cast<long long>(sizeof(T));
    p.src_head_stride = src.stride(1) * static_cast<long long>(sizeof(T));
    p.dest = reinterpret_cast<unsigned char*>(dest);
    p.heads = static_cast<int>(heads);
    p.dest_row_bytes = heads * width * static_cast<long long>(sizeof(T));
    const long long row_bytes = width * static_cast<long long>(sizeof(T));
    const bool vector = reinterpret_cast<std::uintptr_t>(src.data()) % 16 == 0 &&
                        reinterpret_cast<std::uintptr_t>(dest) % 16 == 0 && row_bytes % 16 == 0 &&
                        p.src_row_stride % 16 == 0 && p.src_head_stride % 16 == 0;
    p.width_units = static_cast<int>(vector ? row_bytes / 16 : width);

    for (std::size_t first = 0; first < runs.size(); first += kRunsPerLaunch) {
        run_batch batch{};
        batch.count = static_cast<int>(std::min<std::size_t>(kRunsPerLaunch, runs.size() - first));
        int max_rows = 0;
        for (int i = 0; i < batch.count; ++i) {
            const row_run& run = runs[first + i];
            batch.source_row[i] = run.source_row;
            batch.dest_row[i] = run.dest_row;
            batch.rows[i] = static_cast<int>(run.rows);
            max_rows = std::max(max_rows, batch.rows[i]);
        }
        if (max_rows == 0) continue;
        const dim3 grid(static_cast<unsigned>(std::min(max_rows, 1024)), static_cast<unsigned>(batch.count));
        if (vector)
            copy_rows_kernel<uint4><<<grid, kThreads, 0, stream>>>(p, batch);
        else if constexpr (sizeof(T) == 4)
            copy_rows_kernel<std::uint32_t><<<grid, kThreads, 0, stream>>>(p, batch);
        else if constexpr (sizeof(T) == 2)
            copy_rows_kernel<std::uint16_t><<<grid, kThreads, 0, stream>>>(p, batch);
        else
            static_assert(sizeof(T) == 2 || sizeof(T) == 4, "append_rows: elements must be 2 or 4 bytes");
        KVSHARE_CUDA_CHECK(cudaGetLastError());
    }
}

}  // namespace kvshare::backend::cuda_detail
