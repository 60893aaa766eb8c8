#pragma once
// kv_cache<Model, T, Space, Layout>: the K/V of a batch of sequences for every *producer* layer of a
// model. A consumer layer (Model::is_producer(l) == false) owns nothing: its view is its producer's
// slot, and appending to it does not compile (compile-time layer) or throws (runtime layer).
//
//   using m = kvshare::model<4, kvshare::mqa<8, 64>, kvshare::cla<2>>;     // 2 producers
//   kvshare::kv_cache<m, float> cache(/*batch*/ 4, /*capacity*/ 1024);     // contiguous
//   kvshare::kv_cache<m, float, kvshare::host_memory, kvshare::paged_layout> paged(4, 1024, {.page_size = 16});
//   cache.append<0>(k, v, offsets);              // k: [total_new, H_kv, d], v: [total_new, H_kv, d_v]
//   kvshare::decode<m::heads_type>(q, q_offsets, cache.view(1), out, {.causal = true});  // layer 1 reads layer 0
//
// Storage, per slot s in [0, Model::kv_layers) (layouts in cache/layout.hpp):
//   K pool [rows, H_kv, d] then V pool [rows, H_kv, d_v], slots back to back in one allocation;
//   rows = batch · capacity (contiguous) or pages · page_size (paged).
// allocated_bytes() == kv_bytes<Model>(dtype_of<T>, batch, capacity) exactly for the contiguous
// layout; a paged cache holds pages · page_size token rows, and page_rounding_bytes() reports the
// difference.
//
// Lengths are per (slot, sequence): each producer layer appends the step's new tokens in turn, and
// the layers after it (its consumers included) see them. Every append is checked completely before
// anything is written: a call that throws changes nothing (not the K/V bytes, not a length, not a page).
//
// Sequences: rows 0 .. batch-1 of the batch; all are active when the cache is made. release(b) ends
// sequence b and returns its pages; add_sequence() reuses a released row. Appending to a released
// row throws.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "kvshare/cache/element.hpp"
#include "kvshare/cache/layout.hpp"
#include "kvshare/cache/page_pool.hpp"
#include "kvshare/cache/storage.hpp"
#include "kvshare/cache/writer.hpp"
#include "kvshare/core/concepts.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/core/planner.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/ops/kv_view.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare {

template <Model M, class T, MemorySpace Space = host_memory, CacheLayout Layout = contiguous_layout>
class kv_cache {
public:
    using model_type = M;
    using heads_type = typename M::heads_type;
    using element_type = T;
    using space = Space;
    using layout = Layout;
    using source_view = tensor_view<const T, 3, Space>;   // [tokens, H_kv, d] or [tokens, H_kv, d_v]

    static constexpr bool paged = std::is_same_v<Layout, paged_layout>;
    static constexpr int layers = M::layers;
    static constexpr int slots = M::kv_layers;   // one per producer layer
    static constexpr int kv_heads = M::kv_heads;
    static constexpr int head_dim = M::head_dim;
    static constexpr int value_head_dim = M::value_head_dim;
    static constexpr dtype element_dtype = dtype_of<T>;

    // Contiguous: `batch` sequences of up to `capacity` tokens each.
    kv_cache(int batch, int capacity)
        requires(!paged)
        : kv_cache(batch, capacity, 0, 0) {}

    // Paged: `batch` sequences of up to `capacity` tokens each, drawing pages of `pages.page_size`
    // tokens from a pool of `pages.pages` pages (0: batch · ceil(capacity / page_size)).
    kv_cache(int batch, int capacity, page_options pages)
        requires(paged)
        : kv_cache(batch, capacity, pages.page_size, pages.pages) {}

    kv_cache(const kv_cache&) = delete;
    kv_cache& operator=(const kv_cache&) = delete;
    kv_cache(kv_cache&&) noexcept = default;
    kv_cache& operator=(kv_cache&&) noexcept = default;

    // ---- sizes ----------------------------------------------------------------------------------
    int batch() const { return batch_; }
    int capacity() const { return capacity_; }              // tokens per sequence
    int page_size() const { return page_size_; }            // 0 for the contiguous layout
    int pages() const { return paged ? pool_.pages() : 0; }
    int free_pages() const { return paged ? pool_.free_pages() : 0; }
    index_t rows_per_slot() const { return rows_; }         // token rows each slot's pools hold

