// Thread counts: results do not depend on the number of threads beyond rounding (the split of the
// KV length over threads changes only the order of the sums: same 1e-5 bound as against the reference), the pool is reused across calls, and
// two user threads may call the ops at the same time.
#include <algorithm>
#include <thread>

#include "cpu_test_util.hpp"

using namespace kvtest;
using kvshare::backend::cpu;
using kvshare::backend::reference;

TEST_CASE("cpu prefill: 1, 2 and 3 threads agree within rounding") {
    using H = kvshare::heads<8, 2, 64>;
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    prefill_inputs<H, float> in(gen, small_run ? batch_shape{{70, 5}, {70, 300}} : batch_shape{{300, 5, 64}, {300, 900, 64}});
    std::vector<float> one, lse_one;
    in.template run<cpu>({0, true, -1, 0}, one, lse_one, 1);
    for (int threads : {2, 3}) {
        CAPTURE(threads);
        std::vector<float> many, lse_many;
        in.template run<cpu>({0, true, -1, 0}, many, lse_many, threads);
        CHECK(compare(many, one).rel() <= 1e-5);
        CHECK(lse_mismatches(lse_many, lse_one, 1e-5) == 0);
    }
}

TEST_CASE_TEMPLATE("cpu decode: 1 and 2 threads agree within rounding (split KV and merge)", H, kvshare::heads<4, 4, 64>,
                   kvshare::heads<8, 1, 128>, kvshare::heads<32, 1, 64>, kvshare::heads<8, 2, 96>) {
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    // one long sequence: with several threads its keys are split into chunks and merged
    decode_inputs<H, float, float> in(gen, {1}, {small_run ? 1500 : 5000});
    std::vector<float> one, lse_one, ref, ref_lse;
    in.template run<cpu>({}, false, one, lse_one, 1);
    in.template run<reference>({}, false, ref, ref_lse);
    CHECK(compare(one, ref).rel() <= 1e-5);
    for (int threads : {2, 4}) {
        CAPTURE(threads);
        std::vector<float> many, lse_many;
        in.template run<cpu>({}, false, many, lse_many, threads);
        CHECK(compare(many, one).rel() <= 1e-5);
        CHECK(lse_mismatches(lse_many, lse_one, 1e-5) == 0);
        CHECK(compare(many, ref).rel() <= 1e-5);
    }
}

TEST_CASE("cpu decode: bf16 output with 1 and 2 threads differs by at most one bf16 rounding") {
    using H = kvshare::heads<8, 2, 64>;
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    decode_inputs<H, bf16, bf16> in(gen, {1, 1}, {2000, 700});
    std::vector<bf16> one, two;
    std::vector<float> lse;
    in.template run<cpu>({}, false, one, lse, 1);
    in.template run<cpu>({}, false, two, lse, 2);
    // The thread count changes the fp32 summation order (split-KV merge): a difference of a few fp32
    // roundings of the output's scale, then at most one bf16 rounding (2^-7 relative) of the value.
    // The absolute term matters for outputs near zero, where cancellation leaves |a| << scale.
    float scale = 0.0f;
    for (const bf16 x : one) scale = std::max(scale, std::abs(float(x)));
    REQUIRE(scale > 0.0f);
    int far = 0;
    for (std::size_t i = 0; i < one.size(); ++i) {
        const float a = float(one[i]), b = float(two[i]);
        far += std::abs(a - b) > std::abs(a) * (1.0f / 128) + 1e-5f * scale;
    }
    CHECK(far == 0);
}

TEST_CASE("cpu ops: concurrent calls from two user threads") {
    using H = kvshare::heads<8, 2, 64>;
    std::mt19937 gen(fresh_seed());
    prefill_inputs<H, float> a(gen, {{100}, {100}}), b(gen, {{50, 7}, {80, 7}});
    std::vector<float> ra, rb, la, lb;
    a.template run<cpu>({0, true, -1, 0}, ra, la, 2);
    b.template run<cpu>({}, rb, lb, 2);
    std::vector<float> xa, xb, lxa, lxb;
    std::thread t1([&] {
        for (int i = 0; i < 20; ++i) a.template run<cpu>({0, true, -1, 0}, xa, lxa, 2);
    });
    std::thread t2([&] {
        for (int i = 0; i < 20; ++i) b.template run<cpu>({}, xb, lxb, 2);
    });
    t1.join();
    t2.join();
    CHECK(xa == ra);
    CHECK(xb == rb);
}
