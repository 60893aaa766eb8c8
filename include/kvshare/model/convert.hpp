#pragma once
// Weight conversion between attention variants (a starting point for uptraining, not a substitute):
//
// pool_kv_heads(w, kv_heads): MHA/GQA -> GQA/MQA. K/V head j of the result is the mean of the
//   source heads j·g .. j·g + g-1 (g = source kv_heads / kv_heads), the GQA paper's recipe
//   (Ainslie et al. 2023, mean-pooling). Query head h read source head h / (H_q / H_kv_source),
//   which lies in exactly that group, so a model whose heads are equal within each group is unchanged.
//
// share_kv_across_layers(w, sharing, init): no sharing -> cross-layer sharing. Consumer layers lose
//   their K/V projections; each producer p's projection is
//     cla_init::keep_producer  p's own (Wk_p, Wv_p, its K/V input norm)      — dolomite-engine style
//     cla_init::average_group  the mean over the layers that will read p of the map from the
//                              RMS-normalised residual to K/V, i.e. mean_l(W_l · diag(norm_l)), with
//                              a unit separate K/V norm                       — MLKV style
//   A model whose layers in each group already compute the same K/V (same input to those layers,
//   same projections and norms) is unchanged by either.
#include <string>
#include <vector>

#include "kvshare/core/error.hpp"
#include "kvshare/core/sharing_spec.hpp"
#include "kvshare/model/weights.hpp"

namespace kvshare::nn {

inline decoder_weights pool_kv_heads(const decoder_weights& source, int kv_heads) {
    source.validate();
    const decoder_config& c = source.config;
    KVSHARE_REQUIRE(kv_heads >= 1 && c.kv_heads % kv_heads == 0, "pool_kv_heads: the source's ", c.kv_heads,
                    " K/V heads do not split into ", kv_heads, " equal groups");
    const int group = c.kv_heads / kv_heads;
    const Eigen::Index d = c.head_dim;
    decoder_weights out = source;
    out.config.kv_heads = kv_heads;
    auto pool = [&](const matrix& w) {   // [source kv_heads · d, d_model] -> [kv_heads · d, d_model]
        matrix pooled = matrix::Zero(kv_heads * d, w.cols());
        for (int j = 0; j < kv_heads; ++j)
            for (int g = 0; g < group; ++g) pooled.middleRows(j * d, d) += w.middleRows((j * group + g) * d, d);
        return matrix(pooled / static_cast<float>(group));
    };
    for (auto& layer : out.layers)
        if (layer.wk.size() != 0) {
            layer.wk = pool(layer.wk);
            layer.wv = pool(layer.wv);
        }
    out.validate();
    return out;
}

enum class cla_init { keep_producer, average_group };

inline decoder_weights share_kv_across_layers(const decoder_weights& source, const sharing_spec& sharing,
                                              cla_init init) {
    source.validate();
    KVSHARE_REQUIRE(source.config.sharing.kind == sharing_kind::none, "share_kv_across_layers: the source already "
                    "shares K/V across layers (", to_string(source.config.sharing), "); convert from a model without sharing");
    const int layers = source.config.layers;
    const std::vector<int> slots = slot_map(sharing, layers);
    decoder_weights out = source;
    out.config.sharing = sharing;
    for (int l = 0; l < layers; ++l) {
        auto& layer = out.layers[l];
        if (slots[l] != l) {   // consumer: owns no K/V projection
            layer.wk = matrix();
            layer.wv = matrix();
            layer.kv_norm = vector();
            continue;
        }
        if (init == cla_init::keep_producer) continue;
        // average_group: fold each member's K/V input norm into its projection, then average.
        matrix wk = matrix::Zero(layer.wk.rows(), layer.wk.cols()), wv = matrix::Zero(layer.wv.rows(), layer.wv.cols());
        int members = 0;
        for (int m = 0; m < layers; ++m) {
            if (slots[m] != l) continue;
            const auto& src = source.layers[m];
            const vector& norm = src.kv_norm.size() != 0 ? src.kv_norm : src.attn_norm;
            wk += src.wk * norm.asDiagonal();
            wv += src.wv * norm.asDiagonal();
            ++members;
        }
        layer.wk = wk / static_cast<float>(members);
        layer.wv = wv / static_cast<float>(members);
        layer.kv_norm = vector::Ones(source.config.d_model);
    }
    out.validate();
    return out;
}

}  // namespace kvshare::nn
