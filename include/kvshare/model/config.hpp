#pragma once
// decoder_config: the runtime shape of a Llama-style decoder, and its config.json spelling.
//
// Read from a Hugging Face Llama config.json (hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, head_dim, vocab_size, rms_norm_eps, rope_theta,
// tie_word_embeddings) plus one kvshare key for cross-layer sharing:
//   "kv_sharing": "cla:2"      (any --sharing spelling: none, cla:S, mlkv:M, slots:0,0,2,2, ...)
// Features the decoder does not implement are rejected with a message rather than silently
// ignored: rope_scaling, attention/mlp biases, activations other than silu.
#include <cstdint>
#include <string>

#include "kvshare/core/error.hpp"
#include "kvshare/core/model_desc.hpp"
#include "kvshare/core/sharing_spec.hpp"
#include "kvshare/model/json.hpp"

namespace kvshare::nn {

struct decoder_config {
    int vocab_size = 0;
    int d_model = 0;        // hidden_size
    int ffn = 0;            // intermediate_size (SwiGLU hidden width)
    int layers = 0;
    int q_heads = 0;
    int kv_heads = 0;
    int head_dim = 0;
    float rms_eps = 1e-5f;
    float rope_theta = 10000.0f;
    bool tie_embeddings = true;
    sharing_spec sharing{};

    model_desc desc() const { return {layers, q_heads, kv_heads, head_dim, 0, sharing}; }

    // Checks every field; throws kvshare::error naming the first bad one.
    void validate() const {
        KVSHARE_REQUIRE(vocab_size >= 1, "decoder_config: vocab_size = ", vocab_size, ", must be >= 1");
        KVSHARE_REQUIRE(d_model >= 1, "decoder_config: d_model = ", d_model, ", must be >= 1");
        KVSHARE_REQUIRE(ffn >= 1, "decoder_config: ffn = ", ffn, ", must be >= 1");
        KVSHARE_REQUIRE(head_dim % 2 == 0, "decoder_config: head_dim = ", head_dim, " must be even for RoPE");
        KVSHARE_REQUIRE(rms_eps > 0, "decoder_config: rms_eps = ", rms_eps, ", must be > 0");
        KVSHARE_REQUIRE(rope_theta > 0, "decoder_config: rope_theta = ", rope_theta, ", must be > 0");
        (void)desc().validated_slots();   // layers, heads, sharing
    }
};

namespace detail {
inline int config_int(const json::value& config, const char* key) {
    const std::int64_t n = config.at(key).as_int(key);
    KVSHARE_REQUIRE(n >= 0 && n <= 1 << 30, "config.json: ", key, " = ", n, " is out of range");
    return static_cast<int>(n);
}
}  // namespace detail

// Parses a Llama-format config.json text.
inline decoder_config parse_llama_config(std::string_view text) {
    const json::value config = json::parse(text);
    KVSHARE_REQUIRE(config.is_object(), "config.json: the top level must be an object");
    decoder_config c;
    c.vocab_size = detail::config_int(config, "vocab_size");
    c.d_model = detail::config_int(config, "hidden_size");
    c.ffn = detail::config_int(config, "intermediate_size");
    c.layers = detail::config_int(config, "num_hidden_layers");
    c.q_heads = detail::config_int(config, "num_attention_heads");
    c.kv_heads = config.find("num_key_value_heads") && !config.at("num_key_value_heads").is_null()
                     ? detail::config_int(config, "num_key_value_heads")
                     : c.q_heads;
    KVSHARE_REQUIRE(c.q_heads >= 1, "config.json: num_attention_heads must be >= 1");
    c.head_dim = config.find("head_dim") && !config.at("head_dim").is_null() ? detail::config_int(config, "head_dim")
                                                                              : c.d_model / c.q_heads;
    if (const auto* eps = config.find("rms_norm_eps")) c.rms_eps = static_cast<float>(eps->as_number("rms_norm_eps"));
    if (const auto* theta = config.find("rope_theta")) c.rope_theta = static_cast<float>(theta->as_number("rope_theta"));
    // Hugging Face's LlamaConfig defaults to untied embeddings.
    c.tie_embeddings = false;
    if (const auto* tie = config.find("tie_word_embeddings")) c.tie_embeddings = tie->as_bool("tie_word_embeddings");
    if (const auto* sharing = config.find("kv_sharing")) c.sharing = parse_sharing(sharing->as_string("kv_sharing"));

    if (const auto* scaling = config.find("rope_scaling"))
        KVSHARE_REQUIRE(scaling->is_null(), "config.json: rope_scaling is not supported by this decoder");
    for (const char* bias : {"attention_bias", "mlp_bias"})
        if (const auto* b = config.find(bias))
            KVSHARE_REQUIRE(!b->as_bool(bias), "config.json: ", bias, " = true is not supported by this decoder");
    if (const auto* act = config.find("hidden_act"))
        KVSHARE_REQUIRE(act->as_string("hidden_act") == "silu", "config.json: hidden_act = ", act->as_string(),
                        " is not supported (only silu: SwiGLU)");
    c.validate();
    return c;
}

// The config.json text for `c` (Llama keys plus kv_sharing when the model shares across layers).
inline std::string to_llama_config(const decoder_config& c) {
    json::object config{
        {"architectures", json::array{"LlamaForCausalLM"}},
        {"model_type", "llama"},
        {"vocab_size", c.vocab_size},
        {"hidden_size", c.d_model},
        {"intermediate_size", c.ffn},
        {"num_hidden_layers", c.layers},
        {"num_attention_heads", c.q_heads},
        {"num_key_value_heads", c.kv_heads},
        {"head_dim", c.head_dim},
        {"rms_norm_eps", static_cast<double>(c.rms_eps)},
        {"rope_theta", static_cast<double>(c.rope_theta)},
        {"tie_word_embeddings", c.tie_embeddings},
        {"hidden_act", "silu"},
        {"torch_dtype", "float32"},
    };
    if (c.sharing.kind != sharing_kind::none) config.emplace_back("kv_sharing", to_string(c.sharing));
    return json::dump(json::value(std::move(config)));
}

}  // namespace kvshare::nn
