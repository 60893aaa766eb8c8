#pragma once
// The layer -> producer-layer rules of every sharing pattern, as plain constexpr functions of
// (layers, layer). The compile-time policies (sharing.hpp) and the runtime description
// (sharing_spec.hpp) both call these, so a pattern is defined exactly once.
//
// Vocabulary: layer l *reads* the K/V computed by layer slot(l). A *producer* computes its own
// K/V (slot(l) == l); a *consumer* reads an earlier producer's (slot(l) < l).

namespace kvshare::slot_rules {

// MHA/GQA/MQA without cross-layer sharing: every layer is a producer.
constexpr int none(int /*layers*/, int layer) { return layer; }

// CLA-s: groups of s adjacent layers; the first layer of a group produces, the others read it.
// When s does not divide L, the short remainder group comes first: L = 10, s = 3 gives the
// groups {0} {1,2,3} {4,5,6} {7,8,9}, producers {0, 1, 4, 7}; ceil(L/s) producers in all.
constexpr int cla(int layers, int s, int layer) {
    const int remainder = layers % s;
    if (layer < remainder) return 0;
    return remainder + ((layer - remainder) / s) * s;
}

// CLA paper, KeepEnds: layer 0 alone, pairs (1,2), (3,4), ..., the last layer alone.
constexpr int keep_ends(int layers, int layer) {
    if (layer == 0 || layer == layers - 1) return layer;
    return 1 + ((layer - 1) / 2) * 2;
}

// CLA paper, DenseFront (L = 20): layers 0..9 ordinary, 10..18 read layer 9, layer 19 ordinary.
// In general: the front half [0, L/2) ordinary, [L/2, L-1) read layer L/2 - 1, the last ordinary.
constexpr int dense_front(int layers, int layer) {
    const int half = layers / 2;
    if (layer < half || layer == layers - 1) return layer;
    return half - 1;
}

// CLA paper, DenseBack (L = 20): layers 0, 1 ordinary, 2..10 read layer 1, 11..19 ordinary.
// In general: layers 0, 1 ordinary, [2, L/2] read layer 1, (L/2, L) ordinary.
constexpr int dense_back(int layers, int layer) {
    const int half = layers / 2;
    if (layer < 2 || layer > half) return layer;
    return 1;
}

// MLKV with m KV layers: producers at 0 and floor((i+1)·L/m) for i < m-1; every other layer
// reads the nearest earlier producer.
constexpr int mlkv(int layers, int m, int layer) {
    int nearest = 0;
    for (int i = 0; i + 1 < m; ++i) {
        const int producer = static_cast<int>((static_cast<long long>(i) + 1) * layers / m);
        if (producer <= layer && producer > nearest) nearest = producer;
    }
    return nearest;
}

// Gemma-3n / YOCO-style tail: the last n layers read the last layer before them.
constexpr int tail(int layers, int n, int layer) {
    const int last_producer = layers - n - 1;
    return layer <= last_producer ? layer : last_producer;
}

// What is wrong with a slot map, if anything; checked at compile time by model<> and at run time
// by slot_map(). `layer` is the first layer where the rule breaks.
enum class map_defect { none, negative, reads_forward, producer_not_self };
struct map_check {
    map_defect defect = map_defect::none;
    int layer = -1;
};

template <class Slots>
constexpr map_check check_map(const Slots& slots, int layers) {
    for (int l = 0; l < layers; ++l) {
        if (slots[l] < 0) return {map_defect::negative, l};
        if (slots[l] > l) return {map_defect::reads_forward, l};
    }
    for (int l = 0; l < layers; ++l) {
        // Layer slots[l] is read by l, so it must be a producer: it maps to itself.
        if (slots[slots[l]] != slots[l]) return {map_defect::producer_not_self, l};
    }
    return {};
}

}  // namespace kvshare::slot_rules
