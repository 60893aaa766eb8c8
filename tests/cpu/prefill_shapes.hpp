#pragma once
// The ragged batches of the CPU prefill tests (fp32 and bf16).
#include "cpu_test_util.hpp"

namespace kvtest {

// (q_len, kv_len) per sequence: equal lengths around the tile sizes, q < kv (bottom-right causal),
// q > kv (fully masked rows under causal), empty sequences.
inline batch_shape main_prefill_batch() {
    if (small_run) return {{1, 7, 65, 7, 5, 0}, {1, 7, 65, 40, 3, 4}};
    return {{1, 7, 63, 64, 65, 7, 7, 0, 5}, {1, 7, 63, 64, 65, 63, 3, 4, 0}};
}

// A long sequence: q_len = kv_len = 1000 where the reference stays cheap, else 65 queries on 1000 keys.
template <class H>
batch_shape long_prefill_batch() {
    if (H::q_heads * (H::head_dim + H::value_head_dim) <= 512) return {{1000}, {1000}};
    return {{65}, {1000}};
}

}  // namespace kvtest
