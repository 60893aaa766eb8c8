// Incremental decode == full recomputation for the variants without cross-layer sharing.
#include "decoder_check.hpp"

using namespace kvshare;

TEST_CASE("decoder MHA: incremental == full, contiguous and paged, ragged") {
    test::all_layouts<model<3, mha<4, 8>, no_sharing>>(101);
}
TEST_CASE("decoder GQA-2: incremental == full, contiguous and paged, ragged") {
    test::all_layouts<model<3, gqa<4, 2, 8>, no_sharing>>(102);
}
TEST_CASE("decoder MQA: incremental == full, contiguous and paged, ragged") {
    test::all_layouts<model<3, mqa<4, 8>, no_sharing>>(103);
}
