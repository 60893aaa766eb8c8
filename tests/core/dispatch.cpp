// dispatch_model: runtime description -> compiled model type, and its error branches.
#include <string>
#include <type_traits>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

using namespace kvshare;

namespace {

using cla2_4 = model<4, gqa<8, 2, 64>, cla<2>>;
using none_4 = model<4, gqa<8, 2, 64>, no_sharing>;
using mqa_6_tail = model<6, mqa<4, 32>, tail<2>>;
using supported = model_list<cla2_4, none_4, mqa_6_tail>;

std::string message_of(const model_desc& desc) {
    try {
        dispatch_model(desc, supported{}, [](auto) {});
    } catch (const error& e) {
        return e.what();
    }
    FAIL("dispatch_model did not throw for {", to_string(desc), "}");
    return {};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("dispatch_model calls the function with the matching type and returns its value") {
    const model_desc desc{4, 8, 2, 64, 0, parse_sharing("cla:2")};
    int calls = 0;
    const int kv = dispatch_model(desc, supported{}, [&](auto m) {
        ++calls;
        return decltype(m)::kv_layers;
    });
    CHECK(kv == 2);
    CHECK(calls == 1);

    // A void function works too.
    std::string chosen;
    dispatch_model(model_desc{6, 4, 1, 32, 0, parse_sharing("tail:2")}, supported{},
                   [&](auto m) { chosen = decltype(m)::sharing_type::name(); });
    CHECK(chosen == "tail:2");
}

TEST_CASE("dispatch_model matches by map: an explicit slot list selects the policy with that map") {
    const model_desc as_slots{4, 8, 2, 64, 0, parse_sharing("slots:0,0,2,2")};
    CHECK(dispatch_model(as_slots, supported{}, [](auto m) { return std::is_same_v<decltype(m), cla2_4>; }));
    const model_desc as_identity{4, 8, 2, 64, 0, parse_sharing("slots:0,1,2,3")};
    CHECK(dispatch_model(as_identity, supported{}, [](auto m) { return std::is_same_v<decltype(m), none_4>; }));
    // mlkv:2 over 4 layers has producers {0, 2}: the same map as cla:2.
    const model_desc as_mlkv{4, 8, 2, 64, 0, parse_sharing("mlkv:2")};
    CHECK(dispatch_model(as_mlkv, supported{}, [](auto m) { return std::is_same_v<decltype(m), cla2_4>; }));
}

TEST_CASE("dispatch_model: value_head_dim 0 and value_head_dim == head_dim describe the same model") {
    const model_desc explicit_dv{4, 8, 2, 64, 64, parse_sharing("none")};
    CHECK(dispatch_model(explicit_dv, supported{}, [](auto m) { return std::is_same_v<decltype(m), none_4>; }));
    const model_desc other_dv{4, 8, 2, 64, 32, parse_sharing("none")};
    CHECK_THROWS_AS(dispatch_model(other_dv, supported{}, [](auto) {}), error);
}

TEST_CASE("dispatch_model: an unsupported description names the request and lists what is supported") {
    // Each field differs from every compiled model in exactly one way.
    for (const model_desc& desc : {model_desc{4, 8, 2, 64, 0, parse_sharing("cla:3")},       // map
                                   model_desc{5, 8, 2, 64, 0, parse_sharing("cla:2")},       // layers
                                   model_desc{4, 16, 2, 64, 0, parse_sharing("cla:2")},      // q heads
                                   model_desc{4, 8, 4, 64, 0, parse_sharing("cla:2")},       // kv heads
                                   model_desc{4, 8, 2, 128, 0, parse_sharing("cla:2")},      // head dim
                                   model_desc{4, 8, 2, 64, 32, parse_sharing("cla:2")}}) {   // value head dim
        const std::string message = message_of(desc);
        INFO(message);
        CHECK(message.starts_with("kvshare: no compiled model matches {" + to_string(desc) + "}"));
        CHECK(contains(message, "this build supports:"));
        CHECK(contains(message, "\n  layers=4 q_heads=8 kv_heads=2 head_dim=64 sharing=cla:2"));
        CHECK(contains(message, "\n  layers=4 q_heads=8 kv_heads=2 head_dim=64 sharing=none"));
        CHECK(contains(message, "\n  layers=6 q_heads=4 kv_heads=1 head_dim=32 sharing=tail:2"));
    }
    // The request as it was spelled.
    CHECK(contains(message_of(model_desc{4, 8, 2, 64, 32, parse_sharing("cla:2")}), "value_head_dim=32"));
    CHECK(contains(message_of(model_desc{4, 8, 2, 64, 0, parse_sharing("cla:3")}), "sharing=cla:3"));
}

TEST_CASE("dispatch_model: invalid descriptions throw with the reason, before calling anything") {
    int calls = 0;
    auto count = [&](auto) { ++calls; };
    auto message = [&](const model_desc& desc) -> std::string {
        try {
            dispatch_model(desc, supported{}, count);
        } catch (const error& e) {
            return e.what();
        }
        return "(no error)";
    };
    CHECK(message({4, 8, 3, 64, 0, {}}) == "kvshare: q_heads = 8 is not a multiple of kv_heads = 3");
    CHECK(message({4, 8, 0, 64, 0, {}}) == "kvshare: kv_heads = 0: need at least one K/V head");
    CHECK(message({4, 0, 2, 64, 0, {}}) == "kvshare: q_heads = 0: need at least one query head");
    CHECK(message({4, 8, 2, 0, 0, {}}) == "kvshare: head_dim = 0: must be positive");
    CHECK(message({0, 8, 2, 64, 0, {}}) == "kvshare: layers = 0: need at least one layer");
    CHECK(message({4, 8, 2, 64, -1, {}}) ==
          "kvshare: value_head_dim = -1: must be positive (or 0 for head_dim)");
    CHECK(message({4, 8, 2, 64, 0, parse_sharing("slots:0,2,2,2")}) ==
          "kvshare: sharing slots:0,2,2,2: layer 1 reads layer 2, a later layer (a layer may only read itself or "
          "an earlier producer)");
    CHECK(message({4, 8, 2, 64, 0, parse_sharing("slots:0,0,1,1")}) ==
          "kvshare: sharing slots:0,0,1,1: layer 2 reads layer 1, which is not a producer (it reads layer 0 itself)");
    CHECK(message({4, 8, 2, 64, 0, parse_sharing("slots:0,0,2")}) ==
          "kvshare: sharing slots: the list has 3 entries but the model has 4 layers");
    CHECK(calls == 0);
}
