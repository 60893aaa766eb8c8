#pragma once
// attention_layer<Heads, Producer>: one self-attention layer of a decoder with (possibly) cross-layer
// KV sharing. A producer owns Q, K, V and output projections; a consumer owns only Q and output
// projections — it has no K/V members at all — and reads the K/V its producer cached.
//   producer: q = x·Wqᵀ, k = x_kv·Wkᵀ, v = x_kv·Wvᵀ; RoPE on q and k; k, v appended to the cache
//   consumer: q = x·Wqᵀ; RoPE on q; attends over its producer's slot
//   both    : out = attention(q, K, V) · Woᵀ   (causal)
// x is the layer's input norm applied to the residual stream h; x_kv is the separate K/V norm of
// h when the producer has one (the CLA paper keeps separate norms for the KV projection), else x.
// K is rotated once, at the producer, before caching; consumers read rotated K.
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "kvshare/core/concepts.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/decode.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/ops/prefill.hpp"
#include "kvshare/model/rms_norm.hpp"
#include "kvshare/model/rope.hpp"
#include "kvshare/model/weights.hpp"

namespace kvshare::nn {

// A producer's K/V projection: wk [H_kv·d, d_model], wv [H_kv·d_v, d_model], norm [d_model] or
// empty (empty: K/V read the attention input norm's output).
struct kv_projection {
    matrix wk, wv;
    vector norm;
};

// Projections are stored transposed ([in, out], row-major): Eigen's GEMM packs such an operand
// much faster than a row-major [out, in] one (2-3x on small batches).

// K/V of one producer for a whole packed batch (the no-cache path): k [tokens, H_kv·d] (rotated),
// v [tokens, H_kv·d_v].
struct packed_kv {
    matrix k, v;
};

template <HeadPolicy Heads, bool Producer>
class attention_layer {
public:
    static constexpr bool producer = Producer;
    static constexpr int q_heads = Heads::q_heads, kv_heads = Heads::kv_heads;
    static constexpr int head_dim = Heads::head_dim, value_head_dim = Heads::value_head_dim;

    // layer: this layer's index; slot: the cache slot it reads (its producer's); wq [H_q·d, d_model];
    // wo [d_model, H_q·d_v]; kv: the K/V projection (producers only).
    attention_layer(int layer, int slot, const matrix& wq, const matrix& wo)
        requires(!Producer)
        : layer_(layer), slot_(slot), wq_t_(wq.transpose()), wo_t_(wo.transpose()) {}
    attention_layer(int layer, int slot, const matrix& wq, const matrix& wo, const kv_projection& kv)
        requires(Producer)
        : layer_(layer), slot_(slot), wq_t_(wq.transpose()), wo_t_(wo.transpose()) {
        // K and V side by side: one GEMM for both. [d_model, H_kv·d + H_kv·d_v]
        kv_.wkv_t.resize(kv.wk.cols(), kv.wk.rows() + kv.wv.rows());
        kv_.wkv_t.leftCols(kv.wk.rows()) = kv.wk.transpose();
        kv_.wkv_t.rightCols(kv.wv.rows()) = kv.wv.transpose();
        kv_.norm = kv.norm;
    }

    int layer() const { return layer_; }
    int slot() const { return slot_; }

