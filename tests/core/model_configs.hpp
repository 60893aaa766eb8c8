#pragma once
// The list of model configurations the typed core tests run over: every sharing policy, MHA/GQA/MQA/
// SQA heads, a separate value head dim, remainder-first CLA, long tails and explicit maps. No two
// entries have the same heads and map, so dispatch_model can tell them all apart.
#include "kvshare/core.hpp"

namespace kvshare::test {

using paper_cla2 = model<20, mqa<16, 128>, cla<2>>;                       // the CLA paper's H128-MQA-CLA2
using paper_keep_ends = model<20, mqa<16, 128>, keep_ends>;
using paper_dense_front = model<20, mqa<16, 128>, dense_front>;
using paper_dense_back = model<20, mqa<16, 128>, dense_back>;
using llama3_8b = model<32, gqa<32, 8, 128>, no_sharing>;
using llama3_8b_cla2 = model<32, gqa<32, 8, 128>, cla<2>>;
using mha_cla3_remainder = model<10, mha<4, 32>, cla<3>>;                // producers {0, 1, 4, 7}
using mha_cla4_remainder = model<7, mha<6, 16>, cla<4>>;                 // producers {0, 3}
using value_dim_cla2 = model<9, heads<8, 2, 64, 32>, cla<2>>;            // d != d_v
using sqa_none = model<3, sqa<4, 2, 48, 8>, no_sharing>;
using mlkv_3_of_10 = model<10, gqa<12, 4, 64>, mlkv<3>>;
using tail_5_of_8 = model<8, mqa<8, 64>, tail<5>>;
using explicit_map = model<6, gqa<6, 3, 16>, slots<0, 1, 0, 1, 4, 4>>;   // non-adjacent consumers
using single_layer = model<1, mha<1, 8>, no_sharing>;
using cla_wider_than_model = model<3, mqa<2, 8>, cla<8>>;                // one producer

#define KVSHARE_TEST_MODELS                                                                                   \
    kvshare::test::paper_cla2, kvshare::test::paper_keep_ends, kvshare::test::paper_dense_front,              \
        kvshare::test::paper_dense_back, kvshare::test::llama3_8b, kvshare::test::llama3_8b_cla2,             \
        kvshare::test::mha_cla3_remainder, kvshare::test::mha_cla4_remainder, kvshare::test::value_dim_cla2,  \
        kvshare::test::sqa_none, kvshare::test::mlkv_3_of_10, kvshare::test::tail_5_of_8,                     \
        kvshare::test::explicit_map, kvshare::test::single_layer, kvshare::test::cla_wider_than_model

using all_models = model_list<KVSHARE_TEST_MODELS>;

}  // namespace kvshare::test