    // Bytes of K/V storage (page table and lengths not included; see metadata_bytes()).
    std::uint64_t allocated_bytes() const { return storage_.bytes(); }
    // The planner's bytes for (batch, capacity): kv_bytes<Model>(dtype_of<T>, batch, capacity).
    std::uint64_t planned_bytes() const {
        return kv_bytes<M>(element_dtype, static_cast<std::uint64_t>(batch_), static_cast<std::uint64_t>(capacity_));
    }
    // allocated_bytes() - planned_bytes(): 0 for the contiguous layout; for the paged layout the
    // rounding of capacity up to whole pages (positive) or a pool smaller than batch · capacity
    // (negative).
    std::int64_t page_rounding_bytes() const {
        return static_cast<std::int64_t>(allocated_bytes()) - static_cast<std::int64_t>(planned_bytes());
    }
    // Host-side bookkeeping: lengths [slots, batch] and, paged, the page table [batch, max_pages].
    std::uint64_t metadata_bytes() const {
        return sizeof(std::int32_t) * (lengths_.size() + (paged ? pool_.table_size() : 0));
    }
    // The raw storage (host: readable bytes; device: a device pointer). For tests and tools.
    const std::byte* data() const { return storage_.data(); }

    // ---- sequences ------------------------------------------------------------------------------
    bool active(int sequence) const { return sequence >= 0 && sequence < batch_ && active_[sequence]; }

    // Reactivates the lowest released row and returns it; throws when every row is in use.
    int add_sequence() {
        for (int b = 0; b < batch_; ++b)
            if (!active_[b]) {
                active_[b] = 1;
                return b;
            }
        detail::throw_error("kv_cache::add_sequence: all ", batch_, " rows of the batch are in use (release one first)");
    }

    // Ends sequence b: its lengths drop to 0 and (paged) its pages return to the free list.
    void release(int sequence) {
        KVSHARE_REQUIRE(active(sequence), "kv_cache::release: sequence ", sequence, " is not in the cache (batch ",
                        batch_, ")");
        for (int s = 0; s < slots; ++s) lengths_[index_of(s, sequence)] = 0;
        if constexpr (paged) pool_.release(sequence);
        active_[sequence] = 0;
        publish(paged);
    }

    // Releases everything and makes all rows active again (K/V bytes are left as they are).
    void clear() {
        for (int b = 0; b < batch_; ++b) {
            if constexpr (paged) pool_.release(b);
            active_[b] = 1;
        }
        std::fill(lengths_.begin(), lengths_.end(), 0);
        publish(paged);
    }

    // Tokens cached for `sequence` in the slot that `layer` reads.
    int length(int layer, int sequence) const {
        check_layer(layer, "kv_cache::length");
        KVSHARE_REQUIRE(sequence >= 0 && sequence < batch_, "kv_cache::length: sequence ", sequence,
                        " is outside the batch of ", batch_);
        return lengths_[index_of(M::cache_slot(layer), sequence)];
    }
    // [batch] lengths of the slot that `layer` reads (host).
    std::span<const std::int32_t> lengths(int layer) const {
        check_layer(layer, "kv_cache::lengths");
        return {lengths_.data() + index_of(M::cache_slot(layer), 0), static_cast<std::size_t>(batch_)};
    }
    // Pages held by `sequence` (paged layout).
    int pages_of(int sequence) const
        requires(paged)
    {
        return pool_.allocated(sequence);
    }

    // ---- append ---------------------------------------------------------------------------------
    // Appends new tokens of a ragged batch to the slot of producer layer Layer:
    //   k       : [total_new, H_kv, d  ]   rows offsets[b] .. offsets[b+1] go to sequence b
    //   v       : [total_new, H_kv, d_v]
    //   offsets : [batch + 1]; a sequence may get 0 tokens
    // A consumer layer does not compile. Throws kvshare::error, before writing anything, on wrong
    // shapes, a released sequence, a sequence that would exceed the capacity, too few free pages.
    template <int Layer>
    void append(const source_view& k, const source_view& v, const ragged_offsets<Space>& offsets,
                const execution<Space>& exec = {}) {
        static_assert(Layer >= 0 && Layer < M::layers, "kv_cache::append<Layer>: Layer is not a layer of the model");
        static_assert(M::is_producer(Layer),
                      "kv_cache::append<Layer>: Layer is a consumer layer (it reads an earlier producer's K/V and "
                      "owns no cache slot); append to its producer Model::slot(Layer) instead");
        append_checked(Layer, k, v, offsets.host, exec);
    }
    template <int Layer>
    void append(std::integral_constant<int, Layer>, const source_view& k, const source_view& v,
                const ragged_offsets<Space>& offsets, const execution<Space>& exec = {}) {
        append<Layer>(k, v, offsets, exec);
    }
    // Runtime layer: a consumer throws kvshare::error naming its producer.
    void append(int layer, const source_view& k, const source_view& v, const ragged_offsets<Space>& offsets,
                const execution<Space>& exec = {}) {
        append_checked(layer, k, v, offsets.host, exec);
    }