    // Through the cache (prefill, chunked prefill or decode): tokens rows offsets[b] .. offsets[b+1]
    // are new tokens of sequence b at positions[row].
    //   h, x : [tokens, d_model]   -> returns [tokens, d_model]
    // Producers append the new K/V to the cache first; then the new queries attend to everything the
    // slot holds (causal, bottom-right aligned).
    template <class Backend, class Cache>
    matrix forward(const matrix& h, const matrix& x, std::span<const std::int32_t> positions,
                   std::span<const std::int32_t> offsets, Cache& cache, const rope& rotary, float eps,
                   const execution<host_memory>& exec) const {
        const index_t tokens = x.rows();
        matrix q = project_q(x, positions, rotary);
        if constexpr (Producer) {
            packed_kv kv = project_kv(h, x, positions, rotary, eps);
            using T = typename Cache::element_type;
            if constexpr (std::is_same_v<T, float>) {
                cache.append(layer_, k_view(kv.k), v_view(kv.v), host_offsets(offsets), exec);
            } else {
                const std::vector<T> k(kv.k.data(), kv.k.data() + kv.k.size()), v(kv.v.data(), kv.v.data() + kv.v.size());
                cache.append(layer_, host_view<const T, 3>(k.data(), {tokens, kv_heads, head_dim}),
                             host_view<const T, 3>(v.data(), {tokens, kv_heads, value_head_dim}), host_offsets(offsets),
                             exec);
            }
        }
        matrix out(tokens, static_cast<index_t>(q_heads) * value_head_dim);
        decode<Heads, Backend>(host_view<const float, 3>(q.data(), {tokens, q_heads, head_dim}), host_offsets(offsets),
                               cache.view(layer_), host_view<float, 3>(out.data(), {tokens, q_heads, value_head_dim}),
                               attention_options{.causal = true}, {}, exec);
        return out * wo_t_;
    }

    // Without a cache (the full recomputation the tests compare against): every token of every
    // sequence at once; producers store their K/V in kv_store[slot], consumers read it.
    template <class Backend>
    matrix forward_full(const matrix& h, const matrix& x, std::span<const std::int32_t> positions,
                        std::span<const std::int32_t> offsets, std::vector<packed_kv>& kv_store, const rope& rotary,
                        float eps, const execution<host_memory>& exec) const {
        const index_t tokens = x.rows();
        matrix q = project_q(x, positions, rotary);
        if constexpr (Producer) kv_store[slot_] = project_kv(h, x, positions, rotary, eps);
        const packed_kv& kv = kv_store[slot_];
        KVSHARE_REQUIRE(kv.k.rows() == tokens, "attention_layer ", layer_, ": the K/V of slot ", slot_,
                        " have not been computed for these tokens (run the layers in order)");
        matrix out(tokens, static_cast<index_t>(q_heads) * value_head_dim);
        prefill<Heads, Backend>(host_view<const float, 3>(q.data(), {tokens, q_heads, head_dim}), k_view(kv.k),
                                v_view(kv.v), host_view<float, 3>(out.data(), {tokens, q_heads, value_head_dim}),
                                host_offsets(offsets), host_offsets(offsets), attention_options{.causal = true}, {},
                                exec);
        return out * wo_t_;
    }

private:
    static host_view<const float, 3> k_view(const matrix& k) { return {k.data(), {k.rows(), kv_heads, head_dim}}; }
    static host_view<const float, 3> v_view(const matrix& v) { return {v.data(), {v.rows(), kv_heads, value_head_dim}}; }

    matrix project_q(const matrix& x, std::span<const std::int32_t> positions, const rope& rotary) const {
        matrix q = x * wq_t_;
        rotary.apply(host_view<float, 3>(q.data(), {q.rows(), q_heads, head_dim}), positions);
        return q;
    }

    packed_kv project_kv(const matrix& h, const matrix& x, std::span<const std::int32_t> positions, const rope& rotary,
                         float eps) const
        requires(Producer)
    {
        const matrix kv_rows = kv_.norm.size() != 0 ? matrix(rms_norm(h, kv_.norm, eps) * kv_.wkv_t) : matrix(x * kv_.wkv_t);
        constexpr index_t k_width = static_cast<index_t>(kv_heads) * head_dim;
        packed_kv kv{kv_rows.leftCols(k_width), kv_rows.rightCols(kv_rows.cols() - k_width)};
        rotary.apply(host_view<float, 3>(kv.k.data(), {kv.k.rows(), kv_heads, head_dim}), positions);
        return kv;
    }

    struct fused_kv {
        matrix wkv_t;   // [d_model, H_kv·d + H_kv·d_v]
        vector norm;
    };
    struct none {};
    int layer_ = 0;
    int slot_ = 0;
    matrix wq_t_;   // [d_model, H_q·d]
    matrix wo_t_;   // [H_q·d_v, d_model]
    [[no_unique_address]] std::conditional_t<Producer, fused_kv, none> kv_;
};

}  // namespace kvshare::nn
