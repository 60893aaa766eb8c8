// Must not compile: the paper's KeepEnds pattern over 3 layers (it needs ends and a middle: >= 4).
#include "kvshare/core.hpp"

constexpr int kv = kvshare::model<3, kvshare::mha<2, 8>, kvshare::keep_ends>::kv_layers;
