// Must not compile: a head dimension of 0 (D = 0).
#include "kvshare/core.hpp"

constexpr int dim = kvshare::mha<8, 0>::head_dim;
