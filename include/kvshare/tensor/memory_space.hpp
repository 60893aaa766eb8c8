#pragma once
// Memory spaces: where a view's elements live. The space is part of a view's type, and the backend
// of an op is chosen from it (backend/select.hpp), so the same call compiles for host or device data.

namespace kvshare {

struct host_memory {
    static constexpr const char* name() { return "host"; }
};

struct device_memory {
    static constexpr const char* name() { return "cuda device"; }
};

template <class T>
concept MemorySpace = requires { T::name(); };

}  // namespace kvshare
