#pragma once
// decoder<Model, Backend>: a small Llama-style decoder (RMSNorm, RoPE, SwiGLU MLP, tied or untied
// embeddings) whose attention is described by the model type: producers own K/V projections and
// cache slots, consumers read their producer's slot. Projections are fp32 Eigen products; attention
// runs through kvshare::decode (with a cache) or kvshare::prefill (full recomputation).
//
//   using m = kvshare::model<6, kvshare::mqa<8, 64>, kvshare::cla<2>>;
//   kvshare::nn::decoder<m> net(kvshare::nn::random_weights(config, /*seed*/ 1, /*separate_kv_norm*/ true));
//   kvshare::kv_cache<m, float> cache(batch, capacity);
//   matrix logits = net.forward(cache, tokens, offsets);   // tokens [total], offsets [batch + 1]
//
// Block l: h += attention_l(h, attn_norm_l(h)); h += swiglu_l(mlp_norm_l(h)).
// Logits: final_norm(h) · embedᵀ (or lm_headᵀ).
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "kvshare/core/concepts.hpp"
#include "kvshare/core/dispatch.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/model/attention_layer.hpp"
#include "kvshare/model/rms_norm.hpp"
#include "kvshare/model/rope.hpp"
#include "kvshare/model/swiglu.hpp"
#include "kvshare/model/weights.hpp"

namespace kvshare::nn {

template <Model M, class Backend = void>
class decoder {
public:
    using model_type = M;
    using heads_type = typename M::heads_type;
    using producer_layer = attention_layer<heads_type, true>;
    using consumer_layer = attention_layer<heads_type, false>;
    static_assert(M::head_dim == M::value_head_dim,
                  "decoder: the Llama-style decoder uses one head width for Q, K and V (value_head_dim == head_dim)");

    struct block {
        vector attn_norm;
        std::variant<producer_layer, consumer_layer> attention;
        vector mlp_norm;
        swiglu_weights mlp;
    };

    // Takes the weights over; throws kvshare::error when they do not describe model M (heads,
    // layers, sharing map) or a tensor has the wrong shape.
    explicit decoder(decoder_weights weights) : config_(weights.config) {
        weights.validate();
        const model_desc desc = config_.desc();
        KVSHARE_REQUIRE(kvshare::detail::describes<M>(desc, desc.validated_slots()), "decoder: the weights describe {",
                        to_string(desc), "} but the decoder was compiled for {", to_string(model_desc::of<M>()), "}");
        rotary_ = rope(M::head_dim, config_.rope_theta);
        // The output projection is kept transposed ([d_model, vocab], see swiglu.hpp for why); with
        // tied embeddings the token lookup reads its columns, so the matrix is held once.
        head_t_ = (weights.lm_head.size() != 0 ? weights.lm_head : weights.embed).transpose();
        if (weights.lm_head.size() != 0) embed_ = std::move(weights.embed);
        final_norm_ = std::move(weights.final_norm);
        for (int l = 0; l < M::layers; ++l) {
            auto& w = weights.layers[l];
            const int slot = M::cache_slot(l);
            auto attention = M::is_producer(l)
                                 ? std::variant<producer_layer, consumer_layer>(
                                       std::in_place_type<producer_layer>, l, slot, w.wq, w.wo,
                                       kv_projection{std::move(w.wk), std::move(w.wv), std::move(w.kv_norm)})
                                 : std::variant<producer_layer, consumer_layer>(std::in_place_type<consumer_layer>, l,
                                                                                slot, w.wq, w.wo);
            blocks_.push_back(block{std::move(w.attn_norm), std::move(attention), std::move(w.mlp_norm),
                                    swiglu_weights::from(w.gate, w.up, w.down)});
            w = layer_weights{};   // free the source as we go
        }
    }

    const decoder_config& config() const { return config_; }
    const std::vector<block>& blocks() const { return blocks_; }

