// Incremental decode == full recomputation for variants with cross-layer sharing: consumers read
// their producer's slot and write nothing.
#include "decoder_check.hpp"

using namespace kvshare;

TEST_CASE("decoder MQA-CLA2: incremental == full, contiguous and paged, ragged") {
    test::all_layouts<model<4, mqa<4, 8>, cla<2>>>(201);
}
TEST_CASE("decoder GQA2-CLA2: incremental == full, contiguous and paged, ragged") {
    test::all_layouts<model<4, gqa<4, 2, 8>, cla<2>>>(202);
}
TEST_CASE("decoder MQA-CLA3 (remainder group): incremental == full, contiguous and paged, ragged") {
    test::all_layouts<model<5, mqa<4, 8>, cla<3>>>(203);
}
TEST_CASE("decoder MHA keep_ends / MLKV: incremental == full, contiguous and paged, ragged") {
    test::all_layouts<model<5, mha<4, 8>, keep_ends>>(204);
    test::all_layouts<model<5, gqa<4, 2, 8>, mlkv<2>>>(205);
}
TEST_CASE("decoder dense_front / dense_back / tail / explicit slots: incremental == full, contiguous and paged, ragged") {
    test::all_layouts<model<5, mqa<4, 8>, dense_front>>(206);
    test::all_layouts<model<5, mqa<4, 8>, dense_back>>(207);
    test::all_layouts<model<5, gqa<4, 2, 8>, tail<2>>>(208);
    test::all_layouts<model<5, mha<4, 8>, slots<0, 0, 2, 2, 0>>>(209);
}
