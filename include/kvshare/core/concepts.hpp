#pragma once
// Concepts answer "is this a policy?"; the arithmetic rules of each policy are static_asserts
// next to its declaration, where the message can say why.
#include <concepts>

namespace kvshare {

template <class T>
concept HeadPolicy = requires {
    { T::q_heads } -> std::convertible_to<int>;
    { T::kv_heads } -> std::convertible_to<int>;
    { T::head_dim } -> std::convertible_to<int>;
    { T::value_head_dim } -> std::convertible_to<int>;
    { T::group_size } -> std::convertible_to<int>;
};

// A sharing policy maps (number of layers, layer) to the producer layer whose K/V it reads.
template <class T>
concept SharingPolicy = requires(int layers, int layer) {
    { T::slot(layers, layer) } -> std::same_as<int>;
    { T::name() };
};

template <class T>
concept Model = requires(int layer) {
    typename T::heads_type;
    typename T::sharing_type;
    { T::layers } -> std::convertible_to<int>;
    { T::kv_layers } -> std::convertible_to<int>;
    { T::slot(layer) } -> std::same_as<int>;
    { T::is_producer(layer) } -> std::same_as<bool>;
} && HeadPolicy<typename T::heads_type> && SharingPolicy<typename T::sharing_type>;

}  // namespace kvshare
