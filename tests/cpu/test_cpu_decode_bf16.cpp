// CPU decode with bf16 operands (bf16 cache, bf16 queries, bf16 output, and mixes), contiguous and
// paged: the error against the double-precision reference is at most 2x the error of the naive bf16
// computation (cpu_test_util.hpp); paged results are bit-identical to contiguous ones.
#include "cpu_test_configs.hpp"
#include "cpu_test_util.hpp"
#include "decode_check.hpp"

using namespace kvtest;

TEST_CASE_TEMPLATE("cpu decode with bf16 operands: at most 2x the naive bf16 error", H, KVSHARE_CPU_TEST_CONFIGS) {
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    const decode_batch batch = main_decode_batch();
    const std::string shape = batch.describe();
    CAPTURE(shape);
    const auto sets = option_sets();
    check_decode<H, float, bf16, float>(make_decode<H, float, bf16>(gen, batch), sets[0]);   // fp32 queries, bf16 cache
    const auto in = make_decode<H, bf16, bf16>(gen, batch);
    using kvshare::bf16_products;
    check_decode<H, bf16, bf16, float>(in, sets[1], bf16_products::pairs);
    check_decode<H, bf16, bf16, bf16>(in, sets[4], bf16_products::fp32);
    if (!small_run) {
        check_decode<H, bf16, bf16, float>(in, sets[3], bf16_products::fp32);
        check_decode<H, bf16, bf16, bf16>(in, sets[5], bf16_products::pairs);
    }
}

TEST_CASE_TEMPLATE("cpu decode: bf16 queries on an fp32 cache, fp32 queries with bf16 output", H,
                   kvshare::heads<8, 2, 128>, kvshare::heads<16, 1, 64>, kvshare::heads<4, 4, 80, 48>) {
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    const decode_batch batch = main_decode_batch();
    const auto sets = option_sets();
    check_decode<H, bf16, float, float>(make_decode<H, bf16, float>(gen, batch), sets[2]);
    check_decode<H, float, bf16, bf16>(make_decode<H, float, bf16>(gen, batch), sets[5]);
}
