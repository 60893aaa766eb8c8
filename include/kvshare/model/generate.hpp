#pragma once
// Greedy generation through a cache, and the check that incremental decoding equals a full
// recomputation.
//
// generate(net, cache, prompts, offsets, steps, chunk): prefill the ragged prompts (in chunks of
// `chunk` tokens per sequence, 0 = whole prompts), then `steps` decode steps: each feeds every
// sequence the argmax of its last logits. Returns every logit row computed and the time spent.
//
// max_logit_diff(net, result): recomputes each whole sequence (prompt + fed tokens) without a cache
// and returns the largest |incremental - full| over all logits computed incrementally.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "kvshare/core/error.hpp"
#include "kvshare/model/weights.hpp"
#include "kvshare/ops/execution.hpp"

namespace kvshare::nn {

struct generation {
    std::vector<std::vector<std::int32_t>> sequences;   // per sequence: prompt + tokens fed by decode steps
    std::vector<std::vector<float>> logits;             // per sequence: [positions computed, vocab] row-major
    std::vector<std::int32_t> next;                     // per sequence: argmax of the last logits row
    int vocab = 0;
    int steps = 0;
    double prefill_seconds = 0, decode_seconds = 0;
    std::int64_t prefill_tokens = 0, decode_tokens = 0;
};

namespace detail {
inline std::int32_t argmax(const float* row, int n) {
    return static_cast<std::int32_t>(std::max_element(row, row + n) - row);
}
}  // namespace detail

// prompts: [total], offsets: [batch + 1], every prompt >= 1 token. The cache must be empty for these
// sequences and hold prompt + steps tokens each.
template <class Net, class Cache>
generation generate(const Net& net, Cache& cache, std::span<const std::int32_t> prompts,
                    std::span<const std::int32_t> offsets, int steps, int chunk = 0,
                    const execution<host_memory>& exec = {}) {
    using clock = std::chrono::steady_clock;
    const int batch = static_cast<int>(offsets.size()) - 1;
    KVSHARE_REQUIRE(batch >= 1 && batch == cache.batch(), "generate: offsets describe ", batch,
                    " sequences, the cache holds ", cache.batch());
    KVSHARE_REQUIRE(steps >= 0 && chunk >= 0, "generate: steps = ", steps, ", chunk = ", chunk, " must be >= 0");
    generation g;
    g.vocab = net.config().vocab_size;
    g.steps = steps;
    g.sequences.resize(batch);
    g.logits.resize(batch);
    g.next.resize(batch);
    for (int b = 0; b < batch; ++b) {
        KVSHARE_REQUIRE(offsets[b + 1] > offsets[b], "generate: prompt ", b, " is empty");
        g.sequences[b].assign(prompts.begin() + offsets[b], prompts.begin() + offsets[b + 1]);
    }
    auto keep = [&](const matrix& logits, std::span<const std::int32_t> rows) {
        for (int b = 0; b < batch; ++b)
            for (auto r = rows[b]; r < rows[b + 1]; ++r)
                g.logits[b].insert(g.logits[b].end(), logits.row(r).data(), logits.row(r).data() + g.vocab);
    };

    // Prefill, chunk by chunk (a chunk is up to `chunk` tokens of every unfinished prompt).
    const auto t0 = clock::now();
    std::vector<int> done(batch, 0);
    while (true) {
        std::vector<std::int32_t> tokens, rows{0};
        for (int b = 0; b < batch; ++b) {
            const int length = offsets[b + 1] - offsets[b];
            const int take = chunk == 0 ? length - done[b] : std::min(chunk, length - done[b]);
            tokens.insert(tokens.end(), prompts.begin() + offsets[b] + done[b], prompts.begin() + offsets[b] + done[b] + take);
            done[b] += take;
            rows.push_back(static_cast<std::int32_t>(tokens.size()));
        }
        if (tokens.empty()) break;
        keep(net.forward(cache, tokens, rows, exec), rows);
        g.prefill_tokens += static_cast<std::int64_t>(tokens.size());
    }
    const auto t1 = clock::now();
    for (int b = 0; b < batch; ++b)
        g.next[b] = detail::argmax(g.logits[b].data() + g.logits[b].size() - g.vocab, g.vocab);

    // Decode: one token per sequence per step.
    std::vector<std::int32_t> rows(batch + 1);
    for (int b = 0; b <= batch; ++b) rows[b] = b;
    for (int s = 0; s < steps; ++s) {
        const matrix logits = net.forward(cache, g.next, rows, exec);
        for (int b = 0; b < batch; ++b) {
            g.sequences[b].push_back(g.next[b]);
            g.logits[b].insert(g.logits[b].end(), logits.row(b).data(), logits.row(b).data() + g.vocab);
            g.next[b] = detail::argmax(logits.row(b).data(), g.vocab);
        }
        g.decode_tokens += batch;
    }
    const auto t2 = clock::now();
    g.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
    g.decode_seconds = std::chrono::duration<double>(t2 - t1).count();
    return g;
}

// max |incremental - full| over every logit of every position computed by generate().
template <class Net>
double max_logit_diff(const Net& net, const generation& g, const execution<host_memory>& exec = {}) {
    std::vector<std::int32_t> tokens, offsets{0};
    for (const auto& s : g.sequences) {
        tokens.insert(tokens.end(), s.begin(), s.end());
        offsets.push_back(static_cast<std::int32_t>(tokens.size()));
    }
    const matrix full = net.forward_full(tokens, offsets, exec);
    double worst = 0;
    for (std::size_t b = 0; b < g.sequences.size(); ++b) {
        const auto& inc = g.logits[b];
        KVSHARE_REQUIRE(inc.size() == g.sequences[b].size() * static_cast<std::size_t>(g.vocab),
                        "max_logit_diff: sequence ", b, " has logits for ", inc.size() / g.vocab, " of ",
                        g.sequences[b].size(), " positions");
        for (std::size_t p = 0; p < g.sequences[b].size(); ++p)
            for (int v = 0; v < g.vocab; ++v) {
                const double d = std::fabs(double(inc[p * g.vocab + v]) - full(offsets[b] + p, v));
                worst = std::isnan(d) ? INFINITY : std::max(worst, d);
            }
    }
    return worst;
}

}  // namespace kvshare::nn
