// Weight conversion: MHA -> GQA/MQA by mean-pooling K/V heads, no sharing -> CLA by keeping the
// producers' projections or averaging over the group. Shapes, and outputs unchanged for a model
// whose heads/layers were already identical (and changed for one whose were not).
#include <doctest/doctest.h>

#include <random>

#include "attention_backend.hpp"
#include "kvshare/core.hpp"
#include "kvshare/model/convert.hpp"
#include "kvshare/model/decoder.hpp"

using namespace kvshare;

namespace {

using mha_m = model<4, mha<4, 8>, no_sharing>;
using gqa_m = model<4, gqa<4, 2, 8>, no_sharing>;
using mqa_m = model<4, mqa<4, 8>, no_sharing>;
using mha_cla2 = model<4, mha<4, 8>, cla<2>>;
using mqa_cla2 = model<4, mqa<4, 8>, cla<2>>;

nn::decoder_config mha_config() {
    nn::decoder_config c;
    c.vocab_size = 47;
    c.d_model = 32;
    c.ffn = 40;
    c.layers = 4;
    c.q_heads = 4;
    c.kv_heads = 4;
    c.head_dim = 8;
    return c;
}

struct batch_of_tokens {
    std::vector<std::int32_t> tokens, offsets;
};
batch_of_tokens some_batch(int vocab) {
    std::mt19937 rng(8);
    batch_of_tokens b{{}, {0}};
    for (int n : {7, 3, 12}) {
        for (int i = 0; i < n; ++i) b.tokens.push_back(std::uniform_int_distribution<int>(0, vocab - 1)(rng));
        b.offsets.push_back(static_cast<std::int32_t>(b.tokens.size()));
    }
    return b;
}

template <class M>
nn::matrix logits(const nn::decoder_weights& w) {
    const auto batch = some_batch(w.config.vocab_size);
    return nn::decoder<M, test::backend>(w).forward_full(batch.tokens, batch.offsets);
}

double max_diff(const nn::matrix& a, const nn::matrix& b) { return (a - b).cwiseAbs().maxCoeff(); }

// Makes the K/V heads equal within each group of `group` heads (copies the group's first head).
void equalize_heads(nn::decoder_weights& w, int group) {
    const int d = w.config.head_dim;
    for (auto& layer : w.layers)
        for (auto* m : {&layer.wk, &layer.wv})
            for (int h = 0; h < w.config.kv_heads; ++h)
                if (h % group != 0) m->middleRows(h * d, d) = m->middleRows((h - h % group) * d, d).eval();
}

// Makes every CLA-2 group compute the same K/V in both of its layers: the first layer of a group
// adds nothing to the residual (zero output and down projections), so the second sees the same
// input, and the second copies the first's K/V projections and input norm.
void equalize_layers(nn::decoder_weights& w) {
    for (int p = 0; p + 1 < w.config.layers; p += 2) {
        auto& producer = w.layers[p];
        auto& consumer = w.layers[p + 1];
        producer.wo.setZero();
        producer.down.setZero();
        consumer.wk = producer.wk;
        consumer.wv = producer.wv;
        consumer.attn_norm = producer.attn_norm;
    }
}

}  // namespace

TEST_CASE("pool_kv_heads: shapes, and the mean of each group") {
    const auto w = nn::random_weights(mha_config(), 1, false);
    const auto g = nn::pool_kv_heads(w, 2);
    const auto q = nn::pool_kv_heads(w, 1);
    CHECK(g.config.kv_heads == 2);
    CHECK(q.config.kv_heads == 1);
    for (int l = 0; l < 4; ++l) {
        CHECK(g.layers[l].wk.rows() == 16);
        CHECK(g.layers[l].wv.cols() == 32);
        CHECK(q.layers[l].wk.rows() == 8);
        CHECK(g.layers[l].wq == w.layers[l].wq);   // queries untouched
        const nn::matrix expected = (w.layers[l].wk.middleRows(16, 8) + w.layers[l].wk.middleRows(24, 8)) / 2.0f;
        CHECK(max_diff(g.layers[l].wk.middleRows(8, 8), expected) == 0.0);
        const nn::matrix all = (w.layers[l].wv.middleRows(0, 8) + w.layers[l].wv.middleRows(8, 8) +
                                w.layers[l].wv.middleRows(16, 8) + w.layers[l].wv.middleRows(24, 8)) / 4.0f;
        CHECK(max_diff(q.layers[l].wv, all) <= 1e-7);
    }
    CHECK_THROWS_AS(nn::pool_kv_heads(w, 3), kvshare::error);
    CHECK_THROWS_AS(nn::pool_kv_heads(g, 4), kvshare::error);
}

