// CPU decode (fp32) against the double-precision reference, typed over the head configurations:
// ragged batches (KV lengths 0, 1, 7, 63, 64, 65, 1000; q_len 1..3), every mask option, contiguous and
// paged caches (paged results bit-identical to contiguous); rel <= 1e-5. bf16: test_cpu_decode_bf16.cpp
#include "cpu_test_configs.hpp"
#include "cpu_test_util.hpp"
#include "decode_check.hpp"

using namespace kvtest;

TEST_CASE_TEMPLATE("cpu decode fp32 matches the reference: every mask option, contiguous and paged", H,
                   KVSHARE_CPU_TEST_CONFIGS) {
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    const decode_batch batch = main_decode_batch();
    const std::string shape = batch.describe();
    CAPTURE(shape);
    const auto in = make_decode<H, float, float>(gen, batch);
    for (const auto& opt : option_sets()) check_decode<H, float, float, float>(in, opt);
}

TEST_CASE("cpu decode: page sizes 1, 5 and 64 give the contiguous result") {
    using H = kvshare::heads<8, 2, 64>;
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    for (int page : {1, 5, 64}) {
        CAPTURE(page);
        check_decode<H, float, float, float>(make_decode<H, float, float>(gen, {{1, 2, 1}, {100, 37, 5}}, page),
                                      {"causal", {0, true, -1, 0}});
    }
}

TEST_CASE("cpu decode: chunked prefill (q_len > group rows) against a long cache") {
    using H = kvshare::heads<8, 2, 128>;
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    const decode_batch batch = small_run ? decode_batch{{17}, {200}} : decode_batch{{40, 17}, {1500, 17}};
    const auto in = make_decode<H, float, float>(gen, batch);
    check_decode<H, float, float, float>(in, {"causal", {0, true, -1, 0}});
    check_decode<H, float, float, float>(in, {"causal, window 100", {0, true, 100, 0}});
    check_decode<H, bf16, bf16, float>(make_decode<H, bf16, bf16>(gen, batch), {"causal", {0, true, -1, 0}});
}
