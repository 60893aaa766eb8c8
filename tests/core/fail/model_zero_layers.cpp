// Must not compile: a model with no layer.
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<0, kvshare::mha<2, 8>, kvshare::no_sharing>::kv_layers;
