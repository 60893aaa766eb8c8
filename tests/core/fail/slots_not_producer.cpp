// Must not compile: layer 2 reads layer 1, which is not a producer (layer 1 reads layer 0).
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::slots<0, 0, 1, 1>>::kv_layers;
