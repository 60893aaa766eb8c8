// kv_cache: sizes against the planner, append/view round trips in both layouts and all element
// types, consumers, sequences and pages, and bad calls that must change nothing.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kvshare/cache/kv_cache.hpp"
#include "kvshare/core.hpp"
#include "random_fill.hpp"

using namespace kvshare;

namespace {

using mha16 = model<4, mha<16, 8>, no_sharing>;
using gqa16 = model<4, gqa<16, 4, 8>, no_sharing>;
using mqa16 = model<4, mqa<16, 8>, no_sharing>;
using mqa16_cla2 = model<4, mqa<16, 8>, cla<2>>;
using gqa_cla3 = model<7, heads<4, 2, 6, 5>, cla<3>>;   // d != d_v, remainder group: producers 0, 1, 4

template <class Cache>
float at(const kv_view<typename Cache::element_type, host_memory>& view, bool key, int b, int t, int h, int i) {
    const auto loc = locate(view, b, t);
    return static_cast<float>(key ? view.k(loc.block, loc.row, h, i) : view.v(loc.block, loc.row, h, i));
}

// What a cache should hold: per (producer slot, sequence) the appended rows, flattened [t, H_kv, w].
struct expected_slot {
    std::vector<std::vector<float>> k, v;   // [batch][tokens · H_kv · w]
};

template <class Cache>
void expect_contents(const Cache& cache, const std::vector<expected_slot>& expected) {
    using M = typename Cache::model_type;
    for (int l = 0; l < M::layers; ++l) {
        const auto view = cache.view(l);
        const auto& slot = expected[M::cache_slot(l)];
        for (int b = 0; b < cache.batch(); ++b) {
            const int n = static_cast<int>(slot.k[b].size() / (M::kv_heads * M::head_dim));
            REQUIRE(view.lengths[b] == n);
            REQUIRE(view.lengths_in_space(b) == n);
            for (int t = 0; t < n; ++t)
                for (int h = 0; h < M::kv_heads; ++h) {
                    for (int i = 0; i < M::head_dim; ++i)
                        REQUIRE(at<Cache>(view, true, b, t, h, i) ==
                                slot.k[b][(t * M::kv_heads + h) * M::head_dim + i]);
                    for (int i = 0; i < M::value_head_dim; ++i)
                        REQUIRE(at<Cache>(view, false, b, t, h, i) ==
                                slot.v[b][(t * M::kv_heads + h) * M::value_head_dim + i]);
                }
        }
    }
}

// Appends `steps` ragged chunks to every producer of `cache` and checks the contents after each.
template <class Cache>
void round_trip(Cache& cache, std::mt19937& rng, int steps) {
    using M = typename Cache::model_type;
    using T = typename Cache::element_type;
    std::vector<expected_slot> expected(M::kv_layers);
    for (auto& e : expected) {
        e.k.resize(cache.batch());
        e.v.resize(cache.batch());
    }
    std::uniform_int_distribution<int> chunk(0, 7);
    for (int step = 0; step < steps; ++step) {
        std::vector<std::int32_t> offsets(cache.batch() + 1, 0);
        for (int b = 0; b < cache.batch(); ++b) {
            const int room = cache.capacity() - cache.length(0, b);
            offsets[b + 1] = offsets[b] + std::min(room, step == 0 && b == 0 ? 1 : chunk(rng));
        }
        const int total = offsets.back();
        for (int p : M::producers) {
            auto k = test::random_values<T>(static_cast<std::size_t>(total) * M::kv_heads * M::head_dim, rng);
            auto v = test::random_values<T>(static_cast<std::size_t>(total) * M::kv_heads * M::value_head_dim, rng);
            cache.append(p, host_view<const T, 3>(k.data(), {total, M::kv_heads, M::head_dim}),
                         host_view<const T, 3>(v.data(), {total, M::kv_heads, M::value_head_dim}),
                         host_offsets(offsets));
            auto& e = expected[M::cache_slot(p)];
            for (int b = 0; b < cache.batch(); ++b) {
                for (auto i = offsets[b] * M::kv_heads * M::head_dim; i < offsets[b + 1] * M::kv_heads * M::head_dim; ++i)
                    e.k[b].push_back(static_cast<float>(k[i]));
                for (auto i = offsets[b] * M::kv_heads * M::value_head_dim;
                     i < offsets[b + 1] * M::kv_heads * M::value_head_dim; ++i)
                    e.v[b].push_back(static_cast<float>(v[i]));
            }
        }
        expect_contents(cache, expected);
    }
}

}  // namespace

