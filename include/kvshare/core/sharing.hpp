#pragma once
// Sharing policies: compile-time layer -> producer-layer maps. Each answers
//   slot(layers, layer) — the producer layer whose K/V `layer` reads (constexpr),
//   name()              — its planner spelling,  spec() — its runtime description,
//   check<Layers>()     — static_asserts for the number of layers it is used with.
// model<> (model.hpp) binds a policy to a layer count and checks the resulting map.
#include <array>
#include <string>

#include "kvshare/core/sharing_spec.hpp"
#include "kvshare/core/slot_rules.hpp"

namespace kvshare {

struct no_sharing {
    static constexpr int slot(int layers, int layer) { return slot_rules::none(layers, layer); }
    static sharing_spec spec() { return {sharing_kind::none, 0, {}}; }
    static std::string name() { return to_string(spec()); }
    template <int Layers>
    static constexpr bool check() { return true; }
};

// Cross-Layer Attention with sharing factor S (CLA2 halves the cache).
template <int S>
struct cla {
    static constexpr int sharing_factor = S;
    static_assert(S >= 1, "cla<S>: the sharing factor S must be >= 1");
    static constexpr int slot(int layers, int layer) { return slot_rules::cla(layers, S, layer); }
    static sharing_spec spec() { return {sharing_kind::cla, S, {}}; }
    static std::string name() { return to_string(spec()); }
    template <int Layers>
    static constexpr bool check() { return true; }
};

namespace detail {
template <int Layers>
constexpr bool has_ends_and_middle() {
    static_assert(Layers >= 4, "keep_ends / dense_front / dense_back: the pattern needs at least 4 layers");
    return true;
}
}  // namespace detail

struct keep_ends {
    static constexpr int slot(int layers, int layer) { return slot_rules::keep_ends(layers, layer); }
    static sharing_spec spec() { return {sharing_kind::keep_ends, 0, {}}; }
    static std::string name() { return to_string(spec()); }
    template <int Layers>
    static constexpr bool check() { return detail::has_ends_and_middle<Layers>(); }
};

struct dense_front {
    static constexpr int slot(int layers, int layer) { return slot_rules::dense_front(layers, layer); }
    static sharing_spec spec() { return {sharing_kind::dense_front, 0, {}}; }
    static std::string name() { return to_string(spec()); }
    template <int Layers>
    static constexpr bool check() { return detail::has_ends_and_middle<Layers>(); }
};

struct dense_back {
    static constexpr int slot(int layers, int layer) { return slot_rules::dense_back(layers, layer); }
    static sharing_spec spec() { return {sharing_kind::dense_back, 0, {}}; }
    static std::string name() { return to_string(spec()); }
    template <int Layers>
    static constexpr bool check() { return detail::has_ends_and_middle<Layers>(); }
};

// MLKV: M KV layers placed by floor((i+1)·L/M); the others read the nearest earlier one.
template <int M>
struct mlkv {
    static constexpr int kv_layer_count = M;
    static_assert(M >= 1, "mlkv<M>: need at least one KV layer (M >= 1)");
    static constexpr int slot(int layers, int layer) { return slot_rules::mlkv(layers, M, layer); }
    static sharing_spec spec() { return {sharing_kind::mlkv, M, {}}; }
    static std::string name() { return to_string(spec()); }
    template <int Layers>
    static constexpr bool check() {
        static_assert(M <= Layers, "mlkv<M>: more KV layers than the model has layers (M > Layers)");
        return true;
    }
};

// Gemma-3n / YOCO-style tail: the last N layers read the last layer before them.
template <int N>
struct tail {
    static constexpr int tail_layers = N;
    static_assert(N >= 0, "tail<N>: the tail length must be >= 0");
    static constexpr int slot(int layers, int layer) { return slot_rules::tail(layers, N, layer); }
    static sharing_spec spec() { return {sharing_kind::tail, N, {}}; }
    static std::string name() { return to_string(spec()); }
    template <int Layers>
    static constexpr bool check() {
        static_assert(N < Layers, "tail<N>: the tail must leave at least one producer layer before it (N < Layers)");
        return true;
    }
};

// An explicit map: slots<0, 0, 2, 2> means layers 1 and 3 read layers 0 and 2.
template <int... Slots>
struct slots {
    static constexpr std::array<int, sizeof...(Slots)> map{Slots...};
    static_assert(sizeof...(Slots) >= 1, "slots<...>: the list needs one entry per layer");
    static constexpr int slot(int /*layers*/, int layer) { return map[layer]; }
    static sharing_spec spec() { return {sharing_kind::slots, 0, std::vector<int>{Slots...}}; }  // nvcc: no nested {pack...}
    static std::string name() { return to_string(spec()); }
    template <int Layers>
    static constexpr bool check() {
        static_assert(sizeof...(Slots) == Layers, "slots<...>: the list must have exactly one entry per layer");
        return true;
    }
};

}  // namespace kvshare
