#pragma once
// attention_backend<backend::cpu>: the CPU specialization behind kvshare::prefill / kvshare::decode
// for host views. The head policy is a compile-time type at the API; inside, its numbers travel as
// runtime values, so one kernel instantiation per element type serves every head configuration.
// Element types: q/k/v (and the cache) float or Eigen::bfloat16, out float or Eigen::bfloat16, lse
// float; all arithmetic in fp32. The public ops have already run every argument check
// (ops/checks.hpp) when these are called.
#include <type_traits>

#include "kvshare/backend/cpu/decode.hpp"
#include "kvshare/backend/cpu/prefill.hpp"
#include "kvshare/backend/cpu/simd.hpp"
#include "kvshare/backend/tags.hpp"
#include "kvshare/core/concepts.hpp"

namespace kvshare::backend {

namespace cpu_detail {
template <class T>
inline constexpr bool supported_element = std::is_same_v<T, float> || std::is_same_v<T, bf16>;

template <HeadPolicy Heads>
constexpr head_shape shape_of() {
    return {Heads::q_heads, Heads::kv_heads, Heads::head_dim, Heads::value_head_dim};
}
}  // namespace cpu_detail

template <>
struct attention_backend<cpu> {
    // q: [total_q, H_q, d], k: [total_kv, H_kv, d], v: [total_kv, H_kv, d_v], out: [total_q, H_q, d_v],
    // lse: [total_q, H_q] or empty.
    template <HeadPolicy Heads, class T, class TOut>
    static void prefill(const host_view<const T, 3>& q, const host_view<const T, 3>& k, const host_view<const T, 3>& v,
                        const host_view<TOut, 3>& out, const ragged_offsets<host_memory>& q_offsets,
                        const ragged_offsets<host_memory>& kv_offsets, const attention_options& options,
                        const host_view<float, 2>& lse, const execution<host_memory>& exec = {}) {
        static_assert(cpu_detail::supported_element<T>,
                      "kvshare cpu backend: q, k and v must be float or Eigen::bfloat16");
        static_assert(cpu_detail::supported_element<TOut>,
                      "kvshare cpu backend: out must be float or Eigen::bfloat16");
        cpu_detail::prefill<T, TOut>(cpu_detail::shape_of<Heads>(), q, k, v, out, q_offsets, kv_offsets, options, lse,
                                     exec);
    }

    // q: [total_q, H_q, d]; kv: contiguous or paged cache view; out: [total_q, H_q, d_v]; lse: [total_q, H_q].
    template <HeadPolicy Heads, class T, class TKV, class TOut>
    static void decode(const host_view<const T, 3>& q, const ragged_offsets<host_memory>& q_offsets,
                       const kv_view<TKV, host_memory>& kv, const host_view<TOut, 3>& out,
                       const attention_options& options, const host_view<float, 2>& lse,
                       const execution<host_memory>& exec = {}) {
        static_assert(cpu_detail::supported_element<T>, "kvshare cpu backend: q must be float or Eigen::bfloat16");
        static_assert(cpu_detail::supported_element<TKV>,
                      "kvshare cpu backend: the KV cache must be float or Eigen::bfloat16");
        static_assert(cpu_detail::supported_element<TOut>,
                      "kvshare cpu backend: out must be float or Eigen::bfloat16");
        cpu_detail::decode<T, TKV, TOut>(cpu_detail::shape_of<Heads>(), q, q_offsets, kv, out, options, lse, exec);
    }
};

}  // namespace kvshare::backend
