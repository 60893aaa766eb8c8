#pragma once
// The compile-time description of attention variants and the KV memory planner.
#include "kvshare/core/concepts.hpp"
#include "kvshare/core/dispatch.hpp"
#include "kvshare/core/dtype.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/core/heads.hpp"
#include "kvshare/core/model.hpp"
#include "kvshare/core/model_desc.hpp"
#include "kvshare/core/planner.hpp"
#include "kvshare/core/sharing.hpp"
#include "kvshare/core/sharing_spec.hpp"
