// Must not compile: an explicit map with 3 entries for a 4-layer model.
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::slots<0, 0, 2>>::kv_layers;
