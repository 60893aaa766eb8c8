// Must not compile: layer 1 of a CLA-2 model is a consumer; it owns no cache slot to append to.
#include "kvshare/cache/kv_cache.hpp"
#include "kvshare/core.hpp"

void append_to_consumer() {
    using m = kvshare::model<4, kvshare::mqa<4, 8>, kvshare::cla<2>>;
    kvshare::kv_cache<m, float> cache(1, 8);
    float k[8] = {}, v[8] = {};
    const kvshare::host_view<const float, 3> kk(k, {1, 1, 8}), vv(v, {1, 1, 8});
    cache.append<1>(0, kk, vv);
}
