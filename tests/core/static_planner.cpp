// Compile-time tests of the KV memory planner: bytes per token, bytes for (batch, tokens) and the
// largest batch × tokens under a budget, as constant expressions, for every element type.
#include <cstdint>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

namespace {

using namespace kvshare;

// kv_layers · H_kv · (d + d_v) · bytes, computed by hand below.
using llama3_8b = model<32, gqa<32, 8, 128>, no_sharing>;          // 32 · 8 · 256 = 65536 elements
static_assert(kv_bytes_per_token<llama3_8b>(dtype::fp32) == 262144);
static_assert(kv_bytes_per_token<llama3_8b>(dtype::bf16) == 131072);
static_assert(kv_bytes_per_token<llama3_8b>(dtype::fp16) == 131072);
static_assert(kv_bytes_per_token<llama3_8b>(dtype::int8) == 65536);
static_assert(kv_bytes_per_token<llama3_8b>(dtype::fp8) == 65536);

using llama3_8b_cla2 = model<32, gqa<32, 8, 128>, cla<2>>;         // half the producers, half the bytes
static_assert(kv_bytes_per_token<llama3_8b_cla2>(dtype::bf16) == 65536);

// A separate value head dim: 4 KV layers · 2 heads · (64 + 32) · 2 bytes.
using split_dims = model<10, heads<8, 2, 64, 32>, cla<3>>;
static_assert(kv_bytes_per_token<split_dims>(dtype::fp16) == 4 * 2 * 96 * 2);

// The paper's H128-MQA-CLA2 at 16 bits: 10 · 1 · 256 · 2.
using paper = model<20, mqa<16, 128>, cla<2>>;
static_assert(kv_bytes_per_token<paper>(dtype::bf16) == 5120);

// bytes for (batch, tokens) and the largest batch × tokens under a budget.
static_assert(kv_bytes<paper>(dtype::bf16, 8, 4096) == std::uint64_t{5120} * 8 * 4096);
static_assert(kv_bytes<paper>(dtype::bf16, 0, 4096) == 0);
static_assert(max_kv_tokens<paper>(dtype::bf16, 5120 * 1000) == 1000);
static_assert(max_kv_tokens<paper>(dtype::bf16, 5120 * 1000 + 5119) == 1000);   // rounds down
static_assert(max_kv_tokens<paper>(dtype::bf16, 5119) == 0);
static_assert(max_kv_tokens<llama3_8b>(dtype::bf16, std::uint64_t{80} << 30) == 655360);   // 80 GiB / 128 KiB

// The runtime overload gives the same numbers.
static_assert(kv_bytes_per_token(10, 1, 128, 128, dtype::bf16) == 5120);

static_assert(bytes_of(dtype::fp32) == 4 && bytes_of(dtype::fp16) == 2 && bytes_of(dtype::bf16) == 2 &&
              bytes_of(dtype::int8) == 1 && bytes_of(dtype::fp8) == 1);
static_assert(name_of(dtype::bf16) == "bf16");

}  // namespace

TEST_CASE("planner: the static_asserts of static_planner.cpp compiled") {
    // kv_bytes checks overflow; at run time it throws instead of wrapping.
    CHECK_THROWS_AS((void)kv_bytes<paper>(dtype::bf16, std::uint64_t{1} << 40, std::uint64_t{1} << 40), error);
}
