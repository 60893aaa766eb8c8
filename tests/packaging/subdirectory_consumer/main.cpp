// Packaging test: a consumer that builds kvshare as a subproject (add_subdirectory).
#include <kvshare/kvshare.hpp>

int main() {
    using m = kvshare::model<20, kvshare::mqa<16, 128>, kvshare::cla<2>>;
    return m::kv_layers == 10 ? 0 : 1;
}
