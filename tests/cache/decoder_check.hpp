#pragma once
// Shared body of the decoder tests: incremental decoding through a cache (contiguous or paged,
// ragged prompts, optionally chunked prefill) equals a full recomputation without a cache, and the
// cache holds exactly what the producers computed — nothing else was written.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "attention_backend.hpp"
#include "kvshare/cache/kv_cache.hpp"
#include "kvshare/core.hpp"
#include "kvshare/model/decoder.hpp"
#include "kvshare/model/generate.hpp"

namespace kvshare::test {

template <Model M>
nn::decoder_config tiny_config() {
    nn::decoder_config c;
    c.vocab_size = 61;
    c.d_model = 24;
    c.ffn = 40;
    c.layers = M::layers;
    c.q_heads = M::q_heads;
    c.kv_heads = M::kv_heads;
    c.head_dim = M::head_dim;
    c.sharing = M::sharing_type::spec();
    return c;
}

struct ragged_prompts {
    std::vector<std::int32_t> tokens, offsets{0};
    int longest = 0;
};

inline ragged_prompts make_prompts(const std::vector<int>& lengths, int vocab, std::mt19937& rng) {
    std::uniform_int_distribution<int> token(0, vocab - 1);
    ragged_prompts p;
    for (int n : lengths) {
        for (int i = 0; i < n; ++i) p.tokens.push_back(token(rng));
        p.offsets.push_back(static_cast<std::int32_t>(p.tokens.size()));
        p.longest = std::max(p.longest, n);
    }
    return p;
}

// Runs generation in `Layout` and checks: logits (<= 1e-4 vs full recomputation), cache contents
// (every slot row equals its producer's K/V from the full pass), untouched bytes still zero.
template <Model M, class Layout, class Backend>
void incremental_equals_full(int page_size, int chunk, std::uint32_t seed) {
    CAPTURE(Backend::name());
    CAPTURE(page_size);
    CAPTURE(chunk);
    std::mt19937 rng(seed);
    const auto config = tiny_config<M>();
    const bool shares = M::kv_layers < M::layers;
    nn::decoder<M, Backend> net(nn::random_weights(config, seed, /*separate_kv_norm*/ shares));
    const ragged_prompts prompts = make_prompts({5, 1, 9, 3}, config.vocab_size, rng);
    const int steps = 6, batch = 4, capacity = prompts.longest + steps;

    auto cache = [&] {
        if constexpr (std::is_same_v<Layout, paged_layout>)
            return kv_cache<M, float, host_memory, paged_layout>(batch, capacity, {.page_size = page_size});
        else
            return kv_cache<M, float>(batch, capacity);
    }();
    CHECK(cache.allocated_bytes() == cache.planned_bytes() + cache.page_rounding_bytes());

    const nn::generation g = nn::generate(net, cache, prompts.tokens, prompts.offsets, steps, chunk);
    const double diff = nn::max_logit_diff(net, g);
    INFO("max |incremental - full| logit = ", diff);
    CHECK(diff <= 1e-4);

    // The cache holds exactly the producers' K/V of every position.
    std::vector<std::int32_t> tokens, offsets{0};
    for (const auto& s : g.sequences) {
        tokens.insert(tokens.end(), s.begin(), s.end());
        offsets.push_back(static_cast<std::int32_t>(tokens.size()));
    }
    std::vector<nn::packed_kv> full_kv;
    (void)net.forward_full(tokens, offsets, {}, &full_kv);
    REQUIRE(full_kv.size() == static_cast<std::size_t>(M::kv_layers));
    double worst = 0;
    for (int l = 0; l < M::layers; ++l) {
        const auto view = cache.view(l);
        const auto& kv = full_kv[M::cache_slot(l)];
        for (int b = 0; b < batch; ++b) {
            REQUIRE(view.lengths[b] == static_cast<int>(g.sequences[b].size()));
            for (int t = 0; t < view.lengths[b]; ++t) {
                const auto at = locate(view, b, t);
                for (int h = 0; h < M::kv_heads; ++h)
                    for (int i = 0; i < M::head_dim; ++i) {
                        worst = std::max<double>(worst, std::fabs(view.k(at.block, at.row, h, i) -
                                                                  kv.k(offsets[b] + t, h * M::head_dim + i)));
                        worst = std::max<double>(worst, std::fabs(view.v(at.block, at.row, h, i) -
                                                                  kv.v(offsets[b] + t, h * M::head_dim + i)));
                    }
            }
        }
    }
    CHECK(worst <= 1e-5);
    if constexpr (!std::is_same_v<Layout, paged_layout>) {
        // Rows past each sequence's length were never written (the storage starts zeroed).
        for (int l : M::producers) {
            const auto view = cache.view(l);
            for (int b = 0; b < batch; ++b)
                for (int t = view.lengths[b]; t < capacity; ++t)
                    for (int h = 0; h < M::kv_heads; ++h)
                        for (int i = 0; i < M::head_dim; ++i) {
                            REQUIRE(view.k(b, t, h, i) == 0.0f);
                            REQUIRE(view.v(b, t, h, i) == 0.0f);
                        }
        }
    }
}

// The default host backend (cpu) in every layout, with and without chunked prefill; the reference
// backend in one contiguous and one paged run.
template <Model M>
void all_layouts(std::uint32_t seed) {
    using cpu = kvshare::backend::cpu;
    using reference = kvshare::backend::reference;
    incremental_equals_full<M, contiguous_layout, cpu>(0, 0, seed);
    incremental_equals_full<M, contiguous_layout, cpu>(0, 2, seed + 1);   // chunked prefill
    incremental_equals_full<M, paged_layout, cpu>(1, 0, seed + 2);
    incremental_equals_full<M, paged_layout, cpu>(4, 3, seed + 3);
    incremental_equals_full<M, contiguous_layout, reference>(0, 0, seed + 4);
    incremental_equals_full<M, paged_layout, reference>(3, 2, seed + 5);
}

}  // namespace kvshare::test
