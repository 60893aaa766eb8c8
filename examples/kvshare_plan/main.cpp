// kvshare_plan — the KV memory planner on the command line.
//
//   kvshare_plan --layers L --q-heads H --kv-heads K --head-dim D [--value-head-dim Dv]
//                [--sharing SPEC] [--dtype T] [--batch B --tokens T] [--budget-gib G]
//                [--json | --row [--header] [--name NAME]]
//
// Every rule (valid heads, the layer -> producer map of each sharing pattern, bytes per token) comes
// from kvshare/core: this file only parses arguments and formats the answer. Bad arguments print one
// line "kvshare_plan: error: ..." to stderr and exit 2.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvshare/core.hpp"

namespace {

constexpr const char* usage = R"(usage: kvshare_plan --layers L --q-heads H --kv-heads K --head-dim D [options]

Plans the KV cache of a transformer's attention: which layers produce K/V (the others read an
earlier producer's), the exact cache bytes per token, and what fits in a memory budget.

model:
  --layers L            number of transformer layers (>= 1)
  --q-heads H           query heads per layer (>= 1)
  --kv-heads K          K/V heads per layer (>= 1, H must be a multiple of K; K = H is MHA, K = 1 MQA)
  --head-dim D          width of a query/key head (>= 1)
  --value-head-dim Dv   width of a value head (default: D)
  --sharing SPEC        cross-layer sharing (default: none):
                          none           every layer computes its own K/V
                          cla:S          CLA, groups of S adjacent layers share the first one's K/V
                                         (the remainder group comes first)
                          keep_ends      CLA paper: layer 0 alone, pairs (1,2),(3,4),..., last alone
                          dense_front    CLA paper: front half ordinary, then read layer L/2-1, last ordinary
                          dense_back     CLA paper: 0,1 ordinary, 2..L/2 read layer 1, the rest ordinary
                          mlkv:M         M KV layers at 0 and floor((i+1)L/M), others read the nearest earlier
                          tail:N         the last N layers read the layer before them
                          slots:0,0,2,2  an explicit layer -> producer list, one entry per layer
  --dtype T             KV element type: fp32, fp16, bf16, int8, fp8 (default: bf16)

questions:
  --batch B --tokens T  bytes of a cache holding T tokens for each of B sequences
  --budget-gib G        the largest batch x tokens whose cache fits in G GiB (G may be fractional)

output:
  (default)             a readable table
  --json                one JSON object: [name,] layers, q_heads, kv_heads, head_dim, value_head_dim,
                        group_size, sharing, dtype, kv_layers, producers, slots (slots[l] = the layer
                        whose K/V layer l reads), bytes_per_token [, batch, tokens, bytes]
                        [, budget_bytes, max_tokens]
  --row                 one aligned markdown table row (for multi-model tables); --header prints
                        the header lines first; --name NAME labels the row (and the JSON object)
  --help                this text

Bad arguments print one line "kvshare_plan: error: ..." to stderr and exit with status 2.
)";

// An argument error: reported as one line, exit status 2.
struct usage_error {
    std::string message;
};

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream text;
    (text << ... << parts);
    throw usage_error{text.str()};
}

int parse_int_flag(std::string_view flag, std::string_view text) {
    long long value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end) fail(flag, ": '", text, "' is not an integer");
    if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
        fail(flag, ": ", text, " is out of range");
    return static_cast<int>(value);
}

std::uint64_t parse_count_flag(std::string_view flag, std::string_view text) {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec == std::errc::result_out_of_range) fail(flag, ": ", text, " is out of range");
    if (ec != std::errc{} || ptr != end) fail(flag, ": '", text, "' is not a non-negative integer");
    if (value == 0) fail(flag, ": must be positive, got 0");
    return value;
}

double parse_gib_flag(std::string_view flag, std::string_view text) {
    double value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end || !std::isfinite(value))
        fail(flag, ": '", text, "' is not a number");
    if (value <= 0) fail(flag, ": must be positive, got ", text);
    return value;
}

enum class output_format { table, json, row };

