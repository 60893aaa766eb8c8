#pragma once
// Backend-independent argument checks of the public ops. They run before any backend and before
// anything is written, and throw kvshare::error naming the argument and the value that is wrong.
#include <array>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <type_traits>

#include "kvshare/core/concepts.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/kv_view.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::detail {

template <class T, int Rank, class S>
void check_shape(const tensor_view<T, Rank, S>& view, const char* name, const std::array<index_t, Rank>& expected,
                 const char* layout) {
    for (int i = 0; i < Rank; ++i) {
        if (view.extent(i) != expected[i]) {
            std::ostringstream got, want;
            for (int j = 0; j < Rank; ++j) {
                got << (j ? ", " : "") << view.extent(j);
                want << (j ? ", " : "") << expected[j];
            }
            throw_error(name, ": shape [", got.str(), "] but expected [", want.str(), "] = ", layout);
        }
    }
    KVSHARE_REQUIRE(view.size() == 0 || view.data() != nullptr, name, ": data is null");
    KVSHARE_REQUIRE(view.size() == 0 || view.stride(Rank - 1) == 1, name, ": the last dimension must be contiguous (stride ",
                    view.stride(Rank - 1), ")");
}

template <class S>
void check_offsets(const ragged_offsets<S>& offsets, const char* name, index_t rows, const char* rows_name) {
    KVSHARE_REQUIRE(offsets.host.size() >= 2, name, ": need batch + 1 >= 2 offsets, got ", offsets.host.size());
    KVSHARE_REQUIRE(offsets.host[0] == 0, name, "[0] = ", offsets.host[0], ", must be 0");
    for (std::size_t b = 1; b < offsets.host.size(); ++b)
        KVSHARE_REQUIRE(offsets.host[b] >= offsets.host[b - 1], name, "[", b, "] = ", offsets.host[b],
                        " is less than ", name, "[", b - 1, "] = ", offsets.host[b - 1], " (offsets must not decrease)");
    KVSHARE_REQUIRE(offsets.total() <= rows, name, ": the last offset ", offsets.total(), " exceeds the ", rows,
                    " rows of ", rows_name);
    KVSHARE_REQUIRE(offsets.in_space.extent(0) == static_cast<index_t>(offsets.host.size()) &&
                        offsets.in_space.data() != nullptr,
                    name, ": the in-space copy has ", offsets.in_space.extent(0), " entries (or is null), expected ",
                    offsets.host.size());
}

inline void check_options(const attention_options& options) {
    KVSHARE_REQUIRE(options.window_left >= -1, "options.window_left = ", options.window_left,
                    ": must be >= 0, or -1 for no window");
    KVSHARE_REQUIRE(std::isfinite(options.scale) && options.scale >= 0.0f, "options.scale = ", options.scale,
                    ": must be finite and >= 0 (0 means 1/sqrt(head_dim))");
    KVSHARE_REQUIRE(std::isfinite(options.softcap) && options.softcap >= 0.0f, "options.softcap = ", options.softcap,
                    ": must be finite and >= 0 (0 means off)");
}

template <class Out, int RO, class In, int RI, class S>
void check_no_alias(const tensor_view<Out, RO, S>& out, const char* out_name, const tensor_view<In, RI, S>& in,
                    const char* in_name) {
    KVSHARE_REQUIRE(!overlaps(out, in), out_name, " overlaps ", in_name, " in memory: the output must not alias an input");
}

// q: [total_q, H_q, d], k: [total_kv, H_kv, d], v: [total_kv, H_kv, d_v], out: [total_q, H_q, d_v],
// lse: empty or [total_q, H_q]
template <HeadPolicy Heads, class T, class TOut, class S>
void check_prefill(const tensor_view<const T, 3, S>& q, const tensor_view<const T, 3, S>& k,
                   const tensor_view<const T, 3, S>& v, const tensor_view<TOut, 3, S>& out,
                   const ragged_offsets<S>& q_offsets, const ragged_offsets<S>& kv_offsets,
                   const attention_options& options, const tensor_view<float, 2, S>& lse) {
    const index_t total_q = q.extent(0), total_kv = k.extent(0);
    check_shape(q, "q", {total_q, Heads::q_heads, Heads::head_dim}, "[total_q, H_q, head_dim]");
    check_shape(k, "k", {total_kv, Heads::kv_heads, Heads::head_dim}, "[total_kv, H_kv, head_dim]");
    check_shape(v, "v", {total_kv, Heads::kv_heads, Heads::value_head_dim}, "[total_kv, H_kv, value_head_dim]");
    check_shape(out, "out", {total_q, Heads::q_heads, Heads::value_head_dim}, "[total_q, H_q, value_head_dim]");
    if (!lse.empty()) check_shape(lse, "lse", {total_q, Heads::q_heads}, "[total_q, H_q]");
    check_offsets(q_offsets, "q_offsets", total_q, "q");
    check_offsets(kv_offsets, "kv_offsets", total_kv, "k and v");
    KVSHARE_REQUIRE(q_offsets.batch() == kv_offsets.batch(), "q_offsets has ", q_offsets.batch(),
                    " sequences but kv_offsets has ", kv_offsets.batch());
    check_options(options);
    check_no_alias(out, "out", q, "q");
    check_no_alias(out, "out", k, "k");
    check_no_alias(out, "out", v, "v");
    if (!lse.empty()) {
        check_no_alias(lse, "lse", q, "q");
        check_no_alias(lse, "lse", k, "k");
        check_no_alias(lse, "lse", v, "v");
        check_no_alias(lse, "lse", out, "out");
    }
}

