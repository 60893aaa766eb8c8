#pragma once
// kvshare: attention variants that differ in how K/V heads are shared (MHA, GQA, MQA, SQA, CLA).
// Host umbrella: the compile-time description, the planner, views, ops and the host backends.
// CUDA users include <kvshare/cuda.hpp> instead (it includes this header).
#include "kvshare/core.hpp"
#include "kvshare/ops.hpp"
#include "kvshare/backend/reference/attention.hpp"
#include "kvshare/tensor/view.hpp"
