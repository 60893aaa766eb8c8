// Must not compile: layer 1 maps to slot -1.
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::slots<0, -1, 2, 2>>::kv_layers;
