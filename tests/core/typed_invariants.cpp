// Typed tests over the configurations of model_configs.hpp: the invariants every model's sharing
// map must satisfy, and agreement of the runtime path (model_desc, plan_memory, dispatch_model)
// with the compile-time one.
#include <set>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"
#include "model_configs.hpp"

using namespace kvshare;

TEST_CASE_TEMPLATE_DEFINE("model invariants", M, model_invariants) {
    INFO("model: ", to_string(model_desc::of<M>()));

    SUBCASE("every layer reads itself or an earlier producer") {
        for (int l = 0; l < M::layers; ++l) {
            CHECK(M::slot(l) >= 0);
            CHECK(M::slot(l) <= l);
            CHECK(M::is_producer(M::slot(l)));
            CHECK(M::is_producer(l) == (M::slot(l) == l));
        }
        CHECK(M::is_producer(0));   // layer 0 has nothing earlier to read
    }

    SUBCASE("kv_layers counts the distinct slots; producers lists them in layer order") {
        std::set<int> distinct;
        for (int l = 0; l < M::layers; ++l) distinct.insert(M::slot(l));
        CHECK(static_cast<int>(distinct.size()) == M::kv_layers);
        CHECK(std::vector<int>(M::producers.begin(), M::producers.end()) ==
              std::vector<int>(distinct.begin(), distinct.end()));
        CHECK(M::kv_elements_per_token ==
              static_cast<long>(M::kv_layers) * M::kv_heads * (M::head_dim + M::value_head_dim));
    }

    SUBCASE("cache_slot is dense 0..kv_layers-1 in layer order") {
        int next = 0;
        for (int l = 0; l < M::layers; ++l) {
            if (M::is_producer(l)) {
                CHECK(M::cache_slot(l) == next);
                CHECK(M::producers[next] == l);
                ++next;
            } else {
                CHECK(M::cache_slot(l) == M::cache_slot(M::slot(l)));   // a consumer uses its producer's slot
                CHECK(M::cache_slot(l) < next);
            }
        }
        CHECK(next == M::kv_layers);
    }

    SUBCASE("consumers_of partitions the consumers among the producers") {
        std::vector<int> owner(M::layers, -1);
        for (int p : M::producers) {
            int previous = -1;
            for (int c : M::consumers_of(p)) {
                CHECK(c > previous);   // ascending
                previous = c;
                CHECK(c > p);
                CHECK(M::slot(c) == p);
                CHECK(owner[c] == -1);  // no consumer listed twice
                owner[c] = p;
            }
        }
        for (int l = 0; l < M::layers; ++l) {
            if (M::is_producer(l)) {
                CHECK(owner[l] == -1);   // a producer reads nobody else
            } else {
                CHECK(owner[l] == M::slot(l));   // every consumer listed under its producer
            }
        }
    }

    SUBCASE("runtime plan_memory(model_desc::of<M>()) equals the compile-time values") {
        const model_desc desc = model_desc::of<M>();
        CHECK(desc.layers == M::layers);
        CHECK(desc.q_heads == M::q_heads);
        CHECK(desc.kv_heads == M::kv_heads);
        CHECK(desc.head_dim == M::head_dim);
        CHECK(desc.effective_value_head_dim() == M::value_head_dim);
        CHECK(desc.sharing == M::sharing_type::spec());
        for (dtype type : {dtype::fp32, dtype::fp16, dtype::bf16, dtype::int8, dtype::fp8}) {
            const memory_plan plan = plan_memory(desc, type);
            CHECK(plan.slots == std::vector<int>(M::slots.begin(), M::slots.end()));
            CHECK(plan.kv_layers == M::kv_layers);
            CHECK(plan.bytes_per_token == kv_bytes_per_token<M>(type));
            CHECK(plan.bytes(3, 1001) == kv_bytes<M>(type, 3, 1001));
            CHECK(plan.max_tokens(std::uint64_t{5} << 30) == max_kv_tokens<M>(type, std::uint64_t{5} << 30));
        }
    }

    SUBCASE("the sharing spec round-trips through its spelling") {
        const sharing_spec spec = M::sharing_type::spec();
        CHECK(parse_sharing(to_string(spec)) == spec);
        CHECK(M::sharing_type::name() == to_string(spec));
    }

    SUBCASE("dispatch_model finds M and calls the function once") {
        int calls = 0;
        const bool found = dispatch_model(model_desc::of<M>(), test::all_models{}, [&](auto model) {
            ++calls;
            return std::is_same_v<decltype(model), M>;
        });
        CHECK(found);
        CHECK(calls == 1);

        // The same description spelled as an explicit slot list selects the same type.
        model_desc as_slots = model_desc::of<M>();
        as_slots.sharing = sharing_spec{sharing_kind::slots, 0, std::vector<int>(M::slots.begin(), M::slots.end())};
        CHECK(dispatch_model(as_slots, test::all_models{},
                             [](auto model) { return std::is_same_v<decltype(model), M>; }));
    }
}

TEST_CASE_TEMPLATE_INVOKE(model_invariants, KVSHARE_TEST_MODELS);
