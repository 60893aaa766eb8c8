// Must not compile: layer 1 reads layer 2, a later layer.
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::slots<0, 2, 2, 2>>::kv_layers;
