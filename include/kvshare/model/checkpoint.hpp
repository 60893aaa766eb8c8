#pragma once
// Llama-format checkpoints: a directory with config.json and model.safetensors (one file; sharded
// checkpoints with model.safetensors.index.json are not supported yet). Tensor names:
//   model.embed_tokens.weight                          [vocab, d_model]
//   model.layers.N.input_layernorm.weight              [d_model]
//   model.layers.N.self_attn.q_proj.weight             [H_q·d, d_model]
//   model.layers.N.self_attn.k_proj.weight             [H_kv·d, d_model]   producers only
//   model.layers.N.self_attn.v_proj.weight             [H_kv·d, d_model]   producers only
//   model.layers.N.self_attn.kv_norm.weight            [d_model]  optional, producers only (kvshare: the
//                                                      CLA paper's separate norm for the K/V input)
//   model.layers.N.self_attn.o_proj.weight             [d_model, H_q·d]
//   model.layers.N.post_attention_layernorm.weight     [d_model]
//   model.layers.N.mlp.{gate,up}_proj.weight           [ffn, d_model]
//   model.layers.N.mlp.down_proj.weight                [d_model, ffn]
//   model.norm.weight                                  [d_model]
//   lm_head.weight                                     [vocab, d_model]   when not tied
// Tensors may be F32, BF16 or F16; they are widened to fp32. A CLA model is one whose config.json
// names its sharing ("kv_sharing": "cla:2"); its consumer layers must not have k_proj/v_proj.
// Unknown extra tensors are an error (a misnamed tensor would otherwise be silently ignored);
// rotary_emb.inv_freq buffers some exporters write are skipped.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kvshare/core/error.hpp"
#include "kvshare/model/config.hpp"
#include "kvshare/model/safetensors.hpp"
#include "kvshare/model/weights.hpp"

namespace kvshare::nn {

namespace detail {

inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    KVSHARE_REQUIRE(in.good(), "checkpoint: cannot open '", path.string(), "'");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

inline std::string layer_name(int layer, const char* rest) {
    return "model.layers." + std::to_string(layer) + "." + rest;
}

class tensor_reader {
public:
    explicit tensor_reader(const safetensors::file& file) : file_(file) {}

    matrix read_matrix(const std::string& name, Eigen::Index rows, Eigen::Index cols) {
        const auto& info = file_.info(name);
        KVSHARE_REQUIRE(info.shape.size() == 2 && info.shape[0] == rows && info.shape[1] == cols, "checkpoint: ", name,
                        " has shape ", shape_text(info.shape), ", expected [", rows, ", ", cols, "]");
        used_.insert(name);
        const std::vector<float> data = file_.read(name);
        return Eigen::Map<const matrix>(data.data(), rows, cols);
    }
    vector read_vector(const std::string& name, Eigen::Index n) {
        const auto& info = file_.info(name);
        KVSHARE_REQUIRE(info.shape.size() == 1 && info.shape[0] == n, "checkpoint: ", name, " has shape ",
                        shape_text(info.shape), ", expected [", n, "]");
        used_.insert(name);
        const std::vector<float> data = file_.read(name);
        return Eigen::Map<const vector>(data.data(), n);
    }
    bool has(const std::string& name) const { return file_.contains(name); }

