#pragma once
// page_pool: the bookkeeping of a paged cache, all on the host. A free list of page ids and one page
// table row per sequence:
//   table : [batch, max_pages] int32; entry (b, i) is the page holding tokens
//           [i · page_size, (i + 1) · page_size) of sequence b, or -1 where none is allocated yet
// Pages are taken from the free list as sequences grow and given back when a sequence is released.
// Nothing here touches K/V memory.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kvshare/core/error.hpp"

namespace kvshare {

class page_pool {
public:
    page_pool() = default;
    page_pool(int batch, int max_pages, int pages)
        : batch_(batch), max_pages_(max_pages), pages_(pages), table_(static_cast<std::size_t>(batch) * max_pages, -1),
          allocated_(batch, 0) {
        free_.reserve(pages);
        // Hand out low page ids first (the free list is a stack).
        for (int p = pages - 1; p >= 0; --p) free_.push_back(p);
    }

    int pages() const { return pages_; }
    int max_pages() const { return max_pages_; }
    int free_pages() const { return static_cast<int>(free_.size()); }
    int allocated(int sequence) const { return allocated_[sequence]; }
    const std::int32_t* table() const { return table_.data(); }
    std::size_t table_size() const { return table_.size(); }
    std::int32_t page(int sequence, int index) const {
        return table_[static_cast<std::size_t>(sequence) * max_pages_ + index];
    }

    // Pages sequence b still lacks to hold `tokens` tokens.
    int missing(int sequence, std::int64_t tokens, int page_size) const {
        const auto needed = static_cast<int>((tokens + page_size - 1) / page_size);
        return std::max(0, needed - allocated_[sequence]);
    }

    // Gives sequence b `count` more pages. The caller has checked that they exist (count <= free_pages()
    // and allocated + count <= max_pages); this cannot fail.
    void grow(int sequence, int count) {
        for (int i = 0; i < count; ++i) {
            table_[static_cast<std::size_t>(sequence) * max_pages_ + allocated_[sequence]++] = free_.back();
            free_.pop_back();
        }
    }

    // Returns every page of sequence b to the free list.
    void release(int sequence) {
        for (int i = allocated_[sequence] - 1; i >= 0; --i) {
            auto& entry = table_[static_cast<std::size_t>(sequence) * max_pages_ + i];
            free_.push_back(entry);
            entry = -1;
        }
        allocated_[sequence] = 0;
    }

private:
    int batch_ = 0;
    int max_pages_ = 0;
    int pages_ = 0;
    std::vector<std::int32_t> table_;
    std::vector<int> allocated_;
    std::vector<std::int32_t> free_;
};

}  // namespace kvshare
