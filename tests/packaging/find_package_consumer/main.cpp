// Packaging test: a consumer of an installed kvshare (find_package).
#include <kvshare/kvshare.hpp>

int main() {
    using m = kvshare::model<20, kvshare::mqa<16, 128>, kvshare::cla<2>>;
    return m::kv_layers == 10 ? 0 : 1;
}
