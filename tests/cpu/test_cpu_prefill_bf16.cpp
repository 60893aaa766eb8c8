// CPU prefill with bf16 inputs (fp32 and bf16 outputs), typed over the head configurations: the error
// against the double-precision reference is at most 2x the error of the naive bf16 computation
// (cpu_test_util.hpp), on the same ragged batches and mask options as test_cpu_prefill.cpp.
#include "cpu_test_configs.hpp"
#include "cpu_test_util.hpp"
#include "prefill_shapes.hpp"

using namespace kvtest;
using kvshare::backend::cpu;
using kvshare::backend::reference;

namespace {

// products: the bf16 pair products or widening to fp32 (both must meet the bound on every machine,
// whichever one `automatic` picks on this one).
template <class H, class TOut>
void check_bf16(std::mt19937& gen, const batch_shape& shape, const named_options& opt, kvshare::bf16_products products) {
    CAPTURE(opt.name);
    const std::string batch = shape.describe();
    CAPTURE(batch);
    const bool pairs = products == kvshare::bf16_products::pairs;
    CAPTURE(pairs);
    prefill_inputs<H, bf16> in(gen, shape);
    std::vector<TOut> out;
    std::vector<float> ref, lse, ref_lse;
    in.template run<cpu>(opt.options, out, lse, 0, products);
    in.template run<reference>(opt.options, ref, ref_lse);
    const std::vector<float> naive = in.template naive_low_precision<TOut>(opt.options);
    const error_stats e = compare(out, ref), n = compare(naive, ref);
    CAPTURE(e.max_err);
    CAPTURE(n.max_err);
    CAPTURE(e.max_ref);
    CHECK(e.finite);
    CHECK(e.max_err <= 2 * n.max_err);   // with window 0 both are exact (one key per row)
    CHECK(lse_mismatches(lse, ref_lse, 1e-2) == 0);
    CHECK(masked_rows_not_zero(out, ref_lse, H::value_head_dim) == 0);
}

}  // namespace

TEST_CASE_TEMPLATE("cpu prefill bf16 inputs: at most 2x the naive bf16 error", H, KVSHARE_CPU_TEST_CONFIGS) {
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    const auto sets = option_sets();
    using kvshare::bf16_products;
    for (std::size_t i = 0; i < sets.size(); ++i) {
        // alternate the output type (fp32, bf16) and, every two sets, the products (pairs, fp32)
        const bf16_products products = (i / 2) % 2 == 0 ? bf16_products::pairs : bf16_products::fp32;
        if (i % 2 == 0)
            check_bf16<H, float>(gen, main_prefill_batch(), sets[i], products);
        else
            check_bf16<H, bf16>(gen, main_prefill_batch(), sets[i], products);
    }
    if (!small_run) {
        check_bf16<H, float>(gen, long_prefill_batch<H>(), {"causal", {0.0f, true, -1, 0.0f}}, bf16_products::pairs);
        check_bf16<H, float>(gen, long_prefill_batch<H>(), {"causal", {0.0f, true, -1, 0.0f}}, bf16_products::fp32);
    }
}


TEST_CASE("cpu prefill bf16: automatic takes one of the two product paths, and the choice is honoured") {
    using H = kvshare::heads<8, 2, 64>;
    std::mt19937 gen(fresh_seed());
    prefill_inputs<H, bf16> in(gen, {{70, 33}, {70, 90}});
    const kvshare::attention_options causal{0.0f, true, -1, 0.0f};
    std::vector<float> automatic, pairs, widened, lse;
    in.template run<cpu>(causal, automatic, lse, 1, kvshare::bf16_products::automatic);
    in.template run<cpu>(causal, pairs, lse, 1, kvshare::bf16_products::pairs);
    in.template run<cpu>(causal, widened, lse, 1, kvshare::bf16_products::fp32);
    CHECK((automatic == pairs || automatic == widened));
#if defined(KVSHARE_CPU_BF16_DOT)
    // the pair path rounds P to bf16 and sums pair products: it cannot agree bit for bit everywhere
    CHECK(pairs != widened);
#else
    CHECK(pairs == widened);   // no pair products on this build: both widen
#endif
}
