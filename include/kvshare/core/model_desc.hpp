#pragma once
// model_desc: a model's attention described by runtime values (a config file, a command line).
// validated() checks it and returns its slot map; dispatch.hpp turns it into a compiled model type.
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kvshare/core/concepts.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/core/sharing_spec.hpp"

namespace kvshare {

struct model_desc {
    int layers = 0;
    int q_heads = 0;
    int kv_heads = 0;
    int head_dim = 0;
    int value_head_dim = 0;   // 0 means "same as head_dim"
    sharing_spec sharing{};

    int effective_value_head_dim() const { return value_head_dim == 0 ? head_dim : value_head_dim; }

    // Checks every field and returns the layer -> producer map; throws kvshare::error naming the
    // first bad value.
    std::vector<int> validated_slots() const {
        KVSHARE_REQUIRE(layers >= 1, "layers = ", layers, ": need at least one layer");
        KVSHARE_REQUIRE(q_heads >= 1, "q_heads = ", q_heads, ": need at least one query head");
        KVSHARE_REQUIRE(kv_heads >= 1, "kv_heads = ", kv_heads, ": need at least one K/V head");
        KVSHARE_REQUIRE(q_heads % kv_heads == 0, "q_heads = ", q_heads, " is not a multiple of kv_heads = ",
                        kv_heads);
        KVSHARE_REQUIRE(head_dim >= 1, "head_dim = ", head_dim, ": must be positive");
        KVSHARE_REQUIRE(value_head_dim >= 0, "value_head_dim = ", value_head_dim, ": must be positive (or 0 for head_dim)");
        return slot_map(sharing, layers);
    }

    template <Model M>
    static model_desc of() {
        return {M::layers, M::q_heads, M::kv_heads, M::head_dim, M::value_head_dim, M::sharing_type::spec()};
    }
};

inline std::string to_string(const model_desc& desc) {
    std::ostringstream text;
    text << "layers=" << desc.layers << " q_heads=" << desc.q_heads << " kv_heads=" << desc.kv_heads
         << " head_dim=" << desc.head_dim;
    if (desc.value_head_dim != 0 && desc.value_head_dim != desc.head_dim)
        text << " value_head_dim=" << desc.value_head_dim;
    text << " sharing=" << to_string(desc.sharing);
    return text.str();
}

}  // namespace kvshare
