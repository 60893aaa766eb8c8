// The kvshare_plan command line (examples/kvshare_plan): its outputs and its error exits. Runs the
// built binary (KVSHARE_PLAN_BINARY) through the shell, with stdout and stderr captured apart.
#include <sys/wait.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <sstream>
#include <string>
#include <unistd.h>
#include <variant>
#include <vector>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

namespace {

struct result {
    int status = -1;
    std::string out, err;
};

std::string quoted(const std::string& text) {
    std::string q = "'";
    for (char c : text) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

result run(const std::string& arguments) {
    char path[] = "/tmp/kvshare_cli_test_XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    const std::string command = quoted(KVSHARE_PLAN_BINARY) + " " + arguments + " 2>" + quoted(path);
    result r;
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.out.append(buffer, n);
    const int status = pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream err(path);
    std::stringstream text;
    text << err.rdbuf();
    r.err = text.str();
    std::remove(path);
    return r;
}

// ---- a small strict JSON reader (objects, arrays, strings without escapes but \" \\ , integers) ----
struct json;
using json_object = std::map<std::string, json>;
using json_array = std::vector<json>;
struct json {
    std::variant<std::int64_t, std::uint64_t, std::string, json_array, json_object, bool> value;
    std::uint64_t u() const {
        if (auto* v = std::get_if<std::uint64_t>(&value)) return *v;
        return static_cast<std::uint64_t>(std::get<std::int64_t>(value));
    }
    const std::string& s() const { return std::get<std::string>(value); }
    const json_array& a() const { return std::get<json_array>(value); }
    const json_object& o() const { return std::get<json_object>(value); }
};

// Malformed output throws (doctest reports the exception as a failure of the test case).
template <class... Parts>
[[noreturn]] void json_error(const Parts&... parts) {
    std::ostringstream message;
    message << "JSON: ";
    (message << ... << parts);
    throw std::runtime_error(message.str());
}

struct json_reader {
    const std::string& text;
    std::size_t at = 0;

    void space() {
        while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
    }
    char peek() {
        space();
        if (at >= text.size()) json_error("ends early: ", text);
        return text[at];
    }
    void expect(char c) {
        if (peek() != c) json_error("expected '", c, "' at ", at, " in ", text);
        ++at;
    }
    std::string string() {
        expect('"');
        std::string s;
        while (at < text.size() && text[at] != '"') {
            if (text[at] == '\\') ++at;
            if (at >= text.size()) json_error("unterminated string in ", text);
            s += text[at++];
        }
        expect('"');
        return s;
    }
    json value() {
        const char c = peek();
        if (c == '{') {
            ++at;
            json_object object;
            if (peek() == '}') return ++at, json{object};
            while (true) {
                std::string key = string();
                expect(':');
                if (object.count(key)) json_error("duplicate key ", key);
                object.emplace(std::move(key), value());
                if (peek() == '}') return ++at, json{object};
                expect(',');
            }
        }
        if (c == '[') {
            ++at;
            json_array array;
            if (peek() == ']') return ++at, json{array};
            while (true) {
                array.push_back(value());
                if (peek() == ']') return ++at, json{array};
                expect(',');
            }
        }
        if (c == '"') return json{string()};
        if (text.compare(at, 4, "true") == 0) return at += 4, json{true};
        if (text.compare(at, 5, "false") == 0) return at += 5, json{false};
        const bool negative = c == '-';
        const std::size_t start = at;
        if (negative) ++at;
        while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
        if (at == start + negative) json_error("bad value at ", start, " in ", text);
        const std::string digits = text.substr(start, at - start);
        if (negative) return json{static_cast<std::int64_t>(std::stoll(digits))};
        return json{static_cast<std::uint64_t>(std::stoull(digits))};
    }
};

// Exactly one JSON object, then one newline.
json_object parse_one_object(const std::string& text) {
    REQUIRE_MESSAGE(!text.empty(), "no output");
    REQUIRE_MESSAGE(text.back() == '\n', "output does not end in a newline");
    REQUIRE_MESSAGE(text.find('\n') == text.size() - 1, "more than one line: ", text);
    json_reader reader{text};
    json value = reader.value();
    reader.space();
    REQUIRE_MESSAGE(reader.at == text.size(), "text after the JSON object: ", text.substr(reader.at));
    REQUIRE(std::holds_alternative<json_object>(value.value));
    return value.o();
}

std::vector<int> ints(const json& array) {
    std::vector<int> values;
    for (const json& v : array.a()) values.push_back(static_cast<int>(v.u()));
    return values;
}

const std::string paper_cla2 = "--layers 20 --q-heads 16 --kv-heads 1 --head-dim 128 --sharing cla:2 --dtype bf16";

// Runs `arguments` expecting exit 2, nothing on stdout and one line "kvshare_plan: error: ..." on stderr
// that contains `expected`.
void check_rejected(const std::string& arguments, const std::string& expected) {
    INFO("kvshare_plan ", arguments);
    const result r = run(arguments);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err.starts_with("kvshare_plan: error: "));
    CHECK(r.err.find('\n') == r.err.size() - 1);   // exactly one line
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, "stderr: ", r.err);
}

}  // namespace

