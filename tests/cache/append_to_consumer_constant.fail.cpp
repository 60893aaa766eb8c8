// Must not compile: the layer as a std::integral_constant is a consumer too.
#include <type_traits>

#include "kvshare/cache/kv_cache.hpp"
#include "kvshare/core.hpp"

void append_to_consumer() {
    using m = kvshare::model<6, kvshare::gqa<4, 2, 8>, kvshare::cla<3>>;
    kvshare::kv_cache<m, float> cache(1, 8);
    float k[16] = {}, v[16] = {};
    const kvshare::host_view<const float, 3> kk(k, {1, 2, 8}), vv(v, {1, 2, 8});
    const std::int32_t offsets[2] = {0, 1};
    cache.append(std::integral_constant<int, 4>{}, kk, vv, kvshare::host_offsets(offsets));
}
