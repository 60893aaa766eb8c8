// The CLA paper's Table 1 (Brandon et al. 2024, arXiv 2405.12981v1): all 20 rows, exact producer
// counts and 16-bit KV bytes per token, through both the compile-time path (each row a model type)
// and the runtime path (model_desc + plan_memory). The rows come from tests/core/data/cla_table1.csv,
// a verbatim copy of shared/data/cla_table1.csv (KVSHARE_CLA_TABLE_CSV is its path).
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "kvshare/core.hpp"

using namespace kvshare;

namespace {

// ---- compile-time path: each row as a model type, its numbers as static_asserts -------------------
// All models have 20 layers; the paper caches K/V in 16 bits.
template <Model M>
constexpr bool row_is(int kv_layers, std::uint64_t bytes_per_token) {
    return M::layers == 20 && M::kv_layers == kv_layers && kv_bytes_per_token<M>(dtype::bf16) == bytes_per_token &&
           kv_bytes_per_token<M>(dtype::fp16) == bytes_per_token;
}

using h128_mha = model<20, mha<16, 128>, no_sharing>;
using h128_gqa4 = model<20, gqa<16, 4, 128>, no_sharing>;
using h128_gqa2 = model<20, gqa<16, 2, 128>, no_sharing>;
using h128_mqa = model<20, mqa<16, 128>, no_sharing>;
using h64_mqa = model<20, mqa<32, 64>, no_sharing>;
using h46_mqa = model<20, mqa<45, 46>, no_sharing>;
using h32_mqa = model<20, mqa<64, 32>, no_sharing>;
using h512_mqa_cla2 = model<20, mqa<4, 512>, cla<2>>;
using h256_mqa_cla2 = model<20, mqa<8, 256>, cla<2>>;
using h128_mqa_cla2 = model<20, mqa<16, 128>, cla<2>>;
using h90_mqa_cla2 = model<20, mqa<22, 90>, cla<2>>;
using h64_mqa_cla2 = model<20, mqa<32, 64>, cla<2>>;
using h256_gqa4_cla2 = model<20, gqa<8, 4, 256>, cla<2>>;
using h128_gqa4_cla2 = model<20, gqa<16, 4, 128>, cla<2>>;
using h128_gqa2_cla2 = model<20, gqa<16, 2, 128>, cla<2>>;
using h128_mqa_cla3 = model<20, mqa<16, 128>, cla<3>>;
using h128_mqa_cla4 = model<20, mqa<16, 128>, cla<4>>;
using h128_mqa_cla2_keep_ends = model<20, mqa<16, 128>, keep_ends>;
using h128_mqa_cla2_dense_front = model<20, mqa<16, 128>, dense_front>;
using h128_mqa_cla2_dense_back = model<20, mqa<16, 128>, dense_back>;

static_assert(row_is<h128_mha>(20, 163840));
static_assert(row_is<h128_gqa4>(20, 40960));
static_assert(row_is<h128_gqa2>(20, 20480));
static_assert(row_is<h128_mqa>(20, 10240));
static_assert(row_is<h64_mqa>(20, 5120));
static_assert(row_is<h46_mqa>(20, 3680));
static_assert(row_is<h32_mqa>(20, 2560));
static_assert(row_is<h512_mqa_cla2>(10, 20480));
static_assert(row_is<h256_mqa_cla2>(10, 10240));
static_assert(row_is<h128_mqa_cla2>(10, 5120));
static_assert(row_is<h90_mqa_cla2>(10, 3600));
static_assert(row_is<h64_mqa_cla2>(10, 2560));
static_assert(row_is<h256_gqa4_cla2>(10, 40960));
static_assert(row_is<h128_gqa4_cla2>(10, 20480));
static_assert(row_is<h128_gqa2_cla2>(10, 10240));
static_assert(row_is<h128_mqa_cla3>(7, 3584));
static_assert(row_is<h128_mqa_cla4>(5, 2560));
static_assert(row_is<h128_mqa_cla2_keep_ends>(11, 5632));
static_assert(row_is<h128_mqa_cla2_dense_front>(11, 5632));
static_assert(row_is<h128_mqa_cla2_dense_back>(11, 5632));

// What a compiled row says, for comparison with the file.
struct compiled_row {
    std::string name;
    int layers, q_heads, kv_heads, head_dim, value_head_dim;
    std::string sharing;
    int kv_layers;
    std::uint64_t bytes_per_token;   // 16-bit KV
};

template <Model M>
compiled_row compiled(std::string name) {
    return {std::move(name), M::layers, M::q_heads, M::kv_heads, M::head_dim, M::value_head_dim,
            M::sharing_type::name(), M::kv_layers, kv_bytes_per_token<M>(dtype::bf16)};
}

// In the file's order.
std::vector<compiled_row> compiled_rows() {
    return {compiled<h128_mha>("H128-MHA"),
            compiled<h128_gqa4>("H128-GQA4"),
            compiled<h128_gqa2>("H128-GQA2"),
            compiled<h128_mqa>("H128-MQA"),
            compiled<h64_mqa>("H64-MQA"),
            compiled<h46_mqa>("H46-MQA"),
            compiled<h32_mqa>("H32-MQA"),
            compiled<h512_mqa_cla2>("H512-MQA-CLA2"),
            compiled<h256_mqa_cla2>("H256-MQA-CLA2"),
            compiled<h128_mqa_cla2>("H128-MQA-CLA2"),
            compiled<h90_mqa_cla2>("H90-MQA-CLA2"),
            compiled<h64_mqa_cla2>("H64-MQA-CLA2"),
            compiled<h256_gqa4_cla2>("H256-GQA4-CLA2"),
            compiled<h128_gqa4_cla2>("H128-GQA4-CLA2"),
            compiled<h128_gqa2_cla2>("H128-GQA2-CLA2"),
            compiled<h128_mqa_cla3>("H128-MQA-CLA3"),
            compiled<h128_mqa_cla4>("H128-MQA-CLA4"),
            compiled<h128_mqa_cla2_keep_ends>("H128-MQA-CLA2-KeepEnds"),
            compiled<h128_mqa_cla2_dense_front>("H128-MQA-CLA2-DenseFront"),
            compiled<h128_mqa_cla2_dense_back>("H128-MQA-CLA2-DenseBack")};
}

// ---- the file -------------------------------------------------------------------------------------
struct csv_row {
    std::string model;
    int head_dim, q_heads, kv_heads;
    std::string sharing;   // none, cla2, cla3, cla4, keep_ends, dense_front, dense_back
    int kv_layers;
    std::uint64_t bytes_per_token;
};

std::vector<std::string> split(const std::string& line, char separator) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    std::string field;
    while (std::getline(stream, field, separator)) fields.push_back(field);
    return fields;
}

