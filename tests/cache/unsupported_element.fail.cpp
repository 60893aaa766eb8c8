// Must not compile: the cache stores fp32, bf16 or fp16 only.
#include "kvshare/cache/kv_cache.hpp"
#include "kvshare/core.hpp"

void unsupported_element() {
    using m = kvshare::model<2, kvshare::mqa<4, 8>, kvshare::no_sharing>;
    kvshare::kv_cache<m, double> cache(1, 8);
}