struct options {
    kvshare::model_desc desc;
    kvshare::dtype type = kvshare::dtype::bf16;
    std::optional<std::uint64_t> batch, tokens;
    std::optional<double> budget_gib;
    output_format format = output_format::table;
    bool header = false;
    std::string name;
    bool help = false;
};

options parse_arguments(int argc, char** argv) {
    options opt;
    bool have_layers = false, have_q = false, have_kv = false, have_d = false;
    std::vector<std::string> seen;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::optional<std::string_view> inline_value;
        if (arg.starts_with("--")) {
            if (const auto eq = arg.find('='); eq != std::string_view::npos) {
                inline_value = arg.substr(eq + 1);
                arg = arg.substr(0, eq);
            }
        }
        if (arg == "--help" || arg == "-h") {
            opt.help = true;
            continue;
        }
        if (!arg.starts_with("--")) fail("unexpected argument '", arg, "' (see --help)");
        for (const auto& s : seen)
            if (s == arg) fail(arg, " is given more than once");
        seen.emplace_back(arg);

        auto value = [&]() -> std::string_view {
            if (inline_value) return *inline_value;
            if (i + 1 >= argc || std::string_view(argv[i + 1]).starts_with("--"))
                fail(arg, " needs a value (see --help)");
            return argv[++i];
        };
        auto no_value = [&] {
            if (inline_value) fail(arg, " takes no value");
        };

        if (arg == "--layers") {
            opt.desc.layers = parse_int_flag(arg, value());
            have_layers = true;
        } else if (arg == "--q-heads") {
            opt.desc.q_heads = parse_int_flag(arg, value());
            have_q = true;
        } else if (arg == "--kv-heads") {
            opt.desc.kv_heads = parse_int_flag(arg, value());
            have_kv = true;
        } else if (arg == "--head-dim") {
            opt.desc.head_dim = parse_int_flag(arg, value());
            have_d = true;
        } else if (arg == "--value-head-dim") {
            opt.desc.value_head_dim = parse_int_flag(arg, value());
            // model_desc reads 0 as "same as head_dim"; on the command line that is spelled by leaving it out.
            if (opt.desc.value_head_dim < 1)
                fail("--value-head-dim = ", opt.desc.value_head_dim, ": must be positive (leave it out for D)");
        } else if (arg == "--sharing") {
            opt.desc.sharing = kvshare::parse_sharing(value());
        } else if (arg == "--dtype") {
            opt.type = kvshare::parse_dtype(value());
        } else if (arg == "--batch") {
            opt.batch = parse_count_flag(arg, value());
        } else if (arg == "--tokens") {
            opt.tokens = parse_count_flag(arg, value());
        } else if (arg == "--budget-gib") {
            opt.budget_gib = parse_gib_flag(arg, value());
        } else if (arg == "--name") {
            opt.name = value();
            if (opt.name.empty()) fail("--name: the name is empty");
        } else if (arg == "--json") {
            no_value();
            if (opt.format == output_format::row) fail("--json and --row exclude each other");
            opt.format = output_format::json;
        } else if (arg == "--row") {
            no_value();
            if (opt.format == output_format::json) fail("--json and --row exclude each other");
            opt.format = output_format::row;
        } else if (arg == "--header") {
            no_value();
            opt.header = true;
        } else {
            fail("unknown option '", arg, "' (see --help)");
        }
    }
    if (opt.help) return opt;
    if (!have_layers) fail("missing --layers");
    if (!have_q) fail("missing --q-heads");
    if (!have_kv) fail("missing --kv-heads");
    if (!have_d) fail("missing --head-dim");
    if (opt.batch.has_value() != opt.tokens.has_value()) fail("--batch and --tokens go together: give both");
    if (opt.header && opt.format != output_format::row) fail("--header only applies to --row");
    return opt;
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 6) {
        bytes /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", bytes, units[unit]);
    return text;
}

std::string join(const std::vector<int>& values, const char* separator) {
    std::string text;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) text += separator;
        text += std::to_string(values[i]);
    }
    return text;
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// Everything the planner answers for one invocation (computed before anything is printed, so an
// error leaves stdout empty).
struct answer {
    kvshare::memory_plan plan;
    std::vector<int> producers;
    std::optional<std::uint64_t> bytes;
    std::optional<std::uint64_t> budget_bytes, max_tokens;
};