TEST_CASE_TEMPLATE("kv_cache allocates exactly the planner's bytes: MHA : GQA-4 : MQA : MQA-CLA2 = 16 : 4 : 1 : 0.5",
                   T, float, Eigen::bfloat16, Eigen::half) {
    const int batch = 3, capacity = 37;
    kv_cache<mha16, T> a(batch, capacity);
    kv_cache<gqa16, T> b(batch, capacity);
    kv_cache<mqa16, T> c(batch, capacity);
    kv_cache<mqa16_cla2, T> d(batch, capacity);
    CHECK(a.allocated_bytes() == kv_bytes<mha16>(dtype_of<T>, batch, capacity));
    CHECK(b.allocated_bytes() == kv_bytes<gqa16>(dtype_of<T>, batch, capacity));
    CHECK(c.allocated_bytes() == kv_bytes<mqa16>(dtype_of<T>, batch, capacity));
    CHECK(d.allocated_bytes() == kv_bytes<mqa16_cla2>(dtype_of<T>, batch, capacity));
    CHECK(a.page_rounding_bytes() == 0);
    CHECK(d.page_rounding_bytes() == 0);
    // The ratios, on the measured allocations: 16 : 4 : 1 : 0.5.
    CHECK(a.allocated_bytes() == 16 * c.allocated_bytes());
    CHECK(b.allocated_bytes() == 4 * c.allocated_bytes());
    CHECK(2 * d.allocated_bytes() == c.allocated_bytes());
    // One MQA layer, fp32: 2 (K and V) x 8 (d) x 4 bytes = 64 bytes per token.
    CHECK(c.allocated_bytes() == std::uint64_t(4) * 2 * 8 * sizeof(T) * batch * capacity);
}

TEST_CASE("paged kv_cache: bytes are pages x page_size tokens; the rounding is reported") {
    using cache = kv_cache<mqa16_cla2, float, host_memory, paged_layout>;
    cache exact(2, 32, {.page_size = 8});   // 2 x 4 pages, no rounding
    CHECK(exact.pages() == 8);
    CHECK(exact.allocated_bytes() == exact.planned_bytes());
    CHECK(exact.page_rounding_bytes() == 0);

    cache rounded(3, 30, {.page_size = 7});   // ceil(30/7) = 5 pages per sequence, 35 token rows
    CHECK(rounded.pages() == 15);
    CHECK(rounded.allocated_bytes() == kv_bytes<mqa16_cla2>(dtype::fp32, 1, 15 * 7));
    CHECK(rounded.page_rounding_bytes() ==
          static_cast<std::int64_t>(kv_bytes<mqa16_cla2>(dtype::fp32, 3, 5)));   // 3 sequences x 5 extra rows

    cache small_pool(4, 64, {.page_size = 4, .pages = 10});   // shared pool smaller than 4 x 64 tokens
    CHECK(small_pool.allocated_bytes() == kv_bytes<mqa16_cla2>(dtype::fp32, 1, 40));
    CHECK(small_pool.page_rounding_bytes() < 0);
}

TEST_CASE_TEMPLATE("kv_cache append/view round trip, contiguous", T, float, Eigen::bfloat16, Eigen::half) {
    std::mt19937 rng(11);
    kv_cache<gqa_cla3, T> cache(3, 23);
    round_trip(cache, rng, 6);
}

TEST_CASE_TEMPLATE("kv_cache append/view round trip, paged (page sizes 1, 3, 8)", T, float, Eigen::bfloat16) {
    std::mt19937 rng(12);
    for (int page_size : {1, 3, 8}) {
        CAPTURE(page_size);
        kv_cache<gqa_cla3, T, host_memory, paged_layout> cache(3, 23, {.page_size = page_size});
        round_trip(cache, rng, 6);
        // Every page a sequence holds is distinct across the batch.
        std::vector<int> seen(cache.pages(), 0);
        for (int b = 0; b < cache.batch(); ++b) {
            const auto view = cache.view(0);
            for (int p = 0; p < cache.pages_of(b); ++p) CHECK(++seen[view.page_table(b, p)] == 1);
        }
    }
}

