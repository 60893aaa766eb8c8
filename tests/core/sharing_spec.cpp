// Runtime descriptions: parse_sharing / to_string, slot_map and its errors, parse_dtype.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

using namespace kvshare;

namespace {

std::string error_of(auto&& call) {
    try {
        call();
    } catch (const error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("parse_sharing reads every spelling and to_string writes it back") {
    struct case_t {
        const char* text;
        sharing_spec spec;
    };
    const case_t cases[] = {
        {"none", {sharing_kind::none, 0, {}}},
        {"cla:2", {sharing_kind::cla, 2, {}}},
        {"cla:13", {sharing_kind::cla, 13, {}}},
        {"keep_ends", {sharing_kind::keep_ends, 0, {}}},
        {"dense_front", {sharing_kind::dense_front, 0, {}}},
        {"dense_back", {sharing_kind::dense_back, 0, {}}},
        {"mlkv:4", {sharing_kind::mlkv, 4, {}}},
        {"tail:0", {sharing_kind::tail, 0, {}}},
        {"tail:10", {sharing_kind::tail, 10, {}}},
        {"slots:0", {sharing_kind::slots, 0, {0}}},
        {"slots:0,0,2,2", {sharing_kind::slots, 0, {0, 0, 2, 2}}},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        CHECK(parse_sharing(c.text) == c.spec);
        CHECK(to_string(c.spec) == c.text);
    }
}

TEST_CASE("parse_sharing rejects malformed text, naming it") {
    CHECK(error_of([] { parse_sharing("foo"); }).starts_with("kvshare: unknown sharing 'foo' (expected none, cla:S"));
    CHECK(error_of([] { parse_sharing(""); }).starts_with("kvshare: unknown sharing ''"));
    CHECK(error_of([] { parse_sharing("CLA:2"); }).starts_with("kvshare: unknown sharing 'CLA:2'"));
    CHECK(error_of([] { parse_sharing("cla"); }) == "kvshare: sharing 'cla': cla needs a parameter, e.g. cla:2");
    CHECK(error_of([] { parse_sharing("mlkv"); }) == "kvshare: sharing 'mlkv': mlkv needs a parameter, e.g. mlkv:2");
    CHECK(error_of([] { parse_sharing("none:2"); }) == "kvshare: sharing 'none:2': none takes no parameter");
    CHECK(error_of([] { parse_sharing("keep_ends:1"); }) == "kvshare: sharing 'keep_ends:1': keep_ends takes no parameter");
    CHECK(error_of([] { parse_sharing("cla:x"); }) == "kvshare: sharing parameter: 'x' is not an integer");
    CHECK(error_of([] { parse_sharing("cla:"); }) == "kvshare: sharing parameter: '' is not an integer");
    CHECK(error_of([] { parse_sharing("cla:2x"); }) == "kvshare: sharing parameter: '2x' is not an integer");
    CHECK(error_of([] { parse_sharing("tail:99999999999"); }) ==
          "kvshare: sharing parameter: '99999999999' is not an integer");
    CHECK(error_of([] { parse_sharing("slots"); }) == "kvshare: sharing 'slots': slots needs a list, e.g. slots:0,0,2,2");
    CHECK(error_of([] { parse_sharing("slots:"); }) == "kvshare: sharing 'slots:': slots needs a list, e.g. slots:0,0,2,2");
    CHECK(error_of([] { parse_sharing("slots:0,,2"); }) == "kvshare: slot: '' is not an integer");
    CHECK(error_of([] { parse_sharing("slots:0,0,"); }) == "kvshare: slot: '' is not an integer");
    CHECK(error_of([] { parse_sharing("slots:0, 1"); }) == "kvshare: slot: ' 1' is not an integer");
}

TEST_CASE("slot_map: the runtime maps equal the compile-time ones") {
    auto map_of = [](const char* text, int layers) { return slot_map(parse_sharing(text), layers); };
    CHECK(map_of("none", 3) == std::vector<int>{0, 1, 2});
    CHECK(map_of("cla:3", 10) == std::vector<int>{0, 1, 1, 1, 4, 4, 4, 7, 7, 7});
    CHECK(map_of("keep_ends", 6) == std::vector<int>{0, 1, 1, 3, 3, 5});
    CHECK(map_of("dense_front", 7) == std::vector<int>{0, 1, 2, 2, 2, 2, 6});
    CHECK(map_of("dense_back", 7) == std::vector<int>{0, 1, 1, 1, 4, 5, 6});
    CHECK(map_of("mlkv:3", 10) == std::vector<int>{0, 0, 0, 3, 3, 3, 6, 6, 6, 6});
    CHECK(map_of("tail:2", 6) == std::vector<int>{0, 1, 2, 3, 3, 3});
    CHECK(map_of("slots:0,1,0,1,4", 5) == std::vector<int>{0, 1, 0, 1, 4});

    using m = model<10, mha<2, 8>, cla<3>>;
    CHECK(map_of("cla:3", 10) == std::vector<int>(m::slots.begin(), m::slots.end()));
}

TEST_CASE("slot_map rejects patterns that do not fit the layer count and invalid maps") {
    auto error_for = [](const char* text, int layers) {
        return error_of([&] { slot_map(parse_sharing(text), layers); });
    };
    CHECK(error_for("none", 0) == "kvshare: layers = 0: a model needs at least one layer");
    CHECK(error_for("cla:0", 4) == "kvshare: sharing cla:0: the sharing factor must be >= 1");
    CHECK(error_for("cla:-2", 4) == "kvshare: sharing cla:-2: the sharing factor must be >= 1");
    CHECK(error_for("mlkv:0", 4) == "kvshare: sharing mlkv:0: the number of KV layers must be in [1, layers = 4]");
    CHECK(error_for("mlkv:5", 4) == "kvshare: sharing mlkv:5: the number of KV layers must be in [1, layers = 4]");
    CHECK(error_for("tail:4", 4) ==
          "kvshare: sharing tail:4: the tail must leave at least one producer before it (0 <= n < layers = 4)");
    CHECK(error_for("tail:-1", 4) ==
          "kvshare: sharing tail:-1: the tail must leave at least one producer before it (0 <= n < layers = 4)");
    CHECK(error_for("keep_ends", 3) == "kvshare: sharing keep_ends needs at least 4 layers, got 3");
    CHECK(error_for("dense_front", 2) == "kvshare: sharing dense_front needs at least 4 layers, got 2");
    CHECK(error_for("dense_back", 1) == "kvshare: sharing dense_back needs at least 4 layers, got 1");
    CHECK(error_for("slots:0,0,2", 4) == "kvshare: sharing slots: the list has 3 entries but the model has 4 layers");
    CHECK(error_for("slots:0,0,2,2,4", 4) ==
          "kvshare: sharing slots: the list has 5 entries but the model has 4 layers");
    CHECK(error_for("slots:0,-1,2,2", 4) == "kvshare: sharing slots:0,-1,2,2: layer 1 maps to slot -1, which is negative");
    CHECK(error_for("slots:1,1,2,2", 4) ==
          "kvshare: sharing slots:1,1,2,2: layer 0 reads layer 1, a later layer (a layer may only read itself or an "
          "earlier producer)");
    CHECK(error_for("slots:0,0,1,3", 4) ==
          "kvshare: sharing slots:0,0,1,3: layer 2 reads layer 1, which is not a producer (it reads layer 0 itself)");
}

TEST_CASE("parse_dtype and the element sizes") {
    CHECK(parse_dtype("fp32") == dtype::fp32);
    CHECK(parse_dtype("fp16") == dtype::fp16);
    CHECK(parse_dtype("bf16") == dtype::bf16);
    CHECK(parse_dtype("int8") == dtype::int8);
    CHECK(parse_dtype("fp8") == dtype::fp8);
    CHECK(error_of([] { parse_dtype("float"); }) ==
          "kvshare: unknown dtype 'float' (expected fp32, fp16, bf16, int8 or fp8)");
    CHECK(error_of([] { parse_dtype(""); }).starts_with("kvshare: unknown dtype ''"));
}
