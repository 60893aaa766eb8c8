#pragma once
// Shared by the CPU decode tests (fp32 and bf16): the ragged decode batch, and the check of one run
// against the double-precision reference, contiguous and paged.
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu_test_util.hpp"

namespace kvtest {

struct decode_batch {
    std::vector<std::int32_t> q_len, kv_len;
    std::string describe() const {
        std::string s;
        for (std::size_t i = 0; i < q_len.size(); ++i)
            s += "(" + std::to_string(q_len[i]) + "," + std::to_string(kv_len[i]) + ") ";
        return s;
    }
};

inline decode_batch main_decode_batch() {
    if (small_run) return {{1, 2, 1, 1}, {7, 65, 300, 0}};
    return {{1, 1, 2, 1, 3, 1, 1, 2}, {1, 7, 63, 64, 65, 1000, 0, 1}};
}

// TQ/TKV/TOut: element types. Runs contiguous and paged, checks them equal and against the reference.
// products: bf16 pair products or widening to fp32 (matters for bf16 q and cache on the wide engine:
// group x q_len > 8).
template <class H, class TQ, class TKV, class TOut>
void check_decode(const decode_inputs<H, TQ, TKV>& in, const named_options& opt,
                  kvshare::bf16_products products = kvshare::bf16_products::automatic) {
    CAPTURE(opt.name);
    const int products_choice = static_cast<int>(products);
    CAPTURE(products_choice);
    std::vector<TOut> out, out_paged;
    std::vector<float> ref, lse, lse_paged, ref_lse;
    in.template run<kvshare::backend::cpu>(opt.options, false, out, lse, 0, products);
    in.template run<kvshare::backend::cpu>(opt.options, true, out_paged, lse_paged, 0, products);
    in.template run<kvshare::backend::reference>(opt.options, false, ref, ref_lse);
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
decode_inputs<H, TQ, TKV> make_decode(std::mt19937& gen, const decode_batch& batch, int page_size = 16) {
    return decode_inputs<H, TQ, TKV>(gen, batch.q_len, batch.kv_len, page_size);
}

}  // namespace kvtest
