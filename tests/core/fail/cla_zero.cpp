// Must not compile: CLA with sharing factor 0.
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::cla<0>>::kv_layers;
