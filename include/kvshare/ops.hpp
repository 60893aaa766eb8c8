#pragma once
// The public ops: prefill and decode over views; the backend is chosen from the views' memory space.
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/decode.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/ops/kv_view.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/ops/prefill.hpp"
