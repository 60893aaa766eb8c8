// Checkpoints: the JSON and safetensors readers, Llama config.json, and a tiny checkpoint written by
// the test itself loading into a decoder whose logits equal the in-memory model's.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "attention_backend.hpp"
#include "kvshare/core.hpp"
#include "kvshare/model/checkpoint.hpp"
#include "kvshare/model/decoder.hpp"

using namespace kvshare;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    explicit temp_dir(const std::string& name) {
        std::random_device seed;
        path = fs::temp_directory_path() / ("kvshare_" + name + "_" + std::to_string(seed()));
        fs::create_directories(path);
    }
    ~temp_dir() { fs::remove_all(path); }
};

nn::decoder_config config_for(int layers, int q_heads, int kv_heads, const char* sharing) {
    nn::decoder_config c;
    c.vocab_size = 53;
    c.d_model = 32;
    c.ffn = 48;
    c.layers = layers;
    c.q_heads = q_heads;
    c.kv_heads = kv_heads;
    c.head_dim = 8;
    c.rms_eps = 1e-6f;
    c.rope_theta = 50000.0f;
    c.sharing = parse_sharing(sharing);
    return c;
}

std::vector<std::int32_t> some_tokens(int n, int vocab) {
    std::mt19937 rng(5);
    std::vector<std::int32_t> t(n);
    for (auto& x : t) x = std::uniform_int_distribution<int>(0, vocab - 1)(rng);
    return t;
}

nn::decoder_weights rounded(nn::decoder_weights w, dtype type) {
    auto round = [&](auto& m) {
        for (Eigen::Index i = 0; i < m.size(); ++i)
            m.data()[i] = type == dtype::bf16 ? float(Eigen::bfloat16(m.data()[i])) : float(Eigen::half(m.data()[i]));
    };
    round(w.embed);
    round(w.lm_head);
    round(w.final_norm);
    for (auto& l : w.layers) {
        for (auto* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) round(*m);
        for (auto* v : {&l.attn_norm, &l.kv_norm, &l.mlp_norm}) round(*v);
    }
    return w;
}

template <class M>
void round_trip(const nn::decoder_config& config, bool separate_kv_norm, dtype stored) {
    CAPTURE(name_of(stored));
    temp_dir dir("ckpt");
    const nn::decoder_weights weights = nn::random_weights(config, 77, separate_kv_norm);
    nn::save_checkpoint(dir.path, weights, stored);
    const nn::decoder_weights loaded = nn::load_checkpoint(dir.path);
    CHECK(loaded.config.desc().validated_slots() == config.desc().validated_slots());

    const nn::decoder<M, test::backend> original(stored == dtype::fp32 ? weights : rounded(weights, stored));
    const nn::decoder<M, test::backend> from_disk(loaded);
    const auto tokens = some_tokens(11, config.vocab_size);
    const std::vector<std::int32_t> offsets{0, 4, 11};
    const nn::matrix a = original.forward_full(tokens, offsets), b = from_disk.forward_full(tokens, offsets);
    CHECK(a.rows() == 11);
    CHECK(a == b);   // same weights, same arithmetic: bit-identical logits
}

}  // namespace

TEST_CASE("json: parse and dump") {
    const auto v = json::parse(R"( {"a": [1, -2.5e3, true, null, "x\"\u00e9\ud83d\ude00"], "b": {"c": 0.125}} )");
    CHECK(v.at("a").as_array().size() == 5);
    CHECK(v.at("a").as_array()[1].as_number() == -2500.0);
    CHECK(v.at("a").as_array()[2].as_bool());
    CHECK(v.at("a").as_array()[3].is_null());
    CHECK(v.at("a").as_array()[4].as_string() == "x\"\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(v.at("b").at("c").as_number() == 0.125);
    CHECK(json::parse(json::dump(v)).at("a").as_array()[4].as_string() == v.at("a").as_array()[4].as_string());
    CHECK(json::dump(json::parse("[1,2.5,\"a\\nb\"]")) == "[1,2.5,\"a\\nb\"]");
    for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "tru", "[1] 2", "\"\\ud800\"", "-"})
        CHECK_THROWS_AS(json::parse(bad), kvshare::error);
    CHECK_THROWS_AS(json::parse("1.5").as_int(), kvshare::error);
    CHECK_THROWS_AS(json::parse("{}").at("x"), kvshare::error);
}

