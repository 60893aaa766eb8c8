#pragma once
// The element types a kv_cache stores, and their planner dtype: float -> fp32,
// Eigen::bfloat16 -> bf16, Eigen::half -> fp16.
#include <Eigen/Core>

#include "kvshare/core/dtype.hpp"

namespace kvshare {

template <class T>
struct cache_element {
    static_assert(sizeof(T) == 0,
                  "kv_cache: unsupported element type; use float (fp32), Eigen::bfloat16 (bf16) or Eigen::half (fp16)");
};
template <>
struct cache_element<float> {
    static constexpr dtype type = dtype::fp32;
};
template <>
struct cache_element<Eigen::bfloat16> {
    static constexpr dtype type = dtype::bf16;
};
template <>
struct cache_element<Eigen::half> {
    static constexpr dtype type = dtype::fp16;
};

template <class T>
inline constexpr dtype dtype_of = cache_element<T>::type;

}  // namespace kvshare
