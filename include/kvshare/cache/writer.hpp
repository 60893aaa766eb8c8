#pragma once
// kv_writer<Space>: the only part of kv_cache::append that depends on the memory space — the copy.
// The cache validates the call, allocates pages and turns the new tokens into a list of row runs
// (host-side, a few entries per sequence); the writer copies them:
//   src  : [n, H_kv, w] (any strides; the last one must be 1), the rows being appended
//   dest : [pool_rows, H_kv, w] dense, one slot's K (w = d) or V (w = d_v) pool
//   run  : rows [source_row, source_row + rows) of src -> rows [dest_row, dest_row + rows) of dest
// Everything a writer is given has been checked; it must not throw after it has started writing.
// Space-specific checks of a source (e.g. "is this really device memory") go in an optional
//   template <class T> static void check(const tensor_view<const T, 3, Space>& src);
// which the cache calls for both k and v before it writes either.
// The CUDA backend provides kv_writer<device_memory> (backend/cuda/cache.cuh, append.cuh).
#include <cstring>
#include <span>

#include "kvshare/backend/tags.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare {

struct row_run {
    index_t source_row = 0;
    index_t dest_row = 0;
    index_t rows = 0;
};

template <MemorySpace Space>
struct kv_writer {
    static_assert(backend::dependent_false<Space>,
                  "kv_writer: no KV row writer for this memory space (device caches need <kvshare/cuda.hpp>)");
};

template <>
struct kv_writer<host_memory> {
    template <class T>
    static void write(std::span<const row_run> runs, const host_view<const T, 3>& src, T* dest,
                      const execution<host_memory>& = {}) {
        const index_t heads = src.extent(1), width = src.extent(2);
        const index_t row_elements = heads * width;
        // A source row [H_kv, w] is dense when its head stride is w: then a run of rows is one memcpy
        // if rows are also back to back, else one memcpy per row.
        const bool dense_row = heads <= 1 || src.stride(1) == width;
        const bool dense_run = dense_row && src.stride(0) == row_elements;
        for (const row_run& run : runs) {
            T* out = dest + run.dest_row * row_elements;
            if (dense_run) {
                std::memcpy(out, &src(run.source_row, 0, 0), sizeof(T) * row_elements * run.rows);
                continue;
            }
            for (index_t r = 0; r < run.rows; ++r, out += row_elements) {
                if (dense_row) {
                    std::memcpy(out, &src(run.source_row + r, 0, 0), sizeof(T) * row_elements);
                } else {
                    for (index_t h = 0; h < heads; ++h)
                        std::memcpy(out + h * width, &src(run.source_row + r, h, 0), sizeof(T) * width);
                }
            }
        }
    }
};

}  // namespace kvshare
