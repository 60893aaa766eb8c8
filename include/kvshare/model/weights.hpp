#pragma once
// decoder_weights: the parameters of a Llama-style decoder as plain fp32 Eigen matrices, in the
// Hugging Face orientation (a projection y = x · Wᵀ stores W as [out, in]). This is the exchange
// form: checkpoints load into it, conversions rewrite it, and decoder<Model> takes it over.
//   embed      [vocab, d_model]            (tied: also the output projection)
//   lm_head    [vocab, d_model] or empty   (untied checkpoints only)
//   per layer:
//     attn_norm [d_model]                  input_layernorm: feeds Q (and K/V unless kv_norm is set)
//     wq        [H_q · d,  d_model]
//     wk        [H_kv · d, d_model]        producers only; empty in consumer layers
//     wv        [H_kv · d, d_model]        producers only
//     kv_norm   [d_model] or empty         a separate RMSNorm for the K/V input (CLA paper); producers only
//     wo        [d_model, H_q · d]
//     mlp_norm  [d_model]                  post_attention_layernorm
//     gate, up  [ffn, d_model];  down [d_model, ffn]
//   final_norm [d_model]
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "kvshare/core/error.hpp"
#include "kvshare/model/config.hpp"

namespace kvshare::nn {

using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using vector = Eigen::VectorXf;

struct layer_weights {
    vector attn_norm;
    matrix wq, wk, wv, wo;
    vector kv_norm;
    vector mlp_norm;
    matrix gate, up, down;
};

struct decoder_weights {
    decoder_config config;
    matrix embed;
    matrix lm_head;   // empty when tied
    std::vector<layer_weights> layers;
    vector final_norm;

    // Checks every tensor's shape against the config and the sharing map: consumers must not have
    // K/V projections (they own none), producers must. Throws kvshare::error naming the tensor.
    void validate() const {
        config.validate();
        const auto slots = config.desc().validated_slots();
        const auto& c = config;
        auto shape = [](const auto& m, Eigen::Index rows, Eigen::Index cols, const std::string& name) {
            KVSHARE_REQUIRE(m.rows() == rows && m.cols() == cols, "decoder_weights: ", name, " is [", m.rows(), ", ",
                            m.cols(), "], expected [", rows, ", ", cols, "]");
        };
        auto length = [](const vector& v, Eigen::Index n, const std::string& name) {
            KVSHARE_REQUIRE(v.size() == n, "decoder_weights: ", name, " has ", v.size(), " entries, expected ", n);
        };
        shape(embed, c.vocab_size, c.d_model, "embed");
        if (c.tie_embeddings)
            KVSHARE_REQUIRE(lm_head.size() == 0, "decoder_weights: lm_head is set but the config ties the embeddings");
        else
            shape(lm_head, c.vocab_size, c.d_model, "lm_head");
        length(final_norm, c.d_model, "final_norm");
        KVSHARE_REQUIRE(static_cast<int>(layers.size()) == c.layers, "decoder_weights: ", layers.size(),
                        " layers, the config says ", c.layers);
        const Eigen::Index q_width = static_cast<Eigen::Index>(c.q_heads) * c.head_dim;
        const Eigen::Index kv_width = static_cast<Eigen::Index>(c.kv_heads) * c.head_dim;
        for (int l = 0; l < c.layers; ++l) {
            const auto& w = layers[l];
            const std::string at = "layer " + std::to_string(l) + " ";
            length(w.attn_norm, c.d_model, at + "attn_norm");
            length(w.mlp_norm, c.d_model, at + "mlp_norm");
            shape(w.wq, q_width, c.d_model, at + "wq");
            shape(w.wo, c.d_model, q_width, at + "wo");
            shape(w.gate, c.ffn, c.d_model, at + "gate");
            shape(w.up, c.ffn, c.d_model, at + "up");
            shape(w.down, c.d_model, c.ffn, at + "down");
            if (slots[l] == l) {
                shape(w.wk, kv_width, c.d_model, at + "wk");
                shape(w.wv, kv_width, c.d_model, at + "wv");
                if (w.kv_norm.size() != 0) length(w.kv_norm, c.d_model, at + "kv_norm");
            } else {
                KVSHARE_REQUIRE(w.wk.size() == 0 && w.wv.size() == 0 && w.kv_norm.size() == 0, "decoder_weights: ",
                                at, "is a consumer (reads layer ", slots[l], "'s K/V) but has K/V projection weights");
            }
        }
    }
};

// Deterministic random weights: std::mt19937(seed); projections uniform in ±sqrt(3 / fan_in) (unit
// variance outputs), embeddings ±sqrt(3 / d_model), norm weights 1 ± 0.2 (so a wrong norm shows).
// separate_kv_norm: give producers their own K/V-input norm (the CLA paper's choice for CLA models).
inline decoder_weights random_weights(const decoder_config& config, std::uint32_t seed, bool separate_kv_norm) {
    config.validate();
    std::mt19937 rng(seed);
    auto uniform = [&](Eigen::Index rows, Eigen::Index cols, Eigen::Index fan_in) {
        std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
        const float scale = std::sqrt(3.0f / static_cast<float>(fan_in));
        matrix m(rows, cols);
        for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * dist(rng);
        return m;
    };
    auto norm = [&](Eigen::Index n) {
        std::uniform_real_distribution<float> dist(0.8f, 1.2f);
        vector v(n);
        for (Eigen::Index i = 0; i < n; ++i) v[i] = dist(rng);
        return v;
    };
    const auto slots = config.desc().validated_slots();
    const Eigen::Index d = config.d_model, q_width = static_cast<Eigen::Index>(config.q_heads) * config.head_dim,
                       kv_width = static_cast<Eigen::Index>(config.kv_heads) * config.head_dim;
    decoder_weights w;
    w.config = config;
    w.embed = uniform(config.vocab_size, d, d);
    if (!config.tie_embeddings) w.lm_head = uniform(config.vocab_size, d, d);
    for (int l = 0; l < config.layers; ++l) {
        layer_weights layer;
        layer.attn_norm = norm(d);
        layer.wq = uniform(q_width, d, d);
        if (slots[l] == l) {
            layer.wk = uniform(kv_width, d, d);
            layer.wv = uniform(kv_width, d, d);
            if (separate_kv_norm) layer.kv_norm = norm(d);
        }
        layer.wo = uniform(d, q_width, q_width);
        layer.mlp_norm = norm(d);
        layer.gate = uniform(config.ffn, d, d);
        layer.up = uniform(config.ffn, d, d);
        layer.down = uniform(d, config.ffn, config.ffn);
        w.layers.push_back(std::move(layer));
    }
    w.final_norm = norm(d);
    return w;
}

}  // namespace kvshare::nn