std::vector<csv_row> read_table(const std::string& path) {
    std::ifstream file(path);
    REQUIRE_MESSAGE(file.good(), "cannot open ", path);
    std::vector<csv_row> rows;
    std::string line;
    bool header_seen = false;
    while (std::getline(file, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line[0] == '#') continue;
        const auto fields = split(line, ',');
        if (!header_seen) {
            REQUIRE(line == "model,head_dim,q_heads,kv_heads,sharing,kv_layers,bytes_per_token,val_ppl");
            header_seen = true;
            continue;
        }
        REQUIRE_MESSAGE(fields.size() == 8, "bad row: ", line);
        rows.push_back({fields[0], std::stoi(fields[1]), std::stoi(fields[2]), std::stoi(fields[3]), fields[4],
                        std::stoi(fields[5]), std::stoull(fields[6])});
    }
    return rows;
}

// The file's sharing column in the planner's spelling: "cla2" -> "cla:2".
std::string planner_spelling(const std::string& sharing) {
    if (sharing.size() > 3 && sharing.starts_with("cla")) return "cla:" + sharing.substr(3);
    return sharing;
}

}  // namespace

TEST_CASE("CLA Table 1: the embedded copy has the paper's 20 data rows") {
    const auto rows = read_table(KVSHARE_CLA_TABLE_CSV);
    CHECK(rows.size() == 20);
    CHECK(rows.front().model == "H128-MHA");
    CHECK(rows.back().model == "H128-MQA-CLA2-DenseBack");
}

TEST_CASE("CLA Table 1: the embedded copy equals shared/data/cla_table1.csv when that is beside the repo") {
    std::ifstream shared(KVSHARE_SHARED_CLA_TABLE_CSV, std::ios::binary);
    if (!shared.good()) {
        MESSAGE("no ", KVSHARE_SHARED_CLA_TABLE_CSV, " here; only the embedded copy is checked");
        return;
    }
    std::ifstream embedded(KVSHARE_CLA_TABLE_CSV, std::ios::binary);
    std::stringstream a, b;
    a << shared.rdbuf();
    b << embedded.rdbuf();
    CHECK_MESSAGE(a.str() == b.str(), "tests/core/data/cla_table1.csv differs from ", KVSHARE_SHARED_CLA_TABLE_CSV);
}

TEST_CASE("CLA Table 1, compile-time path: every row's model type gives the row's kv_layers and bytes") {
    const auto rows = read_table(KVSHARE_CLA_TABLE_CSV);
    const auto types = compiled_rows();
    REQUIRE(rows.size() == types.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const csv_row& row = rows[i];
        const compiled_row& type = types[i];
        INFO("row ", i + 1, ": ", row.model);
        CHECK(type.name == row.model);
        CHECK(type.layers == 20);
        CHECK(type.head_dim == row.head_dim);
        CHECK(type.value_head_dim == row.head_dim);
        CHECK(type.q_heads == row.q_heads);
        CHECK(type.kv_heads == row.kv_heads);
        CHECK(type.sharing == planner_spelling(row.sharing));
        CHECK(type.kv_layers == row.kv_layers);
        CHECK(type.bytes_per_token == row.bytes_per_token);
    }
}

TEST_CASE("CLA Table 1, runtime path: plan_memory of every row gives its kv_layers and bytes") {
    const auto rows = read_table(KVSHARE_CLA_TABLE_CSV);
    REQUIRE(rows.size() == 20);
    for (const csv_row& row : rows) {
        INFO(row.model);
        const model_desc desc{20, row.q_heads, row.kv_heads, row.head_dim, 0, parse_sharing(planner_spelling(row.sharing))};
        for (dtype type : {dtype::bf16, dtype::fp16}) {
            const memory_plan plan = plan_memory(desc, type);
            CHECK(plan.kv_layers == row.kv_layers);
            CHECK(plan.bytes_per_token == row.bytes_per_token);
        }
        // fp32 doubles it, 8-bit halves it.
        CHECK(plan_memory(desc, dtype::fp32).bytes_per_token == 2 * row.bytes_per_token);
        CHECK(plan_memory(desc, dtype::int8).bytes_per_token * 2 == row.bytes_per_token);
    }
}