    void check_all_used() const {
        for (const auto& t : file_.tensors()) {
            if (used_.count(t.name) || t.name.find("rotary_emb.inv_freq") != std::string::npos) continue;
            kvshare::detail::throw_error("checkpoint: tensor '", t.name, "' is not part of the model ",
                                         "(a consumer layer's k_proj/v_proj, an unsupported bias, or a misspelling)");
        }
    }

private:
    static std::string shape_text(const std::vector<std::int64_t>& shape) {
        std::string text = "[";
        for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
        return text + "]";
    }
    const safetensors::file& file_;
    std::set<std::string> used_;
};

}  // namespace detail

// Weights from config.json text and an opened safetensors file.
inline decoder_weights load_weights(const decoder_config& config, const safetensors::file& file) {
    config.validate();
    const auto slots = config.desc().validated_slots();
    detail::tensor_reader reader(file);
    const Eigen::Index d = config.d_model, q_width = static_cast<Eigen::Index>(config.q_heads) * config.head_dim,
                       kv_width = static_cast<Eigen::Index>(config.kv_heads) * config.head_dim;
    decoder_weights w;
    w.config = config;
    w.embed = reader.read_matrix("model.embed_tokens.weight", config.vocab_size, d);
    if (!config.tie_embeddings) {
        w.lm_head = reader.read_matrix("lm_head.weight", config.vocab_size, d);
    } else if (reader.has("lm_head.weight")) {
        // Some exporters store the tied matrix twice; accept it only when it is the same matrix.
        const matrix head = reader.read_matrix("lm_head.weight", config.vocab_size, d);
        KVSHARE_REQUIRE(head == w.embed, "checkpoint: tie_word_embeddings is true but lm_head.weight differs from "
                                         "model.embed_tokens.weight");
    }
    for (int l = 0; l < config.layers; ++l) {
        using detail::layer_name;
        layer_weights layer;
        layer.attn_norm = reader.read_vector(layer_name(l, "input_layernorm.weight"), d);
        layer.wq = reader.read_matrix(layer_name(l, "self_attn.q_proj.weight"), q_width, d);
        if (slots[l] == l) {
            layer.wk = reader.read_matrix(layer_name(l, "self_attn.k_proj.weight"), kv_width, d);
            layer.wv = reader.read_matrix(layer_name(l, "self_attn.v_proj.weight"), kv_width, d);
            if (reader.has(layer_name(l, "self_attn.kv_norm.weight")))
                layer.kv_norm = reader.read_vector(layer_name(l, "self_attn.kv_norm.weight"), d);
        }
        layer.wo = reader.read_matrix(layer_name(l, "self_attn.o_proj.weight"), d, q_width);
        layer.mlp_norm = reader.read_vector(layer_name(l, "post_attention_layernorm.weight"), d);
        layer.gate = reader.read_matrix(layer_name(l, "mlp.gate_proj.weight"), config.ffn, d);
        layer.up = reader.read_matrix(layer_name(l, "mlp.up_proj.weight"), config.ffn, d);
        layer.down = reader.read_matrix(layer_name(l, "mlp.down_proj.weight"), d, config.ffn);
        w.layers.push_back(std::move(layer));
    }
    w.final_norm = reader.read_vector("model.norm.weight", d);
    reader.check_all_used();
    w.validate();
    return w;
}

// Loads <directory>/config.json and <directory>/model.safetensors.
inline decoder_weights load_checkpoint(const std::filesystem::path& directory) {
    KVSHARE_REQUIRE(!std::filesystem::exists(directory / "model.safetensors.index.json") ||
                        std::filesystem::exists(directory / "model.safetensors"),
                    "checkpoint: '", directory.string(), "' is sharded (model.safetensors.index.json); only single-file "
                    "checkpoints are supported");
    const decoder_config config = parse_llama_config(detail::read_text(directory / "config.json"));
    const safetensors::file file = safetensors::file::open((directory / "model.safetensors").string());
    return load_weights(config, file);
}

// Writes <directory>/config.json and <directory>/model.safetensors with tensors stored as `type`
// (fp32, bf16 or fp16). The directory is created if needed.
inline void save_checkpoint(const std::filesystem::path& directory, const decoder_weights& w, dtype type = dtype::fp32) {
    w.validate();
    std::filesystem::create_directories(directory);
    std::vector<safetensors::tensor_to_write> tensors;
    auto add = [&](std::string name, const auto& m) {
        std::vector<std::int64_t> shape;
        if constexpr (std::is_same_v<std::decay_t<decltype(m)>, vector>)
            shape = {m.size()};
        else
            shape = {m.rows(), m.cols()};
        tensors.push_back({std::move(name), std::move(shape), std::span<const float>(m.data(), m.size()), type});
    };
    add("model.embed_tokens.weight", w.embed);
    if (w.lm_head.size() != 0) add("lm_head.weight", w.lm_head);
    for (int l = 0; l < w.config.layers; ++l) {
        using detail::layer_name;
        const auto& layer = w.layers[l];
        add(layer_name(l, "input_layernorm.weight"), layer.attn_norm);
        add(layer_name(l, "self_attn.q_proj.weight"), layer.wq);
        if (layer.wk.size() != 0) {
            add(layer_name(l, "self_attn.k_proj.weight"), layer.wk);
            add(layer_name(l, "self_attn.v_proj.weight"), layer.wv);
        }
        if (layer.kv_norm.size() != 0) add(layer_name(l, "self_attn.kv_norm.weight"), layer.kv_norm);
        add(layer_name(l, "self_attn.o_proj.weight"), layer.wo);
        add(layer_name(l, "post_attention_layernorm.weight"), layer.mlp_norm);
        add(layer_name(l, "mlp.gate_proj.weight"), layer.gate);
        add(layer_name(l, "mlp.up_proj.weight"), layer.up);
        add(layer_name(l, "mlp.down_proj.weight"), layer.down);
    }
    add("model.norm.weight", w.final_norm);
    safetensors::write((directory / "model.safetensors").string(), tensors);
    std::ofstream config(directory / "config.json", std::ios::trunc);
    KVSHARE_REQUIRE(config.good(), "checkpoint: cannot write '", (directory / "config.json").string(), "'");
    config << to_llama_config(w.config) << '\n';
}

}  // namespace kvshare::nn
