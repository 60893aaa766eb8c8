#pragma once
// Runtime -> compile time: dispatch_model(desc, model_list<M...>{}, f) calls f(M{}) for the one
// compiled model type M whose heads and layer -> producer map equal the description's, and throws
// kvshare::error naming what was asked and what is supported otherwise. Sharing patterns match by
// their maps, so "slots:0,0,2,2" selects a model declared with cla<2> over 4 layers.
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kvshare/core/concepts.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/core/model_desc.hpp"

namespace kvshare {

template <Model... Models>
struct model_list {
    static constexpr int size = sizeof...(Models);
};

namespace detail {
template <Model M>
bool describes(const model_desc& desc, const std::vector<int>& slots) {
    if (desc.layers != M::layers || desc.q_heads != M::q_heads || desc.kv_heads != M::kv_heads ||
        desc.head_dim != M::head_dim || desc.effective_value_head_dim() != M::value_head_dim)
        return false;
    for (int l = 0; l < M::layers; ++l)
        if (slots[l] != M::slot(l)) return false;
    return true;
}
}  // namespace detail

template <Model... Models, class Function>
decltype(auto) dispatch_model(const model_desc& desc, model_list<Models...>, Function&& function) {
    const std::vector<int> slots = desc.validated_slots();
    using result = std::common_type_t<decltype(function(Models{}))...>;
    if constexpr (std::is_void_v<result>) {
        const bool found = ((detail::describes<Models>(desc, slots) ? (function(Models{}), true) : false) || ...);
        if (found) return;
    } else {
        std::optional<result> value;
        ((detail::describes<Models>(desc, slots) ? (value.emplace(function(Models{})), true) : false) || ...);
        if (value) return result(std::move(*value));
    }
    std::string supported;
    ((supported += "\n  " + to_string(model_desc::of<Models>())), ...);
    detail::throw_error("no compiled model matches {", to_string(desc), "}; this build supports:", supported);
}

}  // namespace kvshare
