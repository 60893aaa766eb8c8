#pragma once
// kvshare: attention variants that differ in how K/V heads are shared (MHA, GQA, MQA, SQA, CLA).
#include "kvshare/core.hpp"
