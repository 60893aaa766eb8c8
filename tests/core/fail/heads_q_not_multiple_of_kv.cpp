// Must not compile: 8 query heads do not split into groups over 3 K/V heads (H % KV != 0).
#include "kvshare/core.hpp"

constexpr int group = kvshare::heads<8, 3, 64>::group_size;