TEST_CASE("kv_cache: a consumer layer's view is its producer's slot; a runtime consumer append throws") {
    std::mt19937 rng(13);
    kv_cache<gqa_cla3, float> cache(2, 9);   // producers 0, 1, 4; layers 2, 3 read 1; 5, 6 read 4
    for (int l : {2, 3}) {
        CHECK(cache.view(l).k.data() == cache.view(1).k.data());
        CHECK(cache.view(l).v.data() == cache.view(1).v.data());
        CHECK(cache.view(l).lengths.data() == cache.view(1).lengths.data());
    }
    CHECK(cache.view<6>().k.data() == cache.view<4>().k.data());
    CHECK(cache.view(1).k.data() != cache.view(4).k.data());

    auto k = test::random_values<float>(3 * 2 * 6, rng);
    auto v = test::random_values<float>(3 * 2 * 5, rng);
    const host_view<const float, 3> kv_k(k.data(), {3, 2, 6}), kv_v(v.data(), {3, 2, 5});
    cache.append(1, 0, kv_k, kv_v);
    const auto before = test::snapshot(cache.data(), cache.allocated_bytes());
    for (int consumer : {2, 3, 5, 6}) CHECK_THROWS_AS(cache.append(consumer, 1, kv_k, kv_v), kvshare::error);
    CHECK_THROWS_WITH_AS(cache.append(3, 0, kv_k, kv_v),
                         doctest::Contains("layer 3 is a consumer: it reads the K/V of layer 1"), kvshare::error);
    CHECK(test::snapshot(cache.data(), cache.allocated_bytes()) == before);
    CHECK(cache.length(3, 0) == 3);   // layer 3 sees what layer 1 appended
    CHECK(cache.length(3, 1) == 0);
    CHECK(cache.length(4, 0) == 0);
}

TEST_CASE("kv_cache: compile-time layers (append<L>, integral_constant) write the producer's slot") {
    std::mt19937 rng(14);
    kv_cache<gqa_cla3, float> cache(2, 9);
    auto k = test::random_values<float>(2 * 2 * 6, rng);
    auto v = test::random_values<float>(2 * 2 * 5, rng);
    const host_view<const float, 3> kv_k(k.data(), {2, 2, 6}), kv_v(v.data(), {2, 2, 5});
    const std::vector<std::int32_t> offsets{0, 1, 2};
    cache.append<4>(kv_k, kv_v, host_offsets(offsets));
    cache.append(std::integral_constant<int, 1>{}, kv_k, kv_v, host_offsets(offsets));
    cache.append<0>(1, kv_k, kv_v);
    CHECK(cache.length(6, 0) == 1);
    CHECK(cache.length(2, 1) == 1);
    CHECK(cache.length(0, 1) == 2);
    CHECK(cache.view<5>().k(0, 0, 1, 3) == k[1 * 6 + 3]);
    CHECK(cache.view<0>().v(1, 1, 1, 4) == v[(1 * 2 + 1) * 5 + 4]);
}