// q: [total_q, H_q, d]; kv: see ops/kv_view.hpp; out: [total_q, H_q, d_v]; lse: empty or [total_q, H_q]
template <HeadPolicy Heads, class T, class TKV, class TOut, class S>
void check_decode(const tensor_view<const T, 3, S>& q, const ragged_offsets<S>& q_offsets, const kv_view<TKV, S>& kv,
                  const tensor_view<TOut, 3, S>& out, const attention_options& options,
                  const tensor_view<float, 2, S>& lse) {
    const index_t total_q = q.extent(0);
    check_shape(q, "q", {total_q, Heads::q_heads, Heads::head_dim}, "[total_q, H_q, head_dim]");
    check_shape(out, "out", {total_q, Heads::q_heads, Heads::value_head_dim}, "[total_q, H_q, value_head_dim]");
    if (!lse.empty()) check_shape(lse, "lse", {total_q, Heads::q_heads}, "[total_q, H_q]");
    check_offsets(q_offsets, "q_offsets", total_q, "q");
    const int batch = q_offsets.batch();
    KVSHARE_REQUIRE(kv.batch() == batch, "kv.lengths has ", kv.batch(), " sequences but q_offsets has ", batch);
    KVSHARE_REQUIRE(kv.lengths_in_space.extent(0) == batch && kv.lengths_in_space.data() != nullptr,
                    "kv.lengths_in_space: ", kv.lengths_in_space.extent(0), " entries (or null), expected ", batch);
    KVSHARE_REQUIRE(kv.page_size >= 0, "kv.page_size = ", kv.page_size, ": must be >= 1 for paged, 0 for contiguous");
    const index_t blocks = kv.k.extent(0), rows = kv.k.extent(1);
    check_shape(kv.k, "kv.k", {blocks, rows, Heads::kv_heads, Heads::head_dim},
                kv.paged() ? "[pages, page_size, H_kv, head_dim]" : "[batch, capacity, H_kv, head_dim]");
    check_shape(kv.v, "kv.v", {blocks, rows, Heads::kv_heads, Heads::value_head_dim},
                kv.paged() ? "[pages, page_size, H_kv, value_head_dim]" : "[batch, capacity, H_kv, value_head_dim]");
    index_t capacity = rows;
    if (kv.paged()) {
        KVSHARE_REQUIRE(rows == kv.page_size, "kv.k: ", rows, " rows per page but page_size = ", kv.page_size);
        KVSHARE_REQUIRE(kv.page_table.extent(0) == batch && kv.page_table.data() != nullptr, "kv.page_table: ",
                        kv.page_table.extent(0), " rows (or null), expected one per sequence (", batch, ")");
        capacity = kv.page_table.extent(1) * kv.page_size;
    } else {
        KVSHARE_REQUIRE(blocks >= batch, "kv.k: ", blocks, " sequences in the cache view but the batch has ", batch);
    }
    for (int b = 0; b < batch; ++b) {
        const index_t length = kv.lengths[b];
        KVSHARE_REQUIRE(length >= 0 && length <= capacity, "kv.lengths[", b, "] = ", length,
                        " is outside the KV view's capacity of ", capacity, " tokens");
        if constexpr (std::is_same_v<S, host_memory>) {
            if (kv.paged())
                for (index_t p = 0; p * kv.page_size < length; ++p) {
                    const auto page = kv.page_table(b, p);
                    KVSHARE_REQUIRE(page >= 0 && page < blocks, "kv.page_table(", b, ", ", p, ") = ", page,
                                    " is not a page of kv.k (", blocks, " pages)");
                }
        }
    }
    check_options(options);
    check_no_alias(out, "out", q, "q");
    check_no_alias(out, "out", kv.k, "kv.k");
    check_no_alias(out, "out", kv.v, "kv.v");
    if (!lse.empty()) {
        check_no_alias(lse, "lse", q, "q");
        check_no_alias(lse, "lse", out, "out");
        check_no_alias(lse, "lse", kv.k, "kv.k");
        check_no_alias(lse, "lse", kv.v, "kv.v");
    }
}

}  // namespace kvshare::detail
