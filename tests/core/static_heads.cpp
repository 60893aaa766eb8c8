// Compile-time tests of the head policies: every parameter re-exported, the aliases that read like
// the paper, group sizes, a separate value head dim, and SQA.
#include <type_traits>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

namespace {

using namespace kvshare;

// heads<Hq, Hkv, D, Dv>
using h = heads<12, 4, 64, 32>;
static_assert(h::q_heads == 12 && h::kv_heads == 4 && h::head_dim == 64 && h::value_head_dim == 32);
static_assert(h::group_size == 3);
static_assert(h::kv_elements_per_token == 4 * (64 + 32));
static_assert(heads<8, 2, 64>::value_head_dim == 64);   // Dv defaults to D

// Aliases: MHA, GQA, MQA.
static_assert(std::is_same_v<mha<16, 128>, heads<16, 16, 128>>);
static_assert(std::is_same_v<gqa<32, 8, 128>, heads<32, 8, 128>>);
static_assert(std::is_same_v<mqa<16, 128>, heads<16, 1, 128>>);
static_assert(mha<16, 128>::group_size == 1);
static_assert(gqa<32, 8, 128>::group_size == 4);
static_assert(mqa<16, 128>::group_size == 16 && mqa<16, 128>::kv_heads == 1);
static_assert(gqa<8, 8, 64>::group_size == 1 && gqa<8, 1, 64>::group_size == 8);  // GQA spans MHA..MQA

// No H_q · d == d_model assumption: the CLA paper's 45 × 46 and 22 × 90.
static_assert(mqa<45, 46>::q_heads * mqa<45, 46>::head_dim == 2070);
static_assert(mqa<22, 90>::kv_elements_per_token == 180);
static_assert(heads<7, 7, 3>::group_size == 1);   // odd sizes are fine

// SQA: fewer query heads than the baseline; the cache is set by the K/V heads alone.
using s = sqa<8, 4, 64, 16>;
static_assert(s::q_heads == 8 && s::kv_heads == 4 && s::head_dim == 64 && s::baseline_q_heads == 16);
static_assert(s::flop_ratio == 0.5);
static_assert(s::group_size == 2);
static_assert(s::kv_elements_per_token == heads<16, 4, 64>::kv_elements_per_token);
static_assert(sqa<1, 1, 32, 2>::flop_ratio == 0.5);

// Concepts.
static_assert(HeadPolicy<h> && HeadPolicy<mha<4, 8>> && HeadPolicy<s>);
static_assert(!HeadPolicy<int> && !HeadPolicy<cla<2>>);

}  // namespace

TEST_CASE("head policies: the static_asserts of static_heads.cpp compiled") {
    CHECK(h::group_size == 3);
}