TEST_CASE("MHA -> GQA / MQA: identical heads within groups give the same outputs; distinct heads do not") {
    auto w = nn::random_weights(mha_config(), 2, false);
    const nn::matrix before_equalizing = logits<mha_m>(w);
    // Distinct heads: pooling changes the model (so the equality below is not vacuous).
    CHECK(max_diff(logits<gqa_m>(nn::pool_kv_heads(w, 2)), before_equalizing) > 1e-2);

    auto pairs = w;
    equalize_heads(pairs, 2);
    CHECK(max_diff(logits<gqa_m>(nn::pool_kv_heads(pairs, 2)), logits<mha_m>(pairs)) <= 1e-5);

    auto all = w;
    equalize_heads(all, 4);
    CHECK(max_diff(logits<mqa_m>(nn::pool_kv_heads(all, 1)), logits<mha_m>(all)) <= 1e-5);
    CHECK(max_diff(logits<mqa_m>(nn::pool_kv_heads(nn::pool_kv_heads(all, 2), 1)), logits<mha_m>(all)) <= 1e-5);
}

TEST_CASE("no sharing -> CLA2: shapes; consumers lose their K/V projections") {
    const auto w = nn::random_weights(mha_config(), 3, false);
    const auto keep = nn::share_kv_across_layers(w, parse_sharing("cla:2"), nn::cla_init::keep_producer);
    const auto avg = nn::share_kv_across_layers(w, parse_sharing("cla:2"), nn::cla_init::average_group);
    for (const auto* c : {&keep, &avg}) {
        CHECK(to_string(c->config.sharing) == "cla:2");
        for (int l : {1, 3}) {
            CHECK(c->layers[l].wk.size() == 0);
            CHECK(c->layers[l].wv.size() == 0);
            CHECK(c->layers[l].kv_norm.size() == 0);
        }
        for (int l : {0, 2}) CHECK(c->layers[l].wk.rows() == 32);
    }
    CHECK(keep.layers[2].wk == w.layers[2].wk);
    CHECK(keep.layers[2].kv_norm.size() == 0);   // keeps reading its input norm, as before
    const nn::matrix folded = (w.layers[2].wk * w.layers[2].attn_norm.asDiagonal() +
                               w.layers[3].wk * w.layers[3].attn_norm.asDiagonal()) / 2.0f;
    CHECK(max_diff(avg.layers[2].wk, folded) <= 1e-6);
    CHECK(avg.layers[2].kv_norm == nn::vector::Ones(32));
    CHECK_THROWS_AS(nn::share_kv_across_layers(keep, parse_sharing("cla:2"), nn::cla_init::keep_producer),
                    kvshare::error);   // already shared
    CHECK_THROWS_AS(nn::share_kv_across_layers(w, parse_sharing("slots:0,2,2,3"), nn::cla_init::keep_producer),
                    kvshare::error);   // layer 1 would read a later layer
}

TEST_CASE("no sharing -> CLA2: layers that already computed the same K/V give the same outputs") {
    auto w = nn::random_weights(mha_config(), 4, false);
    // Unequal layers: both conversions change the model.
    CHECK(max_diff(logits<mha_cla2>(nn::share_kv_across_layers(w, parse_sharing("cla:2"), nn::cla_init::keep_producer)),
                   logits<mha_m>(w)) > 1e-2);
    equalize_layers(w);
    const nn::matrix original = logits<mha_m>(w);
    for (auto init : {nn::cla_init::keep_producer, nn::cla_init::average_group}) {
        const auto converted = nn::share_kv_across_layers(w, parse_sharing("cla:2"), init);
        CHECK(max_diff(logits<mha_cla2>(converted), original) <= 1e-5);
    }
    // And both steps: MHA with equal heads and layers -> MQA -> MQA-CLA2.
    equalize_heads(w, 4);
    const auto mqa_cla = nn::share_kv_across_layers(nn::pool_kv_heads(w, 1), parse_sharing("cla:2"),
                                                    nn::cla_init::average_group);
    CHECK(max_diff(logits<mqa_cla2>(mqa_cla), logits<mha_m>(w)) <= 1e-5);
}