answer plan(const options& opt) {
    answer a;
    a.plan = kvshare::plan_memory(opt.desc, opt.type);
    for (int l = 0; l < opt.desc.layers; ++l)
        if (a.plan.slots[l] == l) a.producers.push_back(l);
    if (opt.batch) a.bytes = a.plan.bytes(*opt.batch, *opt.tokens);
    if (opt.budget_gib) {
        const long double bytes = static_cast<long double>(*opt.budget_gib) * (1ull << 30);
        if (bytes >= static_cast<long double>(std::numeric_limits<std::uint64_t>::max()))
            fail("--budget-gib: ", *opt.budget_gib, " GiB does not fit in 64 bits of bytes");
        a.budget_bytes = static_cast<std::uint64_t>(bytes);
        a.max_tokens = a.plan.max_tokens(*a.budget_bytes);
    }
    return a;
}

void print_json(const options& opt, const answer& a) {
    const auto& d = opt.desc;
    std::ostringstream out;
    out << '{';
    if (!opt.name.empty()) out << "\"name\":" << json_string(opt.name) << ',';
    out << "\"layers\":" << d.layers << ",\"q_heads\":" << d.q_heads << ",\"kv_heads\":" << d.kv_heads
        << ",\"head_dim\":" << d.head_dim << ",\"value_head_dim\":" << d.effective_value_head_dim()
        << ",\"group_size\":" << d.q_heads / d.kv_heads << ",\"sharing\":" << json_string(to_string(d.sharing))
        << ",\"dtype\":" << json_string(kvshare::name_of(opt.type)) << ",\"kv_layers\":" << a.plan.kv_layers
        << ",\"producers\":[" << join(a.producers, ",") << "],\"slots\":[" << join(a.plan.slots, ",")
        << "],\"bytes_per_token\":" << a.plan.bytes_per_token;
    if (a.bytes) out << ",\"batch\":" << *opt.batch << ",\"tokens\":" << *opt.tokens << ",\"bytes\":" << *a.bytes;
    if (a.max_tokens) out << ",\"budget_bytes\":" << *a.budget_bytes << ",\"max_tokens\":" << *a.max_tokens;
    out << "}\n";
    std::fputs(out.str().c_str(), stdout);
}

void print_table(const options& opt, const answer& a) {
    const auto& d = opt.desc;
    std::ostringstream out;
    auto row = [&](const char* key, const std::string& value) {
        char head[24];
        std::snprintf(head, sizeof head, "  %-16s", key);
        out << head << value << '\n';
    };
    out << "kvshare_plan" << (opt.name.empty() ? "" : ": " + opt.name) << '\n';
    row("layers", std::to_string(d.layers));
    row("heads", std::to_string(d.q_heads) + " query, " + std::to_string(d.kv_heads) + " K/V (group size " +
                     std::to_string(d.q_heads / d.kv_heads) + ")");
    row("head dim", d.effective_value_head_dim() == d.head_dim
                        ? std::to_string(d.head_dim)
                        : std::to_string(d.head_dim) + " (K), " + std::to_string(d.effective_value_head_dim()) + " (V)");
    row("sharing", to_string(d.sharing));
    row("dtype", std::string(kvshare::name_of(opt.type)) + " (" + std::to_string(kvshare::bytes_of(opt.type)) +
                     " byte" + (kvshare::bytes_of(opt.type) == 1 ? "" : "s") + ")");
    row("kv layers", std::to_string(a.plan.kv_layers) + " of " + std::to_string(d.layers));
    row("producers", join(a.producers, " "));
    row("slots", join(a.plan.slots, " "));
    row("bytes/token", std::to_string(a.plan.bytes_per_token) + " (" + human_bytes(a.plan.bytes_per_token) + ")");
    if (a.bytes)
        row("bytes", std::to_string(*a.bytes) + " (" + human_bytes(static_cast<double>(*a.bytes)) + ") for batch " +
                         std::to_string(*opt.batch) + " x " + std::to_string(*opt.tokens) + " tokens");
    if (a.max_tokens) {
        std::ostringstream budget;
        budget << *a.max_tokens << " batch x tokens fit in " << *opt.budget_gib << " GiB";
        row("max tokens", budget.str());
    }
    std::fputs(out.str().c_str(), stdout);
}