TEST_CASE("safetensors: write, read back (F32, BF16, F16), and reject broken files") {
    const std::vector<float> a{1.0f, -2.5f, 3.25f, 1e-3f, 7.0f, 65504.0f};
    const std::vector<float> b{0.1f, 0.2f};
    const auto bytes = safetensors::to_bytes({{"a", {2, 3}, a, dtype::fp32}, {"b", {2}, b, dtype::bf16},
                                              {"c", {3, 2}, a, dtype::fp16}});
    const auto file = safetensors::file::from_bytes(bytes);
    CHECK(file.tensors().size() == 3);
    CHECK(file.info("a").shape == std::vector<std::int64_t>{2, 3});
    CHECK(file.read("a") == a);
    CHECK(file.read("b") == std::vector<float>{float(Eigen::bfloat16(0.1f)), float(Eigen::bfloat16(0.2f))});
    CHECK(file.read("c")[3] == float(Eigen::half(1e-3f)));
    CHECK(file.read("c")[5] == 65504.0f);
    CHECK_THROWS_AS(file.read("d"), kvshare::error);

    auto corrupt = [&](auto edit) {
        std::vector<char> copy = bytes;
        edit(copy);
        return copy;
    };
    CHECK_THROWS_AS(safetensors::file::from_bytes(std::vector<char>(bytes.begin(), bytes.begin() + 5)), kvshare::error);
    CHECK_THROWS_AS(safetensors::file::from_bytes(std::vector<char>(bytes.begin(), bytes.end() - 1)), kvshare::error);
    CHECK_THROWS_AS(safetensors::file::from_bytes(corrupt([](auto& c) { c[0] = 0x7f; c[7] = 1; })), kvshare::error);
    // A header that claims more bytes than the shape needs.
    const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})";
    std::vector<char> lying(8 + header.size() + 12);
    const std::uint64_t n = header.size();
    std::memcpy(lying.data(), &n, 8);
    std::memcpy(lying.data() + 8, header.data(), header.size());
    CHECK_THROWS_WITH_AS(safetensors::file::from_bytes(lying), doctest::Contains("shape and dtype need 8"),
                         kvshare::error);
    const std::string int_header = R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})";
    std::vector<char> ints(8 + int_header.size() + 8);
    const std::uint64_t m = int_header.size();
    std::memcpy(ints.data(), &m, 8);
    std::memcpy(ints.data() + 8, int_header.data(), int_header.size());
    CHECK_THROWS_WITH_AS(safetensors::file::from_bytes(ints), doctest::Contains("I64"), kvshare::error);
}

