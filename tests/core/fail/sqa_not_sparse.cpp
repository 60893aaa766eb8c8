// Must not compile: an SQA policy with as many query heads as its baseline (QHeads >= BaselineQHeads).
#include "kvshare/core.hpp"

constexpr double ratio = kvshare::sqa<16, 4, 64, 16>::flop_ratio;
