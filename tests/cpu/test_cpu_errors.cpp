// Bad arguments to the CPU ops throw kvshare::error naming the argument, before anything is written:
// every case fills the outputs with a sentinel and checks they are untouched afterwards.
#include <cstring>
#include <functional>

#include "cpu_test_util.hpp"

using namespace kvtest;
using kvshare::host_view;

namespace {

constexpr float sentinel = -12345.0f;

// Calls `call`, expects a kvshare::error whose message contains `needle`, and `watched` all sentinel.
void expect_error(const std::function<void()>& call, const std::string& needle, const std::vector<float>& watched,
                  float expected = sentinel) {
    bool threw = false;
    std::string message;
    try {
        call();
    } catch (const kvshare::error& e) {
        threw = true;
        message = e.what();
    }
    CAPTURE(needle);
    CAPTURE(message);
    CHECK(threw);
    CHECK(message.find(needle) != std::string::npos);
    int touched = 0;
    for (float x : watched) touched += x != expected;
    CHECK(touched == 0);
}

using H = kvshare::heads<4, 2, 32>;   // H_q 4, H_kv 2, d 32

struct prefill_case {
    std::mt19937 gen{fresh_seed()};
    std::vector<std::int32_t> offsets{0, 5, 12};
    std::vector<float> q = random_values<float>(gen, 12 * 4 * 32);
    std::vector<float> k = random_values<float>(gen, 12 * 2 * 32);
    std::vector<float> v = random_values<float>(gen, 12 * 2 * 32);
    std::vector<float> out = std::vector<float>(12 * 4 * 32, sentinel);
    std::vector<float> lse = std::vector<float>(12 * 4, sentinel);

    host_view<const float, 3> qv() const { return {q.data(), {12, 4, 32}}; }
    host_view<const float, 3> kv() const { return {k.data(), {12, 2, 32}}; }
    host_view<const float, 3> vv() const { return {v.data(), {12, 2, 32}}; }
    host_view<float, 3> ov() { return {out.data(), {12, 4, 32}}; }
    host_view<float, 2> lv() { return {lse.data(), {12, 4}}; }
    std::vector<float> watched() const {
        std::vector<float> w = out;
        w.insert(w.end(), lse.begin(), lse.end());
        return w;
    }
};

}  // namespace

