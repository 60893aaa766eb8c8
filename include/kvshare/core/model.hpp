#pragma once
// model<Layers, Heads, Sharing>: a transformer's attention as a type. Everything about its KV cache
// is a constant expression: the layer -> producer map, the producer count, the cache slot of each
// layer and the consumers of each producer. Example (the CLA paper's H128-MQA-CLA2):
//   using m = kvshare::model<20, kvshare::mqa<16, 128>, kvshare::cla<2>>;   // m::kv_layers == 10
#include <array>

#include "kvshare/core/concepts.hpp"
#include "kvshare/core/heads.hpp"
#include "kvshare/core/sharing.hpp"
#include "kvshare/core/slot_rules.hpp"

namespace kvshare {

// A fixed-capacity list of layer indices (constexpr-friendly).
template <int Capacity>
struct layer_list {
    std::array<int, Capacity> items{};
    int size = 0;
    constexpr const int* begin() const { return items.data(); }
    constexpr const int* end() const { return items.data() + size; }
    constexpr int operator[](int i) const { return items[i]; }
};

template <int Layers, HeadPolicy Heads, SharingPolicy Sharing>
struct model {
    using heads_type = Heads;
    using sharing_type = Sharing;

    static constexpr int layers = Layers;
    static constexpr int q_heads = Heads::q_heads;
    static constexpr int kv_heads = Heads::kv_heads;
    static constexpr int head_dim = Heads::head_dim;
    static constexpr int value_head_dim = Heads::value_head_dim;
    static constexpr int group_size = Heads::group_size;

    static_assert(Layers >= 1, "model: a model needs at least one layer (Layers >= 1)");
    static_assert(Sharing::template check<Layers>(), "model: the sharing policy does not fit this many layers");

    // slots[l]: the producer layer whose K/V layer l reads.
    static constexpr std::array<int, Layers> slots = [] {
        std::array<int, Layers> map{};
        for (int l = 0; l < Layers; ++l) map[l] = Sharing::slot(Layers, l);
        return map;
    }();

    static constexpr slot_rules::map_check map_check = slot_rules::check_map(slots, Layers);
    static_assert(map_check.defect != slot_rules::map_defect::negative,
                  "model: the sharing map sends a layer to a negative slot");
    static_assert(map_check.defect != slot_rules::map_defect::reads_forward,
                  "model: the sharing map makes a layer read a later layer (slot(l) > l); K/V must come from "
                  "the layer itself or an earlier producer");
    static_assert(map_check.defect != slot_rules::map_defect::producer_not_self,
                  "model: the sharing map makes a layer read a layer that is not a producer (a producer must "
                  "map to itself)");

    static constexpr int slot(int layer) { return slots[layer]; }
    static constexpr bool is_producer(int layer) { return slots[layer] == layer; }

    // Number of producer layers = number of K/V slots the cache holds.
    static constexpr int kv_layers = [] {
        int count = 0;
        for (int l = 0; l < Layers; ++l) count += slots[l] == l;
        return count;
    }();

    // producers[i]: the layer that owns cache slot i, in layer order.
    static constexpr std::array<int, kv_layers> producers = [] {
        std::array<int, kv_layers> list{};
        int next = 0;
        for (int l = 0; l < Layers; ++l)
            if (slots[l] == l) list[next++] = l;
        return list;
    }();

    // cache_slot(l): the index in [0, kv_layers) of the K/V that layer l reads.
    static constexpr int cache_slot(int layer) {
        int index = 0;
        for (int p = 0; p < slots[layer]; ++p) index += slots[p] == p;
        return index;
    }

    // The consumer layers that read `producer` (the producer itself not included).
    static constexpr layer_list<Layers> consumers_of(int producer) {
        layer_list<Layers> list;
        for (int l = 0; l < Layers; ++l)
            if (l != producer && slots[l] == producer) list.items[list.size++] = l;
        return list;
    }

    // K and V elements cached per token over all layers.
    static constexpr long kv_elements_per_token = kv_layers * Heads::kv_elements_per_token;
};

}  // namespace kvshare