    // Through a cache: new tokens of a ragged batch, rows offsets[b] .. offsets[b+1] for sequence b,
    // continuing where the sequence stands in the cache (a prompt, a prompt chunk, or one decode
    // token). Returns the logits [total_new, vocab]. Every producer appends its K/V.
    template <class Cache>
    matrix forward(Cache& cache, std::span<const std::int32_t> tokens, std::span<const std::int32_t> offsets,
                   const execution<host_memory>& exec = {}) const {
        static_assert(std::is_same_v<typename Cache::model_type, M>,
                      "decoder::forward: the cache was made for a different model type");
        check_batch(tokens, offsets, cache.batch());
        // Position of each new token: where its sequence stands. All producer slots must agree (a
        // previous forward that threw part-way would leave them apart).
        std::vector<std::int32_t> positions(tokens.size());
        for (int b = 0; b + 1 < static_cast<int>(offsets.size()); ++b) {
            if (offsets[b + 1] == offsets[b]) continue;
            const int start = cache.length(0, b);
            for (int p : M::producers)
                KVSHARE_REQUIRE(cache.length(p, b) == start, "decoder::forward: sequence ", b, " holds ", start,
                                " tokens in layer 0 but ", cache.length(p, b), " in layer ", p,
                                " (the cache's layers are out of step)");
            for (auto i = offsets[b]; i < offsets[b + 1]; ++i) positions[i] = start + (i - offsets[b]);
        }
        matrix h = embed(tokens);
        for (const block& blk : blocks_) {
            const matrix x = rms_norm(h, blk.attn_norm, config_.rms_eps);
            h += std::visit(
                [&](const auto& attention) {
                    return attention.template forward<Backend>(h, x, positions, offsets, cache, rotary_,
                                                               config_.rms_eps, exec);
                },
                blk.attention);
            h += swiglu(rms_norm(h, blk.mlp_norm, config_.rms_eps), blk.mlp);
        }
        return logits(h);
    }

    // Full recomputation without a cache: sequence b is tokens[offsets[b] .. offsets[b+1]) from
    // position 0. Returns the logits [total, vocab]; kv_out (optional) receives every producer's K/V
    // ([tokens, H_kv·d], K rotated), indexed by cache slot.
    matrix forward_full(std::span<const std::int32_t> tokens, std::span<const std::int32_t> offsets,
                        const execution<host_memory>& exec = {}, std::vector<packed_kv>* kv_out = nullptr) const {
        check_batch(tokens, offsets, -1);
        std::vector<std::int32_t> positions(tokens.size());
        for (std::size_t b = 0; b + 1 < offsets.size(); ++b)
            for (auto i = offsets[b]; i < offsets[b + 1]; ++i) positions[i] = i - offsets[b];
        std::vector<packed_kv> store(M::kv_layers);
        matrix h = embed(tokens);
        for (const block& blk : blocks_) {
            const matrix x = rms_norm(h, blk.attn_norm, config_.rms_eps);
            h += std::visit(
                [&](const auto& attention) {
                    return attention.template forward_full<Backend>(h, x, positions, offsets, store, rotary_,
                                                                    config_.rms_eps, exec);
                },
                blk.attention);
            h += swiglu(rms_norm(h, blk.mlp_norm, config_.rms_eps), blk.mlp);
        }
        if (kv_out) *kv_out = std::move(store);
        return logits(h);
    }

private:
    void check_batch(std::span<const std::int32_t> tokens, std::span<const std::int32_t> offsets, int batch) const {
        KVSHARE_REQUIRE(offsets.size() >= 2, "decoder: offsets needs batch + 1 >= 2 entries, got ", offsets.size());
        KVSHARE_REQUIRE(batch < 0 || static_cast<int>(offsets.size()) == batch + 1, "decoder: offsets has ",
                        offsets.size(), " entries but the cache holds ", batch, " sequences");
        KVSHARE_REQUIRE(offsets[0] == 0, "decoder: offsets[0] = ", offsets[0], ", must be 0");
        for (std::size_t b = 1; b < offsets.size(); ++b)
            KVSHARE_REQUIRE(offsets[b] >= offsets[b - 1], "decoder: offsets decrease at ", b);
        KVSHARE_REQUIRE(static_cast<std::size_t>(offsets.back()) == tokens.size(), "decoder: offsets end at ",
                        offsets.back(), " but there are ", tokens.size(), " tokens");
        for (std::size_t i = 0; i < tokens.size(); ++i)
            KVSHARE_REQUIRE(tokens[i] >= 0 && tokens[i] < config_.vocab_size, "decoder: token ", i, " = ", tokens[i],
                            " is outside the vocabulary [0, ", config_.vocab_size, ")");
    }

    matrix embed(std::span<const std::int32_t> tokens) const {
        matrix h(static_cast<index_t>(tokens.size()), config_.d_model);
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            if (embed_.size() != 0)
                h.row(static_cast<index_t>(i)) = embed_.row(tokens[i]);
            else
                h.row(static_cast<index_t>(i)) = head_t_.col(tokens[i]).transpose();
        }
        return h;
    }

    matrix logits(const matrix& h) const { return rms_norm(h, final_norm_, config_.rms_eps) * head_t_; }

    decoder_config config_;
    rope rotary_;
    matrix embed_;    // [vocab, d_model], untied models only
    matrix head_t_;   // [d_model, vocab]: embedᵀ (tied) or lm_headᵀ
    vector final_norm_;
    std::vector<block> blocks_;
};

}  // namespace kvshare::nn