TEST_CASE("cpu prefill: bad arguments throw before writing") {
    prefill_case c;
    const auto offs = kvshare::host_offsets(c.offsets);
    auto call = [&](auto q, auto k, auto v, auto out, auto qo, auto ko, kvshare::attention_options o, auto lse) {
        return [=] { kvshare::prefill<H>(q, k, v, out, qo, ko, o, lse); };
    };
    const kvshare::attention_options causal{0, true, -1, 0};

    SUBCASE("a valid call works (the cases below differ from it in one argument)") {
        call(c.qv(), c.kv(), c.vv(), c.ov(), offs, offs, causal, c.lv())();
        CHECK(c.out[0] != sentinel);
        CHECK(c.lse[0] != sentinel);
    }
    SUBCASE("q with a head count that disagrees with the policy") {
        expect_error(call(host_view<const float, 3>(c.q.data(), {12, 3, 32}), c.kv(), c.vv(), c.ov(), offs, offs,
                          causal, c.lv()),
                     "q: shape", c.watched());
    }
    SUBCASE("k with H_kv = 4 where the policy has 2") {
        expect_error(call(c.qv(), host_view<const float, 3>(c.k.data(), {6, 4, 32}), c.vv(), c.ov(), offs, offs,
                          causal, c.lv()),
                     "k: shape", c.watched());
    }
    SUBCASE("v with the wrong value head dim") {
        expect_error(call(c.qv(), c.kv(), host_view<const float, 3>(c.v.data(), {12, 2, 16}), c.ov(), offs, offs,
                          causal, c.lv()),
                     "v: shape", c.watched());
    }
    SUBCASE("k and v with different token counts") {
        expect_error(call(c.qv(), c.kv(), host_view<const float, 3>(c.v.data(), {11, 2, 32}), c.ov(), offs, offs,
                          causal, c.lv()),
                     "v: shape", c.watched());
    }
    SUBCASE("out with the wrong shape") {
        expect_error(call(c.qv(), c.kv(), c.vv(), host_view<float, 3>(c.out.data(), {11, 4, 32}), offs, offs, causal,
                          c.lv()),
                     "out: shape", c.watched());
    }
    SUBCASE("lse with the wrong shape") {
        expect_error(call(c.qv(), c.kv(), c.vv(), c.ov(), offs, offs, causal, host_view<float, 2>(c.lse.data(), {12, 2})),
                     "lse: shape", c.watched());
    }
    SUBCASE("window_left < -1") {
        expect_error(call(c.qv(), c.kv(), c.vv(), c.ov(), offs, offs, {0, true, -2, 0}, c.lv()), "window_left",
                     c.watched());
    }
    SUBCASE("negative scale, NaN softcap") {
        expect_error(call(c.qv(), c.kv(), c.vv(), c.ov(), offs, offs, {-1.0f, true, -1, 0}, c.lv()), "options.scale",
                     c.watched());
        expect_error(call(c.qv(), c.kv(), c.vv(), c.ov(), offs, offs, {0, true, -1, std::nanf("")}, c.lv()),
                     "options.softcap", c.watched());
    }
    SUBCASE("null data") {
        expect_error(call(host_view<const float, 3>(nullptr, {12, 4, 32}), c.kv(), c.vv(), c.ov(), offs, offs, causal,
                          c.lv()),
                     "q: data is null", c.watched());
        expect_error(call(c.qv(), c.kv(), c.vv(), host_view<float, 3>(nullptr, {12, 4, 32}), offs, offs, causal,
                          c.lv()),
                     "out: data is null", c.watched());
    }
    SUBCASE("out aliasing q (in-place attention is not supported)") {
        std::vector<float> q_copy = c.q;
        host_view<float, 3> in_place(c.q.data(), {12, 4, 32});
        expect_error(call(c.qv(), c.kv(), c.vv(), in_place, offs, offs, causal, c.lv()), "out overlaps q", c.watched());
        CHECK(std::memcmp(q_copy.data(), c.q.data(), q_copy.size() * sizeof(float)) == 0);
    }
    SUBCASE("out aliasing v, lse aliasing out") {
        std::vector<float> v_buffer = c.v;
        v_buffer.resize(12 * 4 * 32, sentinel);
        host_view<float, 3> over_v(v_buffer.data(), {12, 4, 32});
        expect_error(call(c.qv(), c.kv(), host_view<const float, 3>(v_buffer.data(), {12, 2, 32}), over_v, offs, offs,
                          causal, c.lv()),
                     "out overlaps v", c.watched());
        expect_error(call(c.qv(), c.kv(), c.vv(), c.ov(), offs, offs, causal, host_view<float, 2>(c.out.data(), {12, 4})),
                     "lse overlaps out", c.watched());
    }
    SUBCASE("offsets that decrease, exceed the rows, or disagree on the batch") {
        const std::vector<std::int32_t> down{0, 7, 5}, past{0, 5, 13}, three{0, 4, 8, 12};
        expect_error(call(c.qv(), c.kv(), c.vv(), c.ov(), kvshare::host_offsets(down), offs, causal, c.lv()),
                     "q_offsets[2]", c.watched());
        expect_error(call(c.qv(), c.kv(), c.vv(), c.ov(), offs, kvshare::host_offsets(past), causal, c.lv()),
                     "kv_offsets", c.watched());
        expect_error(call(c.qv(), c.kv(), c.vv(), c.ov(), kvshare::host_offsets(three), offs, causal, c.lv()),
                     "kv_offsets has", c.watched());
    }
    SUBCASE("a head dim that is not contiguous") {
        expect_error(call(host_view<const float, 3>(c.q.data(), {12, 4, 16}, {128, 32, 2}), c.kv(), c.vv(), c.ov(),
                          offs, offs, causal, c.lv()),
                     "q: shape", c.watched());
        expect_error(call(c.qv(), host_view<const float, 3>(c.k.data(), {12, 2, 32}, {64, 1, 2}), c.vv(), c.ov(), offs,
                          offs, causal, c.lv()),
                     "contiguous", c.watched());
    }
}