    // One sequence: k [n, H_kv, d], v [n, H_kv, d_v] are appended to `sequence`.
    template <int Layer>
    void append(int sequence, const source_view& k, const source_view& v, const execution<Space>& exec = {}) {
        static_assert(Layer >= 0 && Layer < M::layers, "kv_cache::append<Layer>: Layer is not a layer of the model");
        static_assert(M::is_producer(Layer),
                      "kv_cache::append<Layer>: Layer is a consumer layer (it reads an earlier producer's K/V and "
                      "owns no cache slot); append to its producer Model::slot(Layer) instead");
        append_one(Layer, sequence, k, v, exec);
    }
    void append(int layer, int sequence, const source_view& k, const source_view& v,
                const execution<Space>& exec = {}) {
        append_one(layer, sequence, k, v, exec);
    }

    // ---- views ----------------------------------------------------------------------------------
    // The K/V that `layer` reads: its producer's slot, ready for kvshare::decode. The view reads the
    // cache's current lengths (it sees later appends) and is valid for the cache's lifetime.
    kv_view<T, Space> view(int layer) const {
        check_layer(layer, "kv_cache::view");
        return slot_view(M::cache_slot(layer));
    }
    template <int Layer>
    kv_view<T, Space> view() const {
        static_assert(Layer >= 0 && Layer < M::layers, "kv_cache::view<Layer>: Layer is not a layer of the model");
        return slot_view(M::cache_slot(Layer));
    }

private:
    kv_cache(int batch, int capacity, int page_size, int pages) : batch_(batch), capacity_(capacity), page_size_(page_size) {
        KVSHARE_REQUIRE(batch >= 1, "kv_cache: batch = ", batch, ", must be >= 1");
        KVSHARE_REQUIRE(capacity >= 1, "kv_cache: capacity = ", capacity, " tokens, must be >= 1");
        if constexpr (paged) {
            KVSHARE_REQUIRE(page_size >= 1, "kv_cache: page_size = ", page_size, ", must be >= 1");
            KVSHARE_REQUIRE(pages >= 0, "kv_cache: pages = ", pages, ", must be >= 0 (0: enough for batch x capacity)");
            const std::int64_t max_pages = (static_cast<std::int64_t>(capacity) + page_size - 1) / page_size;
            const std::int64_t pool = pages > 0 ? pages : max_pages * batch;
            KVSHARE_REQUIRE(pool <= std::numeric_limits<std::int32_t>::max(), "kv_cache: ", pool,
                            " pages do not fit int32 page ids");
            rows_ = pool * page_size;
            pool_ = page_pool(batch, static_cast<int>(max_pages), static_cast<int>(pool));
        } else {
            rows_ = static_cast<index_t>(batch) * capacity;
        }
        // Same arithmetic as the planner, with its overflow checks: rows tokens of one sequence.
        const std::uint64_t bytes = kv_bytes<M>(element_dtype, 1, static_cast<std::uint64_t>(rows_));
        KVSHARE_REQUIRE(bytes <= std::numeric_limits<std::size_t>::max(), "kv_cache: ", bytes,
                        " bytes do not fit in size_t");
        storage_ = kv_storage<Space>(static_cast<std::size_t>(bytes));
        lengths_.assign(static_cast<std::size_t>(slots) * batch, 0);
        active_.assign(batch, 1);
        publish(paged);
    }

    static constexpr index_t k_row_elements = static_cast<index_t>(kv_heads) * head_dim;
    static constexpr index_t v_row_elements = static_cast<index_t>(kv_heads) * value_head_dim;