template <class Cache>
void bad_calls_change_nothing() {
    std::mt19937 rng(15);
    Cache cache = [] {
        if constexpr (Cache::paged)
            return Cache(3, 10, {.page_size = 4, .pages = 5});
        else
            return Cache(3, 10);
    }();
    // Fill: sequence 0 holds 9 tokens, sequence 1 holds 4, sequence 2 is released.
    auto fill = [&](int layer, int sequence, int n) {
        auto k = test::random_values<float>(n * 2 * 6, rng);
        auto v = test::random_values<float>(n * 2 * 5, rng);
        cache.append(layer, sequence, host_view<const float, 3>(k.data(), {n, 2, 6}),
                     host_view<const float, 3>(v.data(), {n, 2, 5}));
    };
    for (int p : gqa_cla3::producers) {
        fill(p, 0, 9);
        fill(p, 1, 4);
    }
    cache.release(2);

    const auto bytes = test::snapshot(cache.data(), cache.allocated_bytes());
    std::vector<std::vector<std::int32_t>> lengths;
    for (int l = 0; l < gqa_cla3::layers; ++l) lengths.emplace_back(cache.lengths(l).begin(), cache.lengths(l).end());
    const int free_pages = cache.free_pages();

    auto k = test::random_values<float>(40 * 2 * 6, rng);
    auto v = test::random_values<float>(40 * 2 * 5, rng);
    auto kv = [&](int n, int heads = 2, int d = 6, int dv = 5) {
        return std::pair{host_view<const float, 3>(k.data(), {n, heads, d}), host_view<const float, 3>(v.data(), {n, heads, dv})};
    };
    auto offsets = [](std::vector<std::int32_t> o) { return o; };

    {  // past the capacity: 9 + 2 > 10 (sequence 1's rows are fine, nothing may be written for them either)
        auto [a, b] = kv(3);
        const auto o = offsets({0, 2, 3, 3});
        CHECK_THROWS_WITH_AS(cache.append(0, a, b, host_offsets(o)), doctest::Contains("exceed the capacity of 10"),
                             kvshare::error);
    }
    {  // a released sequence
        auto [a, b] = kv(2);
        const auto o = offsets({0, 0, 1, 2});
        CHECK_THROWS_WITH_AS(cache.append(1, a, b, host_offsets(o)), doctest::Contains("sequence 2 is not in the cache"),
                             kvshare::error);
        CHECK_THROWS_AS(cache.append(1, 3, a, b), kvshare::error);    // outside the batch
        CHECK_THROWS_AS(cache.append(1, -1, a, b), kvshare::error);
    }
    {  // wrong shapes
        auto [a, b] = kv(2, 1, 6, 5);
        CHECK_THROWS_WITH_AS(cache.append(0, 1, a, b), doctest::Contains("k has shape [2, 1, 6]"), kvshare::error);
        auto [c, d] = kv(2, 2, 6, 6);
        CHECK_THROWS_WITH_AS(cache.append(0, 1, c, d), doctest::Contains("v has shape"), kvshare::error);
        auto [e, f] = kv(2, 2, 5, 5);
        CHECK_THROWS_AS(cache.append(0, 1, e, f), kvshare::error);
        const host_view<const float, 3> three(v.data(), {3, 2, 5});
        CHECK_THROWS_AS(cache.append(0, 1, kv(2).first, three), kvshare::error);   // k and v disagree on rows
        const host_view<const float, 3> strided(k.data(), {2, 2, 6}, {12, 6, 2});
        CHECK_THROWS_WITH_AS(cache.append(0, 1, strided, kv(2).second), doctest::Contains("must be contiguous"),
                             kvshare::error);
        const host_view<const float, 3> null_k(nullptr, {2, 2, 6});
        CHECK_THROWS_WITH_AS(cache.append(0, 1, null_k, kv(2).second), doctest::Contains("null"), kvshare::error);
    }
    {  // bad offsets
        auto [a, b] = kv(2);
        CHECK_THROWS_AS(cache.append(0, a, b, host_offsets(offsets({0, 2, 2}))), kvshare::error);       // batch + 1 = 4
        CHECK_THROWS_AS(cache.append(0, a, b, host_offsets(offsets({1, 2, 2, 2}))), kvshare::error);    // [0] != 0
        CHECK_THROWS_AS(cache.append(0, a, b, host_offsets(offsets({0, 2, 1, 2}))), kvshare::error);    // decreasing
        CHECK_THROWS_AS(cache.append(0, a, b, host_offsets(offsets({0, 0, 1, 1}))), kvshare::error);    // total != rows
    }
    {  // bad layers
        auto [a, b] = kv(1);
        CHECK_THROWS_AS(cache.append(7, 1, a, b), kvshare::error);
        CHECK_THROWS_AS(cache.append(-1, 1, a, b), kvshare::error);
        CHECK_THROWS_AS(cache.append(2, 1, a, b), kvshare::error);   // consumer
    }
    {  // a source inside the cache itself
        const auto view = cache.view(0);
        const host_view<const float, 3> own_k(view.k.data(), {1, 2, 6}), own_v(view.v.data(), {1, 2, 5});
        CHECK_THROWS_WITH_AS(cache.append(1, 1, own_k, own_v), doctest::Contains("cache's own storage"), kvshare::error);
    }
    if constexpr (Cache::paged) {
        // 5 pages of 4 tokens: sequence 0 holds 3 (9 tokens), sequence 1 holds 1 (4 tokens), 1 free.
        REQUIRE(cache.free_pages() == 1);
        auto [a, b] = kv(6);   // sequence 1: 4 + 6 = 10 tokens -> 3 pages, 2 more than it has
        CHECK_THROWS_WITH_AS(cache.append(0, 1, a, b), doctest::Contains("only 1 of 5 are free"), kvshare::error);
        CHECK(test::snapshot(cache.data(), cache.allocated_bytes()) == bytes);
        CHECK(cache.free_pages() == 1);
        auto [c, d] = kv(5);   // ragged and legal: sequence 0 +1 (fits its 3rd page), sequence 1 +4 (1 new page)
        const auto o = offsets({0, 1, 5, 5});
        cache.append(0, c, d, host_offsets(o));
        CHECK(cache.free_pages() == 0);
        const auto after = test::snapshot(cache.data(), cache.allocated_bytes());
        auto [e, f] = kv(1);   // sequence 1: 8 + 1 = 9 tokens -> a 3rd page, none free
        CHECK_THROWS_WITH_AS(cache.append(0, 1, e, f), doctest::Contains("only 0 of 5 are free"), kvshare::error);
        CHECK(test::snapshot(cache.data(), cache.allocated_bytes()) == after);
        CHECK(cache.length(0, 1) == 8);
        return;
    }
    CHECK(test::snapshot(cache.data(), cache.allocated_bytes()) == bytes);
    for (int l = 0; l < gqa_cla3::layers; ++l)
        CHECK(std::vector<std::int32_t>(cache.lengths(l).begin(), cache.lengths(l).end()) == lengths[l]);
    CHECK(cache.free_pages() == free_pages);
}