TEST_CASE("kvshare_plan --json: the CLA paper's H128-MQA-CLA2") {
    const result r = run(paper_cla2 + " --json");
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    const json_object j = parse_one_object(r.out);
    CHECK(j.at("layers").u() == 20);
    CHECK(j.at("q_heads").u() == 16);
    CHECK(j.at("kv_heads").u() == 1);
    CHECK(j.at("head_dim").u() == 128);
    CHECK(j.at("value_head_dim").u() == 128);
    CHECK(j.at("sharing").s() == "cla:2");
    CHECK(j.at("dtype").s() == "bf16");
    CHECK(j.at("kv_layers").u() == 10);
    CHECK(j.at("bytes_per_token").u() == 5120);
    CHECK(ints(j.at("slots")) == std::vector<int>{0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14, 16, 16, 18, 18});
    CHECK(ints(j.at("producers")) == std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18});
    CHECK(!j.count("bytes"));        // only when asked
    CHECK(!j.count("max_tokens"));
}

TEST_CASE("kvshare_plan --json: bytes for batch x tokens and max_tokens for a budget") {
    const result r = run(paper_cla2 + " --batch 8 --tokens 4096 --budget-gib 16 --json");
    REQUIRE(r.status == 0);
    const json_object j = parse_one_object(r.out);
    CHECK(j.at("batch").u() == 8);
    CHECK(j.at("tokens").u() == 4096);
    CHECK(j.at("bytes").u() == std::uint64_t{5120} * 8 * 4096);
    CHECK(j.at("budget_bytes").u() == std::uint64_t{16} << 30);
    CHECK(j.at("max_tokens").u() == (std::uint64_t{16} << 30) / 5120);

    // A fractional budget rounds down to whole bytes, then to whole tokens.
    const json_object half = parse_one_object(run(paper_cla2 + " --budget-gib 0.5 --json").out);
    CHECK(half.at("budget_bytes").u() == std::uint64_t{1} << 29);
    CHECK(half.at("max_tokens").u() == (std::uint64_t{1} << 29) / 5120);
}

TEST_CASE("kvshare_plan --json agrees with plan_memory for every sharing pattern and dtype") {
    struct case_t {
        const char* args;
        kvshare::model_desc desc;
    };
    const case_t cases[] = {
        {"--layers 32 --q-heads 32 --kv-heads 8 --head-dim 128", {32, 32, 8, 128, 0, {}}},
        {"--layers 10 --q-heads 4 --kv-heads 4 --head-dim 32 --sharing cla:3", {10, 4, 4, 32, 0, kvshare::parse_sharing("cla:3")}},
        {"--layers 20 --q-heads 16 --kv-heads 1 --head-dim 128 --sharing keep_ends", {20, 16, 1, 128, 0, kvshare::parse_sharing("keep_ends")}},
        {"--layers 20 --q-heads 16 --kv-heads 1 --head-dim 128 --sharing dense_front", {20, 16, 1, 128, 0, kvshare::parse_sharing("dense_front")}},
        {"--layers 20 --q-heads 16 --kv-heads 1 --head-dim 128 --sharing dense_back", {20, 16, 1, 128, 0, kvshare::parse_sharing("dense_back")}},
        {"--layers 10 --q-heads 12 --kv-heads 4 --head-dim 64 --sharing mlkv:3", {10, 12, 4, 64, 0, kvshare::parse_sharing("mlkv:3")}},
        {"--layers 8 --q-heads 8 --kv-heads 1 --head-dim 64 --sharing tail:5", {8, 8, 1, 64, 0, kvshare::parse_sharing("tail:5")}},
        {"--layers 5 --q-heads 6 --kv-heads 3 --head-dim 16 --value-head-dim 40 --sharing slots:0,1,0,1,4",
         {5, 6, 3, 16, 40, kvshare::parse_sharing("slots:0,1,0,1,4")}},
    };
    for (const auto& c : cases) {
        for (const char* type : {"fp32", "fp16", "bf16", "int8"}) {
            INFO(c.args, " --dtype ", type);
            const result r = run(std::string(c.args) + " --dtype " + type + " --json");
            REQUIRE(r.status == 0);
            const json_object j = parse_one_object(r.out);
            const kvshare::memory_plan plan = kvshare::plan_memory(c.desc, kvshare::parse_dtype(type));
            CHECK(j.at("kv_layers").u() == static_cast<std::uint64_t>(plan.kv_layers));
            CHECK(j.at("bytes_per_token").u() == plan.bytes_per_token);
            CHECK(ints(j.at("slots")) == plan.slots);
            CHECK(j.at("sharing").s() == to_string(c.desc.sharing));
            CHECK(j.at("value_head_dim").u() == static_cast<std::uint64_t>(c.desc.effective_value_head_dim()));
        }
    }
}

