// Must not compile: MLKV with no KV layer (mlkv<0>).
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::mlkv<0>>::kv_layers;
