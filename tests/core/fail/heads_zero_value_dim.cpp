// Must not compile: a value head dimension of 0 (Dv = 0).
#include "kvshare/core.hpp"

constexpr int dim = kvshare::heads<8, 8, 64, 0>::value_head_dim;
