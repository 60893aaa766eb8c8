// Must not compile: a tail of 4 layers in a 4-layer model leaves no producer before it (N >= layers).
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::tail<4>>::kv_layers;