TEST_CASE("kvshare_plan: the defaults are --sharing none --dtype bf16; --name labels the object") {
    const json_object j = parse_one_object(
        run("--layers 32 --q-heads 32 --kv-heads 8 --head-dim 128 --name 'Llama-3-8B' --json").out);
    CHECK(j.at("name").s() == "Llama-3-8B");
    CHECK(j.at("sharing").s() == "none");
    CHECK(j.at("dtype").s() == "bf16");
    CHECK(j.at("kv_layers").u() == 32);
    CHECK(j.at("bytes_per_token").u() == 131072);
    // --flag=value works as well as --flag value.
    const json_object k = parse_one_object(
        run("--layers=32 --q-heads=32 --kv-heads=8 --head-dim=128 --sharing=cla:2 --json").out);
    CHECK(k.at("bytes_per_token").u() == 65536);
}

TEST_CASE("kvshare_plan: the readable table and the markdown row") {
    const result table = run(paper_cla2 + " --batch 8 --tokens 4096");
    REQUIRE(table.status == 0);
    CHECK(table.err.empty());
    CHECK(table.out.find("kv layers       10 of 20") != std::string::npos);
    CHECK(table.out.find("bytes/token     5120 (5.00 KiB)") != std::string::npos);
    CHECK(table.out.find("slots           0 0 2 2 4 4") != std::string::npos);
    CHECK(table.out.find("167772160 (160.00 MiB) for batch 8 x 4096 tokens") != std::string::npos);

    const result row = run(paper_cla2 + " --row --name H128-MQA-CLA2");
    REQUIRE(row.status == 0);
    CHECK(row.out ==
          "| H128-MQA-CLA2              |     20 |      16 |        1 |     128 | cla:2        | bf16  |        10 |"
          "        5120 |      5.00 |\n");
    const result header = run(paper_cla2 + " --row --header --name H128-MQA-CLA2");
    REQUIRE(header.status == 0);
    // header, rule, row: three lines of the same width
    std::vector<std::string> lines;
    std::stringstream text(header.out);
    for (std::string line; std::getline(text, line);) lines.push_back(line);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].starts_with("| model "));
    CHECK(lines[1].starts_with("|---"));
    CHECK(lines[0].size() == lines[2].size());
    CHECK(lines[1].size() == lines[2].size());
    CHECK(lines[2] + "\n" == row.out);

    // The optional columns: GiB for batch x tokens, tokens within the budget.
    const result sized = run(paper_cla2 + " --row --header --batch 8 --tokens 8192 --budget-gib 16");
    REQUIRE(sized.status == 0);
    CHECK(sized.out.find("| GiB @ 8x8192 | tokens in 16 GiB |\n") != std::string::npos);
    CHECK(sized.out.ends_with("|         0.31 |          3355443 |\n"));   // 5120·8·8192 B; 16 GiB / 5120
}

TEST_CASE("kvshare_plan --help") {
    const result r = run("--help");
    CHECK(r.status == 0);
    CHECK(r.out.starts_with("usage: kvshare_plan --layers L --q-heads H --kv-heads K --head-dim D"));
    CHECK(r.out.find("--budget-gib") != std::string::npos);
    CHECK(r.err.empty());
}

