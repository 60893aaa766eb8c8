#pragma once
// The attention backends the cache and model tests run on. The properties they check
// (paged == contiguous, incremental == full recomputation, checkpoint == in-memory) hold for any
// backend: each test runs on the default host backend (cpu) and on the reference backend.
#include "kvshare/backend/cpu/attention.hpp"
#include "kvshare/backend/reference/attention.hpp"
namespace kvshare::test {
using backend = kvshare::backend::cpu;
}
