#pragma once
// Runtime description of a sharing pattern (e.g. read from a config file or a command line):
// the same patterns as the compile-time policies of sharing.hpp, through the same slot_rules.
#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "kvshare/core/error.hpp"
#include "kvshare/core/slot_rules.hpp"

namespace kvshare {

enum class sharing_kind { none, cla, keep_ends, dense_front, dense_back, mlkv, tail, slots };

struct sharing_spec {
    sharing_kind kind = sharing_kind::none;
    int parameter = 0;        // s for cla, m for mlkv, n for tail; unused otherwise
    std::vector<int> slots;   // the explicit map, for sharing_kind::slots

    friend bool operator==(const sharing_spec&, const sharing_spec&) = default;
};

// The spelling used by the planner's --sharing flag: none, cla:S, keep_ends, dense_front,
// dense_back, mlkv:M, tail:N, slots:0,0,2,2,...
inline std::string to_string(const sharing_spec& spec) {
    switch (spec.kind) {
        case sharing_kind::none: return "none";
        case sharing_kind::cla: return "cla:" + std::to_string(spec.parameter);
        case sharing_kind::keep_ends: return "keep_ends";
        case sharing_kind::dense_front: return "dense_front";
        case sharing_kind::dense_back: return "dense_back";
        case sharing_kind::mlkv: return "mlkv:" + std::to_string(spec.parameter);
        case sharing_kind::tail: return "tail:" + std::to_string(spec.parameter);
        case sharing_kind::slots: {
            std::string text = "slots:";
            for (std::size_t i = 0; i < spec.slots.size(); ++i) {
                if (i) text += ',';
                text += std::to_string(spec.slots[i]);
            }
            return text;
        }
    }
    return "?";
}

namespace detail {
inline int parse_int(std::string_view text, std::string_view what) {
    int value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    KVSHARE_REQUIRE(ec == std::errc{} && ptr == end && !text.empty(), what, ": '", text, "' is not an integer");
    return value;
}
}  // namespace detail

// Parses the --sharing spelling; throws kvshare::error naming the text on anything else.
inline sharing_spec parse_sharing(std::string_view text) {
    const auto colon = text.find(':');
    const std::string_view head = text.substr(0, colon);
    const std::string_view arg = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
    const bool has_arg = colon != std::string_view::npos;
    auto plain = [&](sharing_kind kind) {
        KVSHARE_REQUIRE(!has_arg, "sharing '", text, "': ", head, " takes no parameter");
        return sharing_spec{kind, 0, {}};
    };
    auto with_int = [&](sharing_kind kind) {
        KVSHARE_REQUIRE(has_arg, "sharing '", text, "': ", head, " needs a parameter, e.g. ", head, ":2");
        return sharing_spec{kind, detail::parse_int(arg, "sharing parameter"), {}};
    };
    if (head == "none") return plain(sharing_kind::none);
    if (head == "keep_ends") return plain(sharing_kind::keep_ends);
    if (head == "dense_front") return plain(sharing_kind::dense_front);
    if (head == "dense_back") return plain(sharing_kind::dense_back);
    if (head == "cla") return with_int(sharing_kind::cla);
    if (head == "mlkv") return with_int(sharing_kind::mlkv);
    if (head == "tail") return with_int(sharing_kind::tail);
    if (head == "slots") {
        KVSHARE_REQUIRE(has_arg && !arg.empty(), "sharing '", text, "': slots needs a list, e.g. slots:0,0,2,2");
        sharing_spec spec{sharing_kind::slots, 0, {}};
        std::string_view rest = arg;
        while (true) {
            const auto comma = rest.find(',');
            spec.slots.push_back(detail::parse_int(rest.substr(0, comma), "slot"));
            if (comma == std::string_view::npos) break;
            rest = rest.substr(comma + 1);
        }
        return spec;
    }
    detail::throw_error("unknown sharing '", text,
                        "' (expected none, cla:S, keep_ends, dense_front, dense_back, mlkv:M, tail:N or slots:0,0,2,...)");
}

// The layer -> producer map of `spec` for a model of `layers` layers. Throws kvshare::error when
// the pattern does not fit that many layers or the map is invalid (a layer reading a later layer,
// a read layer that is not a producer).
inline std::vector<int> slot_map(const sharing_spec& spec, int layers) {
    KVSHARE_REQUIRE(layers >= 1, "layers = ", layers, ": a model needs at least one layer");
    const std::string name = to_string(spec);
    switch (spec.kind) {
        case sharing_kind::cla:
            KVSHARE_REQUIRE(spec.parameter >= 1, "sharing ", name, ": the sharing factor must be >= 1");
            break;
        case sharing_kind::mlkv:
            KVSHARE_REQUIRE(spec.parameter >= 1 && spec.parameter <= layers, "sharing ", name,
                            ": the number of KV layers must be in [1, layers = ", layers, "]");
            break;
        case sharing_kind::tail:
            KVSHARE_REQUIRE(spec.parameter >= 0 && spec.parameter < layers, "sharing ", name,
                            ": the tail must leave at least one producer before it (0 <= n < layers = ", layers, ")");
            break;
        case sharing_kind::dense_front:
        case sharing_kind::dense_back:
        case sharing_kind::keep_ends:
            KVSHARE_REQUIRE(layers >= 4, "sharing ", name, " needs at least 4 layers, got ", layers);
            break;
        case sharing_kind::slots:
            KVSHARE_REQUIRE(static_cast<int>(spec.slots.size()) == layers, "sharing slots: the list has ",
                            spec.slots.size(), " entries but the model has ", layers, " layers");
            break;
        case sharing_kind::none: break;
    }
    std::vector<int> map(layers);
    for (int l = 0; l < layers; ++l) {
        switch (spec.kind) {
            case sharing_kind::none: map[l] = slot_rules::none(layers, l); break;
            case sharing_kind::cla: map[l] = slot_rules::cla(layers, spec.parameter, l); break;
            case sharing_kind::keep_ends: map[l] = slot_rules::keep_ends(layers, l); break;
            case sharing_kind::dense_front: map[l] = slot_rules::dense_front(layers, l); break;
            case sharing_kind::dense_back: map[l] = slot_rules::dense_back(layers, l); break;
            case sharing_kind::mlkv: map[l] = slot_rules::mlkv(layers, spec.parameter, l); break;
            case sharing_kind::tail: map[l] = slot_rules::tail(layers, spec.parameter, l); break;
            case sharing_kind::slots: map[l] = spec.slots[l]; break;
        }
    }
    const auto check = slot_rules::check_map(map, layers);
    const int l = check.layer;
    switch (check.defect) {
        case slot_rules::map_defect::none: break;
        case slot_rules::map_defect::negative:
            detail::throw_error("sharing ", name, ": layer ", l, " maps to slot ", map[l], ", which is negative");
        case slot_rules::map_defect::reads_forward:
            detail::throw_error("sharing ", name, ": layer ", l, " reads layer ", map[l],
                                ", a later layer (a layer may only read itself or an earlier producer)");
        case slot_rules::map_defect::producer_not_self:
            detail::throw_error("sharing ", name, ": layer ", l, " reads layer ", map[l], ", which is not a producer (it reads layer ",
                                map[map[l]], " itself)");
    }
    return map;
}

}  // namespace kvshare