// One markdown row with fixed column widths, so consecutive calls line up in a terminal. Optional
// columns: the cache size in GiB for --batch x --tokens, the tokens that fit in --budget-gib.
void print_row(const options& opt, const answer& a) {
    const auto& d = opt.desc;
    std::vector<std::pair<std::string, std::string>> extra;   // (header, value)
    char cell[64];
    if (a.bytes) {
        std::snprintf(cell, sizeof cell, "%.2f", static_cast<double>(*a.bytes) / (1ull << 30));
        extra.emplace_back("GiB @ " + std::to_string(*opt.batch) + "x" + std::to_string(*opt.tokens), cell);
    }
    if (a.max_tokens) {
        std::ostringstream head;
        head << "tokens in " << *opt.budget_gib << " GiB";
        extra.emplace_back(head.str(), std::to_string(*a.max_tokens));
    }
    auto width = [](const std::pair<std::string, std::string>& column) {
        return static_cast<int>(std::max<std::size_t>({column.first.size(), column.second.size(), 10}));
    };

    char line[256];
    std::ostringstream out;
    if (opt.header) {
        std::snprintf(line, sizeof line, "| %-26s | %6s | %7s | %8s | %7s | %-12s | %-5s | %9s | %11s | %9s |",
                      "model", "layers", "q_heads", "kv_heads", "d", "sharing", "dtype", "kv_layers", "bytes/token",
                      "KiB/token");
        out << line;
        for (const auto& column : extra) out << ' ' << std::string(width(column) - column.first.size(), ' ') << column.first << " |";
        out << "\n|" << std::string(28, '-') << "|-------:|--------:|---------:|--------:|" << std::string(14, '-') << '|'
            << std::string(7, '-') << "|----------:|------------:|----------:|";
        for (const auto& column : extra) out << std::string(width(column) + 1, '-') << ":|";
        out << '\n';
    }
    const std::string dim = d.effective_value_head_dim() == d.head_dim
                                ? std::to_string(d.head_dim)
                                : std::to_string(d.head_dim) + "/" + std::to_string(d.effective_value_head_dim());
    std::snprintf(line, sizeof line, "| %-26s | %6d | %7d | %8d | %7s | %-12s | %-5s | %9d | %11llu | %9.2f |",
                  opt.name.empty() ? "-" : opt.name.c_str(), d.layers, d.q_heads, d.kv_heads, dim.c_str(),
                  to_string(d.sharing).c_str(), std::string(kvshare::name_of(opt.type)).c_str(), a.plan.kv_layers,
                  static_cast<unsigned long long>(a.plan.bytes_per_token), a.plan.bytes_per_token / 1024.0);
    out << line;
    for (const auto& column : extra) out << ' ' << std::string(width(column) - column.second.size(), ' ') << column.second << " |";
    out << '\n';
    std::fputs(out.str().c_str(), stdout);
}

// The library's messages start with "kvshare: "; the CLI's own prefix replaces it.
std::string_view strip_prefix(std::string_view message) {
    constexpr std::string_view prefix = "kvshare: ";
    if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
    return message;
}

int report(std::string_view message) {
    std::string line(message);
    for (char& c : line)
        if (c == '\n') c = ' ';
    std::fprintf(stderr, "kvshare_plan: error: %s\n", line.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const options opt = parse_arguments(argc, argv);
        if (opt.help) {
            std::fputs(usage, stdout);
            return 0;
        }
        const answer a = plan(opt);
        switch (opt.format) {
            case output_format::json: print_json(opt, a); break;
            case output_format::row: print_row(opt, a); break;
            case output_format::table: print_table(opt, a); break;
        }
        return 0;
    } catch (const usage_error& e) {
        return report(e.message);
    } catch (const kvshare::error& e) {
        return report(strip_prefix(e.what()));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvshare_plan: internal error: %s\n", e.what());
        return 1;
    }
}
