// decode and chunked prefill read the paged layout exactly as the contiguous one: same K/V appended
// to both, same queries, identical outputs and LSE; and both equal prefill over the packed K/V.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "attention_backend.hpp"
#include "kvshare/cache/kv_cache.hpp"
#include "kvshare/core.hpp"
#include "kvshare/ops/decode.hpp"
#include "kvshare/ops/prefill.hpp"
#include "random_fill.hpp"

using namespace kvshare;

namespace {

template <class M, class Backend>
void paged_equals_contiguous(int page_size, std::mt19937& rng, bool causal) {
    CAPTURE(Backend::name());
    using H = typename M::heads_type;
    constexpr int hk = H::kv_heads, hq = H::q_heads, d = H::head_dim, dv = H::value_head_dim;
    const int batch = 4, capacity = 29;
    kv_cache<M, float> flat(batch, capacity);
    kv_cache<M, float, host_memory, paged_layout> paged(batch, capacity, {.page_size = page_size});

    // Per sequence: the whole history (packed, for the prefill reference) and ragged chunks.
    std::vector<std::vector<float>> hist_k(batch), hist_v(batch);
    std::uniform_int_distribution<int> chunk(0, 6);
    for (int step = 0; step < 5; ++step) {
        std::vector<std::int32_t> offsets(batch + 1, 0);
        for (int b = 0; b < batch; ++b)
            offsets[b + 1] = offsets[b] + std::min(capacity - flat.length(0, b), b == 1 ? 0 : chunk(rng) + (step == 0));
        const int total = offsets.back();
        auto k = test::random_values<float>(std::size_t(total) * hk * d, rng);
        auto v = test::random_values<float>(std::size_t(total) * hk * dv, rng);
        const host_view<const float, 3> kk(k.data(), {total, hk, d}), vv(v.data(), {total, hk, dv});
        for (int p : M::producers) {
            flat.append(p, kk, vv, host_offsets(offsets));
            paged.append(p, kk, vv, host_offsets(offsets));
        }
        for (int b = 0; b < batch; ++b) {
            hist_k[b].insert(hist_k[b].end(), k.begin() + offsets[b] * hk * d, k.begin() + offsets[b + 1] * hk * d);
            hist_v[b].insert(hist_v[b].end(), v.begin() + offsets[b] * hk * dv, v.begin() + offsets[b + 1] * hk * dv);
        }
    }

    // Queries: q_len in 0..3 per sequence (1 = decode, > 1 = a chunked-prefill chunk), never more
    // than the sequence holds.
    std::vector<std::int32_t> q_offsets(batch + 1, 0);
    for (int b = 0; b < batch; ++b) q_offsets[b + 1] = q_offsets[b] + std::min<int>(flat.length(0, b), b % 4);
    const int total_q = q_offsets.back();
    auto q = test::random_values<float>(std::size_t(total_q) * hq * d, rng);
    const host_view<const float, 3> qv(q.data(), {total_q, hq, d});
    const attention_options options{.causal = causal};

    for (int layer = 0; layer < M::layers; ++layer) {
        std::vector<float> out_flat(std::size_t(total_q) * hq * dv, 7.f), out_paged(out_flat.size(), -7.f);
        std::vector<float> lse_flat(std::size_t(total_q) * hq), lse_paged(lse_flat.size());
        decode<H, Backend>(qv, host_offsets(q_offsets), flat.view(layer),
                                 host_view<float, 3>(out_flat.data(), {total_q, hq, dv}), options,
                                 host_view<float, 2>(lse_flat.data(), {total_q, hq}));
        decode<H, Backend>(qv, host_offsets(q_offsets), paged.view(layer),
                                 host_view<float, 3>(out_paged.data(), {total_q, hq, dv}), options,
                                 host_view<float, 2>(lse_paged.data(), {total_q, hq}));
        CHECK(out_flat == out_paged);
        CHECK(lse_flat == lse_paged);

        // Against prefill over the packed history (the new queries sit at the end of each sequence).
        std::vector<float> packed_k, packed_v;
        std::vector<std::int32_t> kv_offsets{0};
        for (int b = 0; b < batch; ++b) {
            packed_k.insert(packed_k.end(), hist_k[b].begin(), hist_k[b].end());
            packed_v.insert(packed_v.end(), hist_v[b].begin(), hist_v[b].end());
            kv_offsets.push_back(kv_offsets.back() + static_cast<int>(hist_k[b].size() / (hk * d)));
        }
        const int total_kv = kv_offsets.back();
        std::vector<float> out_ref(out_flat.size());
        prefill<H, backend::reference>(qv, host_view<const float, 3>(packed_k.data(), {total_kv, hk, d}),
                                       host_view<const float, 3>(packed_v.data(), {total_kv, hk, dv}),
                                       host_view<float, 3>(out_ref.data(), {total_q, hq, dv}), host_offsets(q_offsets),
                                       host_offsets(kv_offsets), options);
        double worst = 0;
        for (std::size_t i = 0; i < out_ref.size(); ++i) worst = std::max<double>(worst, std::fabs(out_paged[i] - out_ref[i]));
        CHECK(worst <= 1e-5);
    }
}

using gqa_cla2 = model<4, gqa<4, 2, 16>, cla<2>>;
using mqa_cla3 = model<5, heads<6, 1, 8, 12>, cla<3>>;

}  // namespace

TEST_CASE("decode / chunked prefill: paged == contiguous, GQA-CLA2, page sizes 1, 2, 5, 16") {
    std::mt19937 rng(21);
    for (int page_size : {1, 2, 5, 16}) {
        CAPTURE(page_size);
        paged_equals_contiguous<gqa_cla2, backend::cpu>(page_size, rng, true);
        paged_equals_contiguous<gqa_cla2, backend::reference>(page_size, rng, true);
    }
}

TEST_CASE("decode / chunked prefill: paged == contiguous, MQA-CLA3 with d_v != d, non-causal too") {
    std::mt19937 rng(22);
    for (int page_size : {3, 7}) {
        CAPTURE(page_size);
        for (bool causal : {true, false}) {
            paged_equals_contiguous<mqa_cla3, backend::cpu>(page_size, rng, causal);
            paged_equals_contiguous<mqa_cla3, backend::reference>(page_size, rng, causal);
        }
    }
}
