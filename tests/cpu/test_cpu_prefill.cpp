// CPU prefill (fp32) against the double-precision reference, typed over the head configurations of
// cpu_test_configs.hpp: ragged batches (lengths 0, 1, 3, 7, 63, 64, 65, 1000; q_len < kv_len and
// q_len > kv_len), every mask option, fully masked rows, LSE; rel <= 1e-5. bf16: test_cpu_prefill_bf16.cpp
#include "cpu_test_configs.hpp"
#include "cpu_test_util.hpp"
#include "prefill_shapes.hpp"

using namespace kvtest;
using kvshare::backend::cpu;
using kvshare::backend::reference;

namespace {

template <class H>
void check_fp32(std::mt19937& gen, const batch_shape& shape, const named_options& opt) {
    CAPTURE(opt.name);
    const std::string batch = shape.describe();
    CAPTURE(batch);
    prefill_inputs<H, float> in(gen, shape);
    std::vector<float> out, ref, lse, ref_lse;
    in.template run<cpu>(opt.options, out, lse);
    in.template run<reference>(opt.options, ref, ref_lse);
    const error_stats e = compare(out, ref);
    CAPTURE(e.max_err);
    CAPTURE(e.max_ref);
    CHECK(e.finite);
    CHECK(e.max_ref > 0);
    CHECK(e.rel() <= 1e-5);
    CHECK(lse_mismatches(lse, ref_lse, 1e-5) == 0);
    CHECK(masked_rows_not_zero(out, ref_lse, H::value_head_dim) == 0);
}

}  // namespace

TEST_CASE_TEMPLATE("cpu prefill fp32 matches the reference: every mask option, ragged batch", H,
                   KVSHARE_CPU_TEST_CONFIGS) {
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    for (const auto& opt : option_sets()) check_fp32<H>(gen, main_prefill_batch(), opt);
}

TEST_CASE_TEMPLATE("cpu prefill fp32 matches the reference: 1000 tokens", H, KVSHARE_CPU_TEST_CONFIGS) {
    if (small_run) return;
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    check_fp32<H>(gen, long_prefill_batch<H>(), {"causal", {0.0f, true, -1, 0.0f}});
    check_fp32<H>(gen, {{65}, {1000}}, {"no mask", {}});
}

TEST_CASE("cpu prefill: a fully masked batch writes zeros and lse = -inf, never NaN") {
    using H = kvshare::heads<4, 2, 64>;
    std::mt19937 gen(fresh_seed());
    // causal with q_len > kv_len: the first q_len - kv_len rows see no key; kv_len = 0: no row sees one
    prefill_inputs<H, float> in(gen, {{9, 3}, {2, 0}});
    std::vector<float> out, lse;
    in.template run<cpu>({0.0f, true, -1, 0.0f}, out, lse);
    for (int t = 0; t < 12; ++t)
        for (int h = 0; h < 4; ++h) {
            const bool masked = t < 7 || t >= 9;
            CAPTURE(t);
            CAPTURE(h);
            CHECK((masked ? std::isinf(lse[t * 4 + h]) && lse[t * 4 + h] < 0 : std::isfinite(lse[t * 4 + h])));
            for (int x = 0; x < 64; ++x) {
                const float y = out[(t * 4 + h) * 64 + x];
                CHECK(std::isfinite(y));
                if (masked) CHECK(y == 0.0f);
            }
        }
}

TEST_CASE("cpu prefill: out may be a strided view (the gaps stay untouched), lse may be omitted") {
    using H = kvshare::heads<4, 2, 64>;
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    prefill_inputs<H, float> in(gen, {{33, 20}, {33, 50}});
    std::vector<float> ref, ref_lse;
    in.template run<reference>({0.0f, true, -1, 0.0f}, ref, ref_lse);
    // out inside a wider buffer: [tokens, H_q, 64] with a token stride of 5 * 64
    const index_t tokens = in.total_q;
    std::vector<float> wide(tokens * 5 * 64, 123.0f);
    kvshare::host_view<float, 3> out(wide.data(), {tokens, 4, 64}, {5 * 64, 64, 1});
    kvshare::prefill<H>(in.qv(), in.kv_(), in.vv(), out, in.q_offsets(), in.kv_offsets(), {0.0f, true, -1, 0.0f});
    double err = 0, mx = 0;
    for (index_t t = 0; t < tokens; ++t)
        for (int h = 0; h < 5; ++h)
            for (int x = 0; x < 64; ++x) {
                const float y = wide[(t * 5 + h) * 64 + x];
                if (h == 4) {
                    CHECK(y == 123.0f);   // the gap is untouched
                } else {
                    err = std::max(err, std::abs(double(y) - ref[(t * 4 + h) * 64 + x]));
                    mx = std::max(mx, std::abs(double(ref[(t * 4 + h) * 64 + x])));
                }
            }
    CHECK(err / mx <= 1e-5);
}
