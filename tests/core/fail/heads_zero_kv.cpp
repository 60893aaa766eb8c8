// Must not compile: a head policy with no K/V head (KV = 0).
#include "kvshare/core.hpp"

constexpr int group = kvshare::gqa<8, 0, 64>::kv_heads;