    std::size_t index_of(int slot, int sequence) const {
        return static_cast<std::size_t>(slot) * batch_ + sequence;
    }
    T* k_pool(int slot) const {
        return reinterpret_cast<T*>(storage_.data()) + slot * rows_ * (k_row_elements + v_row_elements);
    }
    T* v_pool(int slot) const { return k_pool(slot) + rows_ * k_row_elements; }

    static void check_layer(int layer, const char* where) {
        KVSHARE_REQUIRE(layer >= 0 && layer < M::layers, where, ": layer ", layer, " is outside [0, ", M::layers, ")");
    }

    // Tells the in-space mirror what changed (device caches copy the page table and lengths).
    void publish(bool page_table_changed, const execution<Space>& exec = {}) {
        const index_pointers pointers = mirror_.publish(paged ? pool_.table() : nullptr, paged ? pool_.table_size() : 0,
                                                        page_table_changed, lengths_.data(), lengths_.size(), exec);
        page_table_in_space_ = pointers.page_table;
        lengths_in_space_ = pointers.lengths;
    }

    kv_view<T, Space> slot_view(int slot) const {
        kv_view<T, Space> view;
        if constexpr (paged) {
            view.k = {k_pool(slot), {pool_.pages(), page_size_, kv_heads, head_dim}};
            view.v = {v_pool(slot), {pool_.pages(), page_size_, kv_heads, value_head_dim}};
            view.page_size = page_size_;
            view.page_table = {page_table_in_space_, {batch_, pool_.max_pages()}};
        } else {
            view.k = {k_pool(slot), {batch_, capacity_, kv_heads, head_dim}};
            view.v = {v_pool(slot), {batch_, capacity_, kv_heads, value_head_dim}};
        }
        view.lengths = {lengths_.data() + index_of(slot, 0), static_cast<std::size_t>(batch_)};
        view.lengths_in_space = {lengths_in_space_ + index_of(slot, 0), {batch_}};
        return view;
    }

    template <class V>
    void check_source(const V& view, const char* name, index_t rows, int width, const char* layout) const {
        const bool shape_ok = view.extent(0) == rows && view.extent(1) == kv_heads && view.extent(2) == width;
        KVSHARE_REQUIRE(shape_ok, "kv_cache::append: ", name, " has shape [", view.extent(0), ", ", view.extent(1), ", ",
                        view.extent(2), "] but expected [", rows, ", ", kv_heads, ", ", width, "] = ", layout);
        if (rows == 0) return;
        KVSHARE_REQUIRE(view.data() != nullptr, "kv_cache::append: ", name, " is null");
        KVSHARE_REQUIRE(view.stride(2) == 1, "kv_cache::append: ", name, ": the last dimension must be contiguous (stride ",
                        view.stride(2), ")");
        // Appending the cache's own bytes could overwrite a source row before it is read.
        const auto [lo, hi] = view.byte_range();
        const std::byte* begin = storage_.data();
        const std::byte* end = begin + storage_.bytes();
        KVSHARE_REQUIRE(hi < begin || lo >= end, "kv_cache::append: ", name, " points into the cache's own storage");
    }

    void append_one(int layer, int sequence, const source_view& k, const source_view& v,
                    const execution<Space>& exec) {
        KVSHARE_REQUIRE(sequence >= 0 && sequence < batch_, "kv_cache::append: sequence ", sequence,
                        " is not in the cache (batch of ", batch_, ")");
        KVSHARE_REQUIRE(k.extent(0) <= std::numeric_limits<std::int32_t>::max(), "kv_cache::append: ", k.extent(0),
                        " rows are too many");
        std::vector<std::int32_t> offsets(static_cast<std::size_t>(batch_) + 1, 0);
        for (int b = sequence + 1; b <= batch_; ++b) offsets[b] = static_cast<std::int32_t>(k.extent(0));
        append_checked(layer, k, v, offsets, exec);
    }

