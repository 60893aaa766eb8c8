// Compile-time tests of model<L, Heads, Sharing>: its re-exported parameters, slots, producers,
// cache_slot, consumers_of and kv_layers as constant expressions, and the Model concept.
#include <array>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

namespace {

using namespace kvshare;

template <int N>
constexpr bool list_is(const layer_list<N>& list, std::initializer_list<int> expected) {
    if (list.size != static_cast<int>(expected.size())) return false;
    int i = 0;
    for (int v : expected)
        if (list[i++] != v) return false;
    return true;
}

// The paper's H128-MQA-CLA2 from model.hpp's comment.
using cla2 = model<20, mqa<16, 128>, cla<2>>;
static_assert(cla2::layers == 20 && cla2::q_heads == 16 && cla2::kv_heads == 1 && cla2::head_dim == 128 &&
              cla2::value_head_dim == 128 && cla2::group_size == 16);
static_assert(cla2::kv_layers == 10);
static_assert(cla2::slot(0) == 0 && cla2::slot(1) == 0 && cla2::slot(18) == 18 && cla2::slot(19) == 18);
static_assert(cla2::is_producer(0) && !cla2::is_producer(1) && cla2::is_producer(2) && !cla2::is_producer(19));
static_assert(cla2::producers == std::array<int, 10>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18});
static_assert(cla2::cache_slot(0) == 0 && cla2::cache_slot(1) == 0 && cla2::cache_slot(2) == 1 &&
              cla2::cache_slot(19) == 9);
static_assert(list_is(cla2::consumers_of(0), {1}) && list_is(cla2::consumers_of(18), {19}));
static_assert(list_is(cla2::consumers_of(1), {}));   // a consumer has no consumers
static_assert(cla2::kv_elements_per_token == 10 * 1 * (128 + 128));
static_assert(std::is_same_v<cla2::heads_type, mqa<16, 128>> && std::is_same_v<cla2::sharing_type, cla<2>>);

// Remainder-first CLA3 over 10 layers: producers {0, 1, 4, 7}.
using cla3 = model<10, heads<8, 2, 64, 32>, cla<3>>;
static_assert(cla3::kv_layers == 4);
static_assert(cla3::producers == std::array<int, 4>{0, 1, 4, 7});
static_assert(cla3::cache_slot(0) == 0 && cla3::cache_slot(1) == 1 && cla3::cache_slot(3) == 1 &&
              cla3::cache_slot(4) == 2 && cla3::cache_slot(9) == 3);
static_assert(list_is(cla3::consumers_of(0), {}) && list_is(cla3::consumers_of(1), {2, 3}) &&
              list_is(cla3::consumers_of(7), {8, 9}));
static_assert(cla3::value_head_dim == 32 && cla3::kv_elements_per_token == 4 * 2 * (64 + 32));

// Non-adjacent consumers (an explicit map): producer 0 is read by 2, producer 1 by 3.
using interleaved = model<5, mha<4, 16>, slots<0, 1, 0, 1, 4>>;
static_assert(interleaved::kv_layers == 3);
static_assert(list_is(interleaved::consumers_of(0), {2}) && list_is(interleaved::consumers_of(1), {3}) &&
              list_is(interleaved::consumers_of(4), {}));
static_assert(interleaved::cache_slot(2) == 0 && interleaved::cache_slot(3) == 1 && interleaved::cache_slot(4) == 2);

// A long tail: one producer read by many layers.
using yoco = model<8, gqa<8, 4, 32>, tail<5>>;
static_assert(yoco::producers == std::array<int, 3>{0, 1, 2});
static_assert(list_is(yoco::consumers_of(2), {3, 4, 5, 6, 7}));
static_assert(yoco::cache_slot(7) == 2);

// One layer.
using single = model<1, mqa<1, 1>, no_sharing>;
static_assert(single::kv_layers == 1 && single::producers == std::array<int, 1>{0} && single::cache_slot(0) == 0);

// The Model concept.
static_assert(Model<cla2> && Model<cla3> && Model<interleaved> && Model<single>);
static_assert(!Model<int> && !Model<mqa<16, 128>> && !Model<cla<2>>);

}  // namespace

TEST_CASE("model: the static_asserts of static_model.cpp compiled") {
    CHECK(cla2::kv_layers == 10);
}
