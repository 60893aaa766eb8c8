// Must not compile: a tail of negative length.
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<4, kvshare::mha<2, 8>, kvshare::tail<-1>>::kv_layers;
