// Must not compile: a head policy with no query head.
#include "kvshare/core.hpp"

constexpr int group = kvshare::heads<0, 1, 64>::q_heads;
