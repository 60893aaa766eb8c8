#pragma once
// Backend tags and the trait that picks one from a memory space. Each backend specializes
// attention_backend<Tag> in its own folder; the primary template says what is missing.
#include <type_traits>

#include "kvshare/tensor/memory_space.hpp"

namespace kvshare::backend {

struct cpu {
    static constexpr const char* name() { return "cpu"; }
    static bool supported() { return true; }
};

struct reference {
    static constexpr const char* name() { return "reference"; }
    static bool supported() { return true; }
};

struct cuda {
    static constexpr const char* name() { return "cuda"; }
    static bool supported();   // defined by backend/cuda (a device is present)
};

template <MemorySpace Space>
struct default_for;
template <>
struct default_for<host_memory> {
    using type = cpu;
};
template <>
struct default_for<device_memory> {
    using type = cuda;
};
template <MemorySpace Space>
using default_for_t = typename default_for<Space>::type;

template <class>
inline constexpr bool dependent_false = false;

template <class Tag>
struct attention_backend {
    static_assert(dependent_false<Tag>,
                  "kvshare: no attention backend for this tag/memory space. Host views use backend::cpu "
                  "(include <kvshare/kvshare.hpp>); device views need <kvshare/cuda.hpp> and the kvshare::cuda target.");
};

}  // namespace kvshare::backend