TEST_CASE("config.json: Llama keys, defaults, kv_sharing, unsupported features") {
    const auto c = nn::parse_llama_config(R"({"vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
        "rope_theta": 500000.0, "tie_word_embeddings": true, "kv_sharing": "cla:2", "hidden_act": "silu",
        "rope_scaling": null, "attention_bias": false})");
    CHECK(c.head_dim == 8);   // hidden_size / num_attention_heads
    CHECK(c.kv_heads == 2);
    CHECK(c.rope_theta == 500000.0f);
    CHECK(c.tie_embeddings);
    CHECK(to_string(c.sharing) == "cla:2");
    const auto plain = nn::parse_llama_config(R"({"vocab_size": 10, "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 4})");
    CHECK(plain.kv_heads == 4);              // MHA when num_key_value_heads is absent
    CHECK(!plain.tie_embeddings);            // Hugging Face's default
    CHECK(plain.sharing.kind == sharing_kind::none);
    const std::string base = R"("vocab_size": 10, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4)";
    CHECK_THROWS_WITH_AS(nn::parse_llama_config("{" + base + R"(, "rope_scaling": {"type": "llama3"}})"),
                         doctest::Contains("rope_scaling"), kvshare::error);
    CHECK_THROWS_AS(nn::parse_llama_config("{" + base + R"(, "attention_bias": true})"), kvshare::error);
    CHECK_THROWS_AS(nn::parse_llama_config("{" + base + R"(, "hidden_act": "gelu"})"), kvshare::error);
    CHECK_THROWS_AS(nn::parse_llama_config("{" + base + R"(, "num_key_value_heads": 3})"), kvshare::error);
    CHECK_THROWS_AS(nn::parse_llama_config("{" + base + R"(, "kv_sharing": "cla:0"})"), kvshare::error);
    CHECK_THROWS_AS(nn::parse_llama_config(R"({"vocab_size": 10})"), kvshare::error);
    // Round trip through to_llama_config.
    const auto again = nn::parse_llama_config(nn::to_llama_config(c));
    CHECK(again.d_model == c.d_model);
    CHECK(again.rms_eps == c.rms_eps);
    CHECK(again.sharing == c.sharing);
}

TEST_CASE("checkpoint: a GQA model loads as is; logits equal the in-memory model's (F32, BF16, F16)") {
    using m = model<3, gqa<4, 2, 8>, no_sharing>;
    const auto config = config_for(3, 4, 2, "none");
    for (dtype stored : {dtype::fp32, dtype::bf16, dtype::fp16}) round_trip<m>(config, false, stored);
    auto untied = config;
    untied.tie_embeddings = false;
    round_trip<m>(untied, false, dtype::fp32);
}

TEST_CASE("checkpoint: a CLA model (config names kv_sharing; consumers have no k/v_proj) with separate KV norms") {
    using m = model<4, mqa<4, 8>, cla<2>>;
    const auto config = config_for(4, 4, 1, "cla:2");
    round_trip<m>(config, true, dtype::fp32);
    round_trip<m>(config, true, dtype::bf16);

    temp_dir dir("ckpt_cla");
    const auto weights = nn::random_weights(config, 3, true);
    nn::save_checkpoint(dir.path, weights);
    {   // the decoder refuses a checkpoint for another model type
        const auto loaded = nn::load_checkpoint(dir.path);
        using other = model<4, mqa<4, 8>, no_sharing>;
        CHECK_THROWS_WITH_AS((nn::decoder<other, test::backend>(loaded)), doctest::Contains("compiled for"),
                             kvshare::error);
    }
    {   // a config that forgets the sharing: the consumers' k_proj are missing
        auto plain = config;
        plain.sharing = {};
        std::ofstream(dir.path / "config.json", std::ios::trunc) << nn::to_llama_config(plain);
        CHECK_THROWS_WITH_AS(nn::load_checkpoint(dir.path), doctest::Contains("model.layers.1.self_attn.k_proj"),
                             kvshare::error);
    }
}

TEST_CASE("checkpoint: wrong shapes, extra tensors and missing files are errors") {
    const auto config = config_for(2, 4, 2, "none");
    const auto weights = nn::random_weights(config, 9, false);
    temp_dir dir("ckpt_bad");
    CHECK_THROWS_AS(nn::load_checkpoint(dir.path), kvshare::error);   // nothing there
    nn::save_checkpoint(dir.path, weights);
    auto wrong = config;
    wrong.kv_heads = 4;   // k_proj in the file is [16, 32], the config now wants [32, 32]
    std::ofstream(dir.path / "config.json", std::ios::trunc) << nn::to_llama_config(wrong);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(dir.path), doctest::Contains("k_proj.weight has shape [16, 32]"),
                         kvshare::error);
    // CLA config over a checkpoint that has consumer K/V projections: refused, not ignored.
    auto shared = config;
    shared.sharing = parse_sharing("cla:2");
    std::ofstream(dir.path / "config.json", std::ios::trunc) << nn::to_llama_config(shared);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(dir.path), doctest::Contains("is not part of the model"), kvshare::error);
}
