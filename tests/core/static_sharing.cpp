// Compile-time tests of every sharing policy: the layer -> producer map, written out by hand (not
// recomputed from slot_rules), the producer count, and the runtime spelling. The content is the
// static_asserts; the one test case only reports that this file compiled.
#include <array>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

namespace {

using namespace kvshare;
using h = mha<2, 8>;  // heads do not matter for the maps

template <int L, class Sharing>
using m = model<L, h, Sharing>;

template <class M, int... Expected>
constexpr bool map_is() {
    static_assert(sizeof...(Expected) == M::layers, "map_is: one expected slot per layer");
    return M::slots == std::array<int, M::layers>{Expected...};
}

template <class M, int... Expected>
constexpr bool producers_are() {
    static_assert(sizeof...(Expected) == M::kv_layers, "producers_are: one entry per producer");
    return M::producers == std::array<int, M::kv_layers>{Expected...};
}

// ---- no_sharing: every layer is a producer --------------------------------------------------------
static_assert(map_is<m<1, no_sharing>, 0>());
static_assert(map_is<m<5, no_sharing>, 0, 1, 2, 3, 4>());
static_assert(m<5, no_sharing>::kv_layers == 5);
static_assert(SharingPolicy<no_sharing>);

// ---- cla<S>: groups of S adjacent layers, the remainder group first ------------------------------
static_assert(map_is<m<5, cla<1>>, 0, 1, 2, 3, 4>());                        // CLA1 = no sharing
static_assert(map_is<m<4, cla<2>>, 0, 0, 2, 2>());
static_assert(map_is<m<5, cla<2>>, 0, 1, 1, 3, 3>());                        // remainder {0} first
static_assert(producers_are<m<5, cla<2>>, 0, 1, 3>());
static_assert(map_is<m<10, cla<3>>, 0, 1, 1, 1, 4, 4, 4, 7, 7, 7>());        // the paper's 10-layer CLA3
static_assert(producers_are<m<10, cla<3>>, 0, 1, 4, 7>());
static_assert(map_is<m<9, cla<3>>, 0, 0, 0, 3, 3, 3, 6, 6, 6>());            // S divides L: no remainder
static_assert(map_is<m<10, cla<4>>, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6>());        // remainder {0, 1}
static_assert(producers_are<m<20, cla<3>>, 0, 2, 5, 8, 11, 14, 17>());      // Table 1 CLA3: 7 KV layers
static_assert(producers_are<m<20, cla<4>>, 0, 4, 8, 12, 16>());             // Table 1 CLA4: 5 KV layers
static_assert(map_is<m<3, cla<8>>, 0, 0, 0>());                              // S > L: one producer
static_assert(m<20, cla<2>>::kv_layers == 10);
// ceil(L / S) producers for every L, S in a small range.
template <int L, int S>
constexpr bool ceil_producers() { return m<L, cla<S>>::kv_layers == (L + S - 1) / S; }
static_assert(ceil_producers<1, 1>() && ceil_producers<7, 2>() && ceil_producers<7, 3>() && ceil_producers<7, 4>() &&
              ceil_producers<11, 5>() && ceil_producers<12, 4>() && ceil_producers<13, 6>() && ceil_producers<2, 3>());
static_assert(cla<3>::sharing_factor == 3);

// ---- keep_ends: layer 0 alone, pairs (1,2),(3,4),..., the last layer alone ------------------------
static_assert(map_is<m<4, keep_ends>, 0, 1, 1, 3>());
static_assert(map_is<m<5, keep_ends>, 0, 1, 1, 3, 4>());
static_assert(map_is<m<6, keep_ends>, 0, 1, 1, 3, 3, 5>());
static_assert(producers_are<m<20, keep_ends>, 0, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19>());  // 11 KV layers

// ---- dense_front: front half ordinary, [L/2, L-1) read layer L/2-1, the last ordinary -------------
static_assert(map_is<m<4, dense_front>, 0, 1, 1, 3>());
static_assert(map_is<m<7, dense_front>, 0, 1, 2, 2, 2, 2, 6>());
static_assert(map_is<m<20, dense_front>, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 19>());
static_assert(m<20, dense_front>::kv_layers == 11);

// ---- dense_back: layers 0, 1 ordinary, [2, L/2] read layer 1, the rest ordinary -------------------
static_assert(map_is<m<4, dense_back>, 0, 1, 1, 3>());
static_assert(map_is<m<7, dense_back>, 0, 1, 1, 1, 4, 5, 6>());
static_assert(map_is<m<20, dense_back>, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 11, 12, 13, 14, 15, 16, 17, 18, 19>());
static_assert(m<20, dense_back>::kv_layers == 11);

// ---- mlkv<M>: producers at 0 and floor((i+1)·L/M), the rest read the nearest earlier one ----------
static_assert(map_is<m<5, mlkv<1>>, 0, 0, 0, 0, 0>());
static_assert(map_is<m<10, mlkv<3>>, 0, 0, 0, 3, 3, 3, 6, 6, 6, 6>());
static_assert(producers_are<m<20, mlkv<4>>, 0, 5, 10, 15>());
static_assert(producers_are<m<7, mlkv<3>>, 0, 2, 4>());                    // floor(7/3) = 2, floor(14/3) = 4
static_assert(map_is<m<4, mlkv<4>>, 0, 1, 2, 3>());                         // M = L: no sharing
static_assert(m<32, mlkv<8>>::kv_layers == 8);
static_assert(mlkv<4>::kv_layer_count == 4);

// ---- tail<N>: the last N layers read the layer before them ---------------------------------------
static_assert(map_is<m<6, tail<0>>, 0, 1, 2, 3, 4, 5>());
static_assert(map_is<m<6, tail<2>>, 0, 1, 2, 3, 3, 3>());
static_assert(map_is<m<6, tail<5>>, 0, 0, 0, 0, 0, 0>());
static_assert(producers_are<m<30, tail<10>>, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19>());
static_assert(tail<2>::tail_layers == 2);

// ---- slots<...>: an explicit map ------------------------------------------------------------------
static_assert(map_is<m<4, slots<0, 0, 2, 2>>, 0, 0, 2, 2>());
static_assert(map_is<m<5, slots<0, 1, 0, 1, 4>>, 0, 1, 0, 1, 4>());         // non-adjacent readers are fine
static_assert(producers_are<m<5, slots<0, 1, 0, 1, 4>>, 0, 1, 4>());
static_assert(map_is<m<1, slots<0>>, 0>());

// ---- every policy is a SharingPolicy; other types are not ----------------------------------------
static_assert(SharingPolicy<cla<2>> && SharingPolicy<keep_ends> && SharingPolicy<dense_front> &&
              SharingPolicy<dense_back> && SharingPolicy<mlkv<2>> && SharingPolicy<tail<1>> &&
              SharingPolicy<slots<0, 0>>);
static_assert(!SharingPolicy<int> && !SharingPolicy<h>);

}  // namespace

TEST_CASE("sharing policies: the static_asserts of static_sharing.cpp compiled") {
    // The runtime spellings, which the planner CLI and dispatch errors print.
    CHECK(no_sharing::name() == "none");
    CHECK(cla<3>::name() == "cla:3");
    CHECK(keep_ends::name() == "keep_ends");
    CHECK(dense_front::name() == "dense_front");
    CHECK(dense_back::name() == "dense_back");
    CHECK(mlkv<4>::name() == "mlkv:4");
    CHECK(tail<2>::name() == "tail:2");
    CHECK(slots<0, 0, 2, 2>::name() == "slots:0,0,2,2");
}