TEST_CASE("kvshare_plan: bad arguments print one error line and exit 2") {
    const std::string model = "--layers 4 --q-heads 8 --kv-heads 2 --head-dim 64";
    // heads
    check_rejected("--layers 4 --q-heads 0 --kv-heads 2 --head-dim 64", "q_heads = 0: need at least one query head");
    check_rejected("--layers 4 --q-heads 8 --kv-heads 0 --head-dim 64", "kv_heads = 0: need at least one K/V head");
    check_rejected("--layers 4 --q-heads 8 --kv-heads 3 --head-dim 64", "q_heads = 8 is not a multiple of kv_heads = 3");
    check_rejected("--layers 4 --q-heads 8 --kv-heads 2 --head-dim 0", "head_dim = 0: must be positive");
    check_rejected(model + " --value-head-dim 0", "--value-head-dim = 0: must be positive");
    check_rejected("--layers 0 --q-heads 8 --kv-heads 2 --head-dim 64", "layers = 0: need at least one layer");
    check_rejected("--layers -3 --q-heads 8 --kv-heads 2 --head-dim 64", "layers = -3");
    // sharing
    check_rejected(model + " --sharing foo", "unknown sharing 'foo'");
    check_rejected(model + " --sharing cla", "cla needs a parameter");
    check_rejected(model + " --sharing cla:0", "sharing cla:0: the sharing factor must be >= 1");
    check_rejected(model + " --sharing mlkv:5", "sharing mlkv:5: the number of KV layers must be in [1, layers = 4]");
    check_rejected(model + " --sharing tail:4", "sharing tail:4: the tail must leave at least one producer");
    check_rejected("--layers 3 --q-heads 8 --kv-heads 2 --head-dim 64 --sharing keep_ends", "needs at least 4 layers");
    check_rejected(model + " --sharing slots:0,2,2,2", "layer 1 reads layer 2, a later layer");
    check_rejected(model + " --sharing slots:0,0,1,1", "layer 2 reads layer 1, which is not a producer");
    check_rejected(model + " --sharing slots:0,0,2", "the list has 3 entries but the model has 4 layers");
    check_rejected(model + " --sharing slots:0,0,2,2,4", "the list has 5 entries but the model has 4 layers");
    check_rejected(model + " --sharing slots:0,-1,2,2", "layer 1 maps to slot -1, which is negative");
    check_rejected(model + " --sharing slots:0,0,x,2", "'x' is not an integer");
    // dtype
    check_rejected(model + " --dtype fp64", "unknown dtype 'fp64'");
    // flags
    check_rejected(model + " --bogus", "unknown option '--bogus'");
    check_rejected(model + " stray", "unexpected argument 'stray'");
    check_rejected("--q-heads 8 --kv-heads 2 --head-dim 64", "missing --layers");
    check_rejected("--layers 4 --kv-heads 2 --head-dim 64", "missing --q-heads");
    check_rejected(model + " --sharing", "--sharing needs a value");
    check_rejected("--layers --q-heads 8 --kv-heads 2 --head-dim 64", "--layers needs a value");
    check_rejected(model + " --layers 5", "--layers is given more than once");
    check_rejected(model + " --json=yes", "--json takes no value");
    check_rejected(model + " --json --row", "--json and --row exclude each other");
    check_rejected(model + " --header", "--header only applies to --row");
    // numbers
    check_rejected("--layers abc --q-heads 8 --kv-heads 2 --head-dim 64", "--layers: 'abc' is not an integer");
    check_rejected("--layers 4 --q-heads 8.5 --kv-heads 2 --head-dim 64", "--q-heads: '8.5' is not an integer");
    check_rejected("--layers 4 --q-heads 8 --kv-heads 2 --head-dim 99999999999", "--head-dim: 99999999999 is out of range");
    check_rejected(model + " --batch 2", "--batch and --tokens go together");
    check_rejected(model + " --tokens 2", "--batch and --tokens go together");
    check_rejected(model + " --batch x --tokens 2", "--batch: 'x' is not a non-negative integer");
    check_rejected(model + " --batch 0 --tokens 2", "--batch: must be positive, got 0");
    check_rejected(model + " --batch 4294967296 --tokens 4294967296", "overflows");
    check_rejected("--layers 2000 --q-heads 2000000000 --kv-heads 2000000000 --head-dim 2000000000 "
                   "--value-head-dim 2000000000 --sharing cla:1000",
                   "KV bytes per token for kv_layers = 2, kv_heads = 2000000000");
    check_rejected(model + " --budget-gib -1", "--budget-gib: must be positive");
    check_rejected(model + " --budget-gib lots", "--budget-gib: 'lots' is not a number");
    check_rejected(model + " --budget-gib inf", "--budget-gib: 'inf' is not a number");
}