    // All checks first; then pages, the copy, the lengths. Nothing after the checks can throw except
    // the allocation of the run list, which happens before any state changes.
    void append_checked(int layer, const source_view& k, const source_view& v, std::span<const std::int32_t> offsets,
                        const execution<Space>& exec) {
        check_layer(layer, "kv_cache::append");
        KVSHARE_REQUIRE(M::is_producer(layer), "kv_cache::append: layer ", layer,
                        " is a consumer: it reads the K/V of layer ", M::slot(layer),
                        " and owns no cache slot; append to layer ", M::slot(layer), " instead");
        const int slot = M::cache_slot(layer);

        KVSHARE_REQUIRE(offsets.size() == static_cast<std::size_t>(batch_) + 1, "kv_cache::append: offsets has ",
                        offsets.size(), " entries, expected batch + 1 = ", batch_ + 1);
        KVSHARE_REQUIRE(offsets[0] == 0, "kv_cache::append: offsets[0] = ", offsets[0], ", must be 0");
        for (int b = 0; b < batch_; ++b)
            KVSHARE_REQUIRE(offsets[b + 1] >= offsets[b], "kv_cache::append: offsets[", b + 1, "] = ", offsets[b + 1],
                            " is less than offsets[", b, "] = ", offsets[b]);
        const index_t total = offsets[batch_];
        check_source(k, "k", total, head_dim, "[total_new, H_kv, head_dim]");
        check_source(v, "v", total, value_head_dim, "[total_new, H_kv, value_head_dim]");
        if constexpr (requires { kv_writer<Space>::template check<T>(k); }) {
            if (total > 0) {
                kv_writer<Space>::template check<T>(k);
                kv_writer<Space>::template check<T>(v);
            }
        }

        std::int64_t pages_needed = 0;
        std::size_t runs_needed = 0;
        for (int b = 0; b < batch_; ++b) {
            const std::int64_t n = offsets[b + 1] - offsets[b];
            if (n == 0) continue;
            KVSHARE_REQUIRE(active_[b], "kv_cache::append: sequence ", b,
                            " is not in the cache (it was released; add_sequence() makes a row active again)");
            const std::int64_t length = lengths_[index_of(slot, b)];
            KVSHARE_REQUIRE(length + n <= capacity_, "kv_cache::append: sequence ", b, " holds ", length,
                            " tokens in layer ", layer, "; ", n, " more exceed the capacity of ", capacity_);
            if constexpr (paged) {
                pages_needed += pool_.missing(b, length + n, page_size_);
                runs_needed += static_cast<std::size_t>(n / page_size_ + 2);
            } else {
                runs_needed += 1;
            }
        }
        if constexpr (paged)
            KVSHARE_REQUIRE(pages_needed <= pool_.free_pages(), "kv_cache::append: the new tokens need ", pages_needed,
                            " more pages of ", page_size_, " tokens but only ", pool_.free_pages(), " of ",
                            pool_.pages(), " are free");

        std::vector<row_run> runs;
        runs.reserve(runs_needed);   // the last thing that may throw
        const bool grows = paged && pages_needed > 0;

        for (int b = 0; b < batch_; ++b) {
            const index_t n = offsets[b + 1] - offsets[b];
            if (n == 0) continue;
            const index_t start = lengths_[index_of(slot, b)];
            if constexpr (paged) {
                pool_.grow(b, pool_.missing(b, start + n, page_size_));
                index_t done = 0;
                while (done < n) {
                    const index_t t = start + done;
                    const index_t in_page = t % page_size_;
                    const index_t count = std::min<index_t>(n - done, page_size_ - in_page);
                    const index_t page = pool_.page(b, static_cast<int>(t / page_size_));
                    runs.push_back({offsets[b] + done, page * page_size_ + in_page, count});
                    done += count;
                }
            } else {
                runs.push_back({offsets[b], static_cast<index_t>(b) * capacity_ + start, n});
            }
        }
        kv_writer<Space>::write(std::span<const row_run>(runs), k, k_pool(slot), exec);
        kv_writer<Space>::write(std::span<const row_run>(runs), v, v_pool(slot), exec);
        for (int b = 0; b < batch_; ++b) lengths_[index_of(slot, b)] += offsets[b + 1] - offsets[b];
        publish(grows, exec);
    }

    int batch_ = 0;
    int capacity_ = 0;
    int page_size_ = 0;
    index_t rows_ = 0;
    kv_storage<Space> storage_;
    page_pool pool_;
    std::vector<std::int32_t> lengths_;   // [slots, batch]
    std::vector<char> active_;            // [batch]
    kv_index_mirror<Space> mirror_;
    const std::int32_t* page_table_in_space_ = nullptr;
    const std::int32_t* lengths_in_space_ = nullptr;
};

}  // namespace kvshare