TEST_CASE("cpu decode: bad arguments throw before writing") {
    std::mt19937 gen(fresh_seed());
    cache_inputs<H, float> cache(gen, {10, 30}, 8);
    std::vector<std::int32_t> q_off{0, 1, 3};
    std::vector<float> q = random_values<float>(gen, 3 * 4 * 32);
    std::vector<float> out(3 * 4 * 32, sentinel), lse(3 * 4, sentinel);
    host_view<const float, 3> qv(q.data(), {3, 4, 32});
    host_view<float, 3> ov(out.data(), {3, 4, 32});
    host_view<float, 2> lv(lse.data(), {3, 4});
    const auto qo = kvshare::host_offsets(q_off);
    auto watched = [&] {
        std::vector<float> w = out;
        w.insert(w.end(), lse.begin(), lse.end());
        return w;
    };
    auto call = [&](kvshare::kv_view<float, kvshare::host_memory> kv, kvshare::attention_options o = {}) {
        return [=] { kvshare::decode<H>(qv, qo, kv, ov, o, lv); };
    };

    SUBCASE("valid calls work, contiguous and paged") {
        call(cache.contiguous())();
        CHECK(out[0] != sentinel);
        call(cache.paged())();
    }
    SUBCASE("a length beyond the cache view's capacity (the view is shorter than requested)") {
        std::vector<std::int32_t> too_long{10, cache.capacity + 1};
        auto kv = cache.contiguous();
        kv.lengths = too_long;
        kv.lengths_in_space = {too_long.data(), {2}};
        expect_error(call(kv), "kv.lengths[1]", watched());
        auto paged = cache.paged();
        std::vector<std::int32_t> past_pages{10, cache.pages_per_seq * cache.page_size + 1};
        paged.lengths = past_pages;
        paged.lengths_in_space = {past_pages.data(), {2}};
        expect_error(call(paged), "kv.lengths[1]", watched());
    }
    SUBCASE("lengths for a different batch") {
        std::vector<std::int32_t> three{10, 10, 10};
        auto kv = cache.contiguous();
        kv.lengths = three;
        kv.lengths_in_space = {three.data(), {3}};
        expect_error(call(kv), "kv.lengths has 3 sequences", watched());
    }
    SUBCASE("a page table entry that is not a page") {
        std::vector<std::int32_t> table = cache.table;
        table[cache.pages_per_seq + 1] = cache.pages + 2;
        auto kv = cache.paged();
        kv.page_table = {table.data(), {2, cache.pages_per_seq}};
        expect_error(call(kv), "kv.page_table(1, 1)", watched());
    }
    SUBCASE("K/V head counts that disagree with the policy") {
        auto kv = cache.contiguous();
        kv.k = {cache.k.data(), {2, cache.capacity, 1, 64}};
        expect_error(call(kv), "kv.k: shape", watched());
        kv = cache.contiguous();
        kv.v = {cache.v.data(), {2, cache.capacity, 2, 16}};
        expect_error(call(kv), "kv.v: shape", watched());
    }
    SUBCASE("a page size that disagrees with the pages") {
        auto kv = cache.paged();
        kv.page_size = 4;
        expect_error(call(kv), "page_size", watched());
    }
    SUBCASE("window_left < -1") { expect_error(call(cache.contiguous(), {0, true, -5, 0}), "window_left", watched()); }
    SUBCASE("out aliasing the cache") {
        std::vector<float> k_copy = cache.k;
        auto kv = cache.contiguous();
        host_view<float, 3> over_k(k_copy.data(), {3, 4, 32});
        kv.k = {k_copy.data(), {2, cache.capacity, 2, 32}};
        bool threw = false;
        try {
            kvshare::decode<H>(qv, qo, kv, over_k, {}, lv);
        } catch (const kvshare::error& e) {
            threw = std::string(e.what()).find("out overlaps kv.k") != std::string::npos;
        }
        CHECK(threw);
        CHECK(k_copy == cache.k);
    }
    SUBCASE("null cache data") {
        auto kv = cache.contiguous();
        kv.v = {nullptr, {2, cache.capacity, 2, 32}};
        expect_error(call(kv), "kv.v: data is null", watched());
    }
}
