#pragma once
// Layouts of a kv_cache. Both hold one K/V slot per *producer* layer (Model::kv_layers slots); they
// differ in how a slot's tokens are placed. Per slot s (s = Model::cache_slot(layer)):
//   contiguous_layout: k [batch, capacity, H_kv, d], v [batch, capacity, H_kv, d_v]
//                      token t of sequence b is row b · capacity + t
//   paged_layout     : k [pages, page_size, H_kv, d], v [pages, page_size, H_kv, d_v]
//                      token t of sequence b is row t % page_size of page page_table(b, t / page_size)
// The page table is shared by all slots: page p holds the same positions of a sequence in every
// producer layer, so one allocation serves the whole stack (vLLM's block tables work the same way).
#include <type_traits>

namespace kvshare {

struct contiguous_layout {
    static constexpr const char* name() { return "contiguous"; }
};

struct paged_layout {
    static constexpr const char* name() { return "paged"; }
};

template <class L>
concept CacheLayout = std::is_same_v<L, contiguous_layout> || std::is_same_v<L, paged_layout>;

// Sizes of a paged cache. page_size >= 1 tokens per page; pages = 0 asks for enough pages for every
// sequence to reach the capacity (batch · ceil(capacity / page_size)); a smaller pool is the point
// of paging (sequences share it), a larger one is allowed.
struct page_options {
    int page_size = 16;
    int pages = 0;
};

}  // namespace kvshare
