// The runtime planner: plan_memory / memory_plan on large numbers, rounding and 64-bit overflow.
#include <cstdint>
#include <limits>
#include <string>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

using namespace kvshare;

namespace {

std::string error_of(auto&& call) {
    try {
        call();
    } catch (const error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("memory_plan: bytes, max_tokens and 64-bit overflow") {
    const memory_plan plan = plan_memory({80, 64, 8, 128, 0, parse_sharing("none")}, dtype::bf16);   // Llama-3-70B
    CHECK(plan.kv_layers == 80);
    CHECK(plan.bytes_per_token == 327680);
    CHECK(plan.bytes(4, 8192) == std::uint64_t{327680} * 4 * 8192);
    CHECK(plan.max_tokens(std::uint64_t{80} << 30) == (std::uint64_t{80} << 30) / 327680);
    CHECK(plan.max_tokens(327679) == 0);
    const std::uint64_t big = std::uint64_t{1} << 32;
    CHECK(error_of([&] { (void)plan.bytes(big, big); }) ==
          "kvshare: batch = 4294967296 x tokens = 4294967296 overflows");
    CHECK(error_of([&] { (void)plan.bytes(1, std::numeric_limits<std::uint64_t>::max() / 1000); })
              .starts_with("kvshare: KV bytes for batch = 1, tokens = "));
    CHECK(plan.bytes(0, big) == 0);
}

TEST_CASE("plan_memory: bytes per token that do not fit 64 bits are an error, not a wrapped number") {
    const model_desc huge{2000, 2000000000, 2000000000, 2000000000, 2000000000, parse_sharing("cla:1000")};
    CHECK(error_of([&] { (void)plan_memory(huge, dtype::bf16); }) ==
          "kvshare: KV bytes per token for kv_layers = 2, kv_heads = 2000000000, head_dim = 2000000000, "
          "value_head_dim = 2000000000 overflow 64 bits");
    // At the edge: 1 KV layer, 2^31-1 heads, (2^31-1) + (2^31-1) wide: 2 bytes fit 64 bits, 4 do not.
    const int big = 2147483647;
    const model_desc edge{1, big, big, big, big, {}};
    CHECK(plan_memory(edge, dtype::fp16).bytes_per_token == std::uint64_t{2147483647} * 4294967294u * 2);
    CHECK(error_of([&] { (void)plan_memory(edge, dtype::fp32); }).ends_with("overflow 64 bits"));
}