TEST_CASE("kv_cache: bad appends throw before writing anything (contiguous)") {
    bad_calls_change_nothing<kv_cache<gqa_cla3, float>>();
}

TEST_CASE("kv_cache: bad appends throw before writing anything (paged)") {
    bad_calls_change_nothing<kv_cache<gqa_cla3, float, host_memory, paged_layout>>();
}

TEST_CASE("paged kv_cache: released sequences return their pages; rows are reused") {
    std::mt19937 rng(16);
    using cache_t = kv_cache<mqa16_cla2, float, host_memory, paged_layout>;
    cache_t cache(2, 12, {.page_size = 3, .pages = 5});
    auto k = test::random_values<float>(12 * 8, rng);
    auto v = test::random_values<float>(12 * 8, rng);
    auto rows = [&](int n) {
        return std::pair{host_view<const float, 3>(k.data(), {n, 1, 8}), host_view<const float, 3>(v.data(), {n, 1, 8})};
    };
    cache.append(0, 0, rows(7).first, rows(7).second);   // 3 pages
    cache.append(2, 0, rows(7).first, rows(7).second);   // same pages (shared page table)
    CHECK(cache.free_pages() == 2);
    CHECK(cache.pages_of(0) == 3);
    CHECK_THROWS_AS(cache.append(0, 1, rows(7).first, rows(7).second), kvshare::error);   // needs 3, 2 free
    CHECK_THROWS_AS(cache.add_sequence(), kvshare::error);                               // both rows active
    cache.release(0);
    CHECK(!cache.active(0));
    CHECK(cache.free_pages() == 5);
    CHECK(cache.length(0, 0) == 0);
    CHECK(cache.length(3, 0) == 0);
    CHECK_THROWS_AS(cache.release(0), kvshare::error);
    cache.append(0, 1, rows(7).first, rows(7).second);   // now fits
    CHECK(cache.free_pages() == 2);
    CHECK(cache.add_sequence() == 0);
    CHECK(cache.active(0));
    cache.append(0, 0, rows(6).first, rows(6).second);
    CHECK(cache.free_pages() == 0);
    cache.clear();
    CHECK(cache.free_pages() == 5);
    CHECK(cache.length(0, 1) == 0);
}

TEST_CASE("kv_cache: constructor arguments are checked") {
    using contiguous = kv_cache<mqa16, float>;
    using paged = kv_cache<mqa16, float, host_memory, paged_layout>;
    CHECK_THROWS_AS(contiguous(0, 4), kvshare::error);
    CHECK_THROWS_AS(contiguous(2, 0), kvshare::error);
    CHECK_THROWS_AS(paged(2, 4, {.page_size = 0}), kvshare::error);
    CHECK_THROWS_AS(paged(2, 4, {.page_size = 2, .pages = -1}), kvshare::error);
}
