// Must not compile: MLKV with 5 KV layers in a 4-layer model (M > layers).
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::mlkv<5>>::kv_layers;
