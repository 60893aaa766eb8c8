// CPU decode with bf16 operands (bf16 cache, bf16 queries, bf16 output, and mixes), contiguous and
// paged: the error against the double-precision reference is at most 2x the error of the naive bf16
// computation (cpu_test_util.hpp); paged results are bit-identical to contiguous ones.
#include "cpu_test_configs.hpp"
#include "cpu_test_util.hpp"

using namespace kvtest;
using kvshare::backend::cpu;
using kvshare::backend::reference;

namespace {

struct decode_batch {
    std::vector<std::int32_t> q_len, kv_len;
    std::string describe() const {
        std::string s;
        for (std::size_t i = 0; i < q_len.size(); ++i)
            s += "(" + std::to_string(q_len[i]) + "," + std::to_string(kv_len[i]) + ") ";
        return s;
    }
};

decode_batch main_batch() {
    if (small_run) return {{1, 2, 1, 1}, {7, 65, 300, 0}};
    return {{1, 1, 2, 1, 3, 1, 1, 2}, {1, 7, 63, 64, 65, 1000, 0, 1}};
}

// TQ/TKV/TOut: element types. Runs contiguous and paged, checks them equal and against the reference.
// products: bf16 pair products or widening to fp32 (matters for bf16 q and cache on the wide engine:
// group x q_len > 8).
template <class H, class TQ, class TKV, class TOut>
void check(const decode_inputs<H, TQ, TKV>& in, const named_options& opt,
           kvshare::bf16_products products = kvshare::bf16_products::automatic) {
    CAPTURE(opt.name);
    const int products_choice = static_cast<int>(products);
    CAPTURE(products_choice);
    std::vector<TOut> out, out_paged;
    std::vector<float> ref, lse, lse_paged, ref_lse;
    in.template run<cpu>(opt.options, false, out, lse, 0, products);
    in.template run<cpu>(opt.options, true, out_paged, lse_paged, 0, products);
    in.template run<reference>(opt.options, false, ref, ref_lse);
    const error_stats e = compare(out, ref);
    CAPTURE(e.max_err);
    CAPTURE(e.max_ref);
    CHECK(e.finite);
    CHECK(e.max_ref > 0);
    // paged and contiguous caches run the same arithmetic
    CHECK(compare(out_paged, out).max_err == 0.0);
    CHECK(compare(lse_paged, lse).max_err == 0.0);
    CHECK(masked_rows_not_zero(out, ref_lse, H::value_head_dim) == 0);
    constexpr bool all_fp32 = std::is_same_v<TQ, float> && std::is_same_v<TKV, float> && std::is_same_v<TOut, float>;
    if constexpr (all_fp32) {
        CHECK(e.rel() <= 1e-5);
        CHECK(lse_mismatches(lse, ref_lse, 1e-5) == 0);
    } else {
        const error_stats n = compare(in.template naive_low_precision<TOut>(opt.options), ref);
        CAPTURE(n.max_err);
        CHECK(e.max_err <= 2 * n.max_err);
        CHECK(lse_mismatches(lse, ref_lse, 1e-2) == 0);
    }
}

template <class H, class TQ, class TKV>
decode_inputs<H, TQ, TKV> make(std::mt19937& gen, const decode_batch& batch, int page_size = 16) {
    return decode_inputs<H, TQ, TKV>(gen, batch.q_len, batch.kv_len, page_size);
}

}  // namespace

TEST_CASE_TEMPLATE("cpu decode with bf16 operands: at most 2x the naive bf16 error", H, KVSHARE_CPU_TEST_CONFIGS) {
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    const decode_batch batch = main_batch();
    const std::string shape = batch.describe();
    CAPTURE(shape);
    const auto sets = option_sets();
    check<H, float, bf16, float>(make<H, float, bf16>(gen, batch), sets[0]);   // fp32 queries, bf16 cache
    const auto in = make<H, bf16, bf16>(gen, batch);
    using kvshare::bf16_products;
    check<H, bf16, bf16, float>(in, sets[1], bf16_products::pairs);
    check<H, bf16, bf16, bf16>(in, sets[4], bf16_products::fp32);
    if (!small_run) {
        check<H, bf16, bf16, float>(in, sets[3], bf16_products::fp32);
        check<H, bf16, bf16, bf16>(in, sets[5], bf16_products::pairs);
    }
}

TEST_CASE_TEMPLATE("cpu decode: bf16 queries on an fp32 cache, fp32 queries with bf16 output", H,
                   kvshare::heads<8, 2, 128>, kvshare::heads<16, 1, 64>, kvshare::heads<4, 4, 80, 48>) {
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    const decode_batch batch = main_batch();
    const auto sets = option_sets();
    check<H, bf16, float, float>(make<H, bf16, float>(gen, batch), sets[2]);
    check<H, float, bf16, bf16>(make<H, float, bf16>(gen, batch), sets[5]);
}
