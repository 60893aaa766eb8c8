#pragma once
// kv_view: the K/V one layer reads from a cache — its producer's slot — for a batch of sequences.
//   contiguous (page_size == 0): k [batch, capacity, H_kv, d], v [batch, capacity, H_kv, d_v]
//   paged      (page_size  > 0): k [pages, page_size, H_kv, d], v [pages, page_size, H_kv, d_v],
//                                page_table [batch, max_pages_per_sequence]; token t of sequence b
//                                is row t % page_size of page page_table(b, t / page_size)
// lengths[b]: valid tokens of sequence b (host copy for checks and planning, plus the same numbers
// in the view's memory space).
#include <cstdint>
#include <span>

#include "kvshare/tensor/view.hpp"

namespace kvshare {

template <class T, MemorySpace Space>
struct kv_view {
    tensor_view<const T, 4, Space> k;
    tensor_view<const T, 4, Space> v;
    int page_size = 0;
    tensor_view<const std::int32_t, 2, Space> page_table;
    std::span<const std::int32_t> lengths;                     // [batch], host
    tensor_view<const std::int32_t, 1, Space> lengths_in_space;  // [batch]

    bool paged() const { return page_size > 0; }
    int batch() const { return static_cast<int>(lengths.size()); }
};

}  // namespace kvshare

namespace kvshare {

// Where token t of sequence b lies in kv.k / kv.v: kv.k(block, row, head, i). Reads the page table,
// so for paged device views only device code may call it.
struct kv_location {
    index_t block;
    index_t row;
};

template <class T, MemorySpace Space>
KVSHARE_HOST_DEVICE inline kv_location locate(const kv_view<T, Space>& kv, index_t b, index_t t) {
    if (kv.page_size == 0) return {b, t};
    return {kv.page_table(b, t / kv.page_size), t % kv.page_size};
}

}  // namespace kvshare
