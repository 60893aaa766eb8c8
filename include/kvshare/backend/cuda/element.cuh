#pragma once
// The element types the CUDA kernels read: 16-bit floats, stored as __nv_bfloat16 / __half.
// Eigen::bfloat16 / Eigen::half (what host code and the CPU backend use) have the same bits and are
// accepted too when Eigen is included before this header (kvshare.hpp includes it).
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace kvshare::backend::cuda_detail {

// device_element<T>::type : the CUDA type with T's bits; ::supported : whether the kernels take T.
template <class T>
struct device_element {
    static constexpr bool supported = false;
};
template <>
struct device_element<__nv_bfloat16> {
    static constexpr bool supported = true;
    using type = __nv_bfloat16;
    static constexpr const char* name() { return "bf16"; }
};
template <>
struct device_element<__half> {
    static constexpr bool supported = true;
    using type = __half;
    static constexpr const char* name() { return "fp16"; }
};
#if defined(EIGEN_CORE_H)
template <>
struct device_element<Eigen::bfloat16> : device_element<__nv_bfloat16> {
    static_assert(sizeof(Eigen::bfloat16) == sizeof(__nv_bfloat16), "Eigen::bfloat16 must be 2 bytes");
};
template <>
struct device_element<Eigen::half> : device_element<__half> {
    static_assert(sizeof(Eigen::half) == sizeof(__half), "Eigen::half must be 2 bytes");
};
#endif

template <class T>
using device_element_t = typename device_element<std::remove_cv_t<T>>::type;

}  // namespace kvshare::backend::cuda_detail
