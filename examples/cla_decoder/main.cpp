// cla_decoder: a small Llama-style decoder with MHA / GQA / MQA attention and cross-layer KV
// sharing (CLA), deterministic random weights (or a Llama-format checkpoint), run end to end:
// ragged prompts are prefilled through a KV cache (contiguous or paged), then greedy decoding; the
// logits of every step are compared with a full recomputation without a cache.
//
//   cla_decoder --variant mqa-cla2 --layers 6 --d-model 512 --batch 4 --prompt-len 128 --new-tokens 32
//   cla_decoder --q-heads 8 --kv-heads 2 --head-dim 64 --sharing cla:2 --page-size 16 --json
//   cla_decoder --checkpoint DIR            (config.json + model.safetensors; see model/checkpoint.hpp)
//   cla_decoder --demo [--json]             (the comparison scripts/demo prints)
//
// The variant is a runtime choice mapped onto compiled model types by kvshare::dispatch_model; the
// list of compiled models is short on purpose (compile time): 8 query heads of width 64, 4, 6 or 12
// layers, K/V heads 8, 4, 2, 1, sharing none, cla:2, cla:3 (plus two public checkpoints' shapes,
// below). --d-model, --ffn and --vocab are free. Add a model<...> to the list for other shapes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kvshare/backend/cpu/attention.hpp"
#include "kvshare/cache/kv_cache.hpp"
#include "kvshare/core.hpp"
#include "kvshare/model/checkpoint.hpp"
#include "kvshare/model/decoder.hpp"
#include "kvshare/model/generate.hpp"
#include "kvshare/model/json.hpp"

namespace {

using namespace kvshare;

// ---- the compiled models ----------------------------------------------------------------------
constexpr int q_heads = 8, head_dim = 64;

template <class... Lists>
struct concat;
template <class... A>
struct concat<model_list<A...>> {
    using type = model_list<A...>;
};
template <class... A, class... B, class... Rest>
struct concat<model_list<A...>, model_list<B...>, Rest...> {
    using type = typename concat<model_list<A..., B...>, Rest...>::type;
};

template <int L>
using models_with_layers =
    model_list<model<L, heads<q_heads, 8, head_dim>, no_sharing>, model<L, heads<q_heads, 4, head_dim>, no_sharing>,
               model<L, heads<q_heads, 2, head_dim>, no_sharing>, model<L, heads<q_heads, 1, head_dim>, no_sharing>,
               model<L, heads<q_heads, 8, head_dim>, cla<2>>, model<L, heads<q_heads, 4, head_dim>, cla<2>>,
               model<L, heads<q_heads, 2, head_dim>, cla<2>>, model<L, heads<q_heads, 1, head_dim>, cla<2>>,
               model<L, heads<q_heads, 1, head_dim>, cla<3>>>;
// The attention shapes of two small public Llama-architecture checkpoints, so --checkpoint can run
// them: SmolLM-135M (30 layers, 9 query heads, 3 K/V heads, 64) and TinyLlama-1.1B (22 layers, 32
// query heads, 4 K/V heads, 64). (This project's tests load checkpoints they write themselves; these
// two files were not available here.)
using public_checkpoints = model_list<model<30, heads<9, 3, 64>, no_sharing>, model<22, heads<32, 4, 64>, no_sharing>>;
using compiled_models =
    concat<models_with_layers<4>, models_with_layers<6>, models_with_layers<12>, public_checkpoints>::type;

// ---- options ----------------------------------------------------------------------------------
struct options {
    std::string variant = "mqa-cla2";
    bool variant_given = false;
    std::optional<int> q_heads_flag, kv_heads_flag, head_dim_flag;
    std::optional<std::string> sharing_flag;
    int layers = 6, d_model = 512, ffn = 0, vocab = 1024;
    int batch = 4, prompt_len = 128, new_tokens = 32, page_size = 0, prefill_chunk = 0, threads = 0;
    std::uint32_t seed = 1;
    bool json = false, demo = false, check = true;
    std::string checkpoint, save_checkpoint;
    // --demo
    double budget_mib = 256;
    int context = 2048, budget_steps = 8;
};

[[noreturn]] void usage(int code) {
    std::fprintf(code ? stderr : stdout, R"(usage: cla_decoder [options]
  --variant V        mha | gqaG | mqa, optionally -claS (gqaG: groups of G query heads share a K/V head),
                     e.g. mha, gqa4, mqa, mqa-cla2, gqa2-cla2, mqa-cla3        (default mqa-cla2)
  --q-heads N --kv-heads N --head-dim N --sharing S   the planner's flags (alone: MHA without sharing
                     unless given; with --variant: override its parts)
  --layers N         decoder layers (default 6)      --d-model N   model width (default 512)
  --ffn N            SwiGLU width (default 3 x d-model)  --vocab N  vocabulary (default 1024)
  --batch N          sequences (default 4)           --prompt-len N  longest prompt (default 128; ragged:
                     sequence b gets prompt-len - b*prompt-len/(2*batch) tokens)
  --new-tokens N     decode steps (default 32)       --page-size N  paged cache with N-token pages (0: contiguous)
  --prefill-chunk N  chunked prefill, N tokens per sequence per chunk (0: whole prompts)
  --threads N        attention threads (0: all)      --seed N      weights and prompts (default 1)
  --checkpoint DIR   load config.json + model.safetensors instead of random weights
  --save-checkpoint DIR  write the random weights as a Llama-format checkpoint (fp32) and exit
  --no-check         skip the full recomputation      --json        one JSON object on stdout
  --demo             MHA, GQA-4, MQA, MQA-CLA2 at equal size, then at one fixed KV budget
  --budget-mib X --context N --budget-steps N         the --demo budget run (256 MiB, 2048, 8)
)");
    std::exit(code);
}

int to_int(const char* text, const char* flag) {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 0 || value > (1 << 30)) {
        std::fprintf(stderr, "cla_decoder: %s needs a non-negative integer, got '%s'\n", flag, text);
        std::exit(2);
    }
    return static_cast<int>(value);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "cla_decoder: %s needs a value\n", argv[i]);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h") usage(0);
        else if (a == "--variant") {
            o.variant = next();
            o.variant_given = true;
        }
        else if (a == "--q-heads") o.q_heads_flag = to_int(next(), "--q-heads");
        else if (a == "--kv-heads") o.kv_heads_flag = to_int(next(), "--kv-heads");
        else if (a == "--head-dim") o.head_dim_flag = to_int(next(), "--head-dim");
        else if (a == "--sharing") o.sharing_flag = next();
        else if (a == "--layers") o.layers = to_int(next(), "--layers");
        else if (a == "--d-model") o.d_model = to_int(next(), "--d-model");
        else if (a == "--ffn") o.ffn = to_int(next(), "--ffn");
        else if (a == "--vocab") o.vocab = to_int(next(), "--vocab");
        else if (a == "--batch") o.batch = to_int(next(), "--batch");
        else if (a == "--prompt-len") o.prompt_len = to_int(next(), "--prompt-len");
        else if (a == "--new-tokens") o.new_tokens = to_int(next(), "--new-tokens");
        else if (a == "--page-size") o.page_size = to_int(next(), "--page-size");
        else if (a == "--prefill-chunk") o.prefill_chunk = to_int(next(), "--prefill-chunk");
        else if (a == "--threads") o.threads = to_int(next(), "--threads");
        else if (a == "--seed") o.seed = static_cast<std::uint32_t>(to_int(next(), "--seed"));
        else if (a == "--checkpoint") o.checkpoint = next();
        else if (a == "--save-checkpoint") o.save_checkpoint = next();
        else if (a == "--json") o.json = true;
        else if (a == "--no-check") o.check = false;
        else if (a == "--demo") o.demo = true;
        else if (a == "--budget-mib") o.budget_mib = std::atof(next());
        else if (a == "--context") o.context = to_int(next(), "--context");
        else if (a == "--budget-steps") o.budget_steps = to_int(next(), "--budget-steps");
        else {
            std::fprintf(stderr, "cla_decoder: unknown option '%s' (--help lists them)\n", argv[i]);
            std::exit(2);
        }
    }
    if (o.ffn == 0) o.ffn = 3 * o.d_model;
    return o;
}

// "mqa-cla2" -> kv heads and sharing, for q_heads query heads.
std::pair<int, sharing_spec> parse_variant(const std::string& variant, int q) {
    const auto dash = variant.find('-');
    const std::string attention = variant.substr(0, dash);
    sharing_spec sharing{};
    if (dash != std::string::npos) {
        const std::string rest = variant.substr(dash + 1);
        KVSHARE_REQUIRE(rest.rfind("cla", 0) == 0 && rest.size() > 3, "variant '", variant,
                        "': the part after '-' must be claS, e.g. mqa-cla2");
        sharing = parse_sharing("cla:" + rest.substr(3));
    }
    int kv = 0;
    if (attention == "mha") kv = q;
    else if (attention == "mqa") kv = 1;
    else if (attention.rfind("gqa", 0) == 0 && attention.size() > 3) {
        const int group = std::atoi(attention.c_str() + 3);
        KVSHARE_REQUIRE(group >= 1 && q % group == 0, "variant '", variant, "': ", q, " query heads do not split into groups of ",
                        attention.substr(3));
        kv = q / group;
    } else {
        detail::throw_error("unknown variant '", variant, "' (expected mha, gqaG or mqa, optionally -claS)");
    }
    return {kv, sharing};
}

nn::decoder_config config_from(const options& o) {
    nn::decoder_config c;
    c.vocab_size = o.vocab;
    c.d_model = o.d_model;
    c.ffn = o.ffn;
    c.layers = o.layers;
    c.q_heads = o.q_heads_flag.value_or(q_heads);
    // The planner's flags alone describe the model (no sharing unless --sharing); with --variant
    // they override its parts.
    const bool planner_flags = o.q_heads_flag || o.kv_heads_flag || o.head_dim_flag || o.sharing_flag;
    auto [kv, sharing] = planner_flags && !o.variant_given ? std::pair{c.q_heads, sharing_spec{}}
                                                           : parse_variant(o.variant, c.q_heads);
    c.kv_heads = o.kv_heads_flag.value_or(kv);
    c.head_dim = o.head_dim_flag.value_or(head_dim);
    c.sharing = o.sharing_flag ? parse_sharing(*o.sharing_flag) : sharing;
    return c;
}

std::string variant_name(const nn::decoder_config& c) {
    std::string name = c.kv_heads == c.q_heads ? "mha"
                       : c.kv_heads == 1       ? "mqa"
                                               : "gqa" + std::to_string(c.q_heads / c.kv_heads);
    if (c.sharing.kind == sharing_kind::cla) name += "-cla" + std::to_string(c.sharing.parameter);
    else if (c.sharing.kind != sharing_kind::none) name += "-" + to_string(c.sharing);
    return name;
}

// ---- one run ------------------------------------------------------------------------------------
struct run_result {
    std::string variant, model, layout;
    int batch = 0, prompt_tokens = 0, new_tokens = 0, page_size = 0, capacity = 0;
    std::uint64_t kv_bytes_per_token = 0, kv_bytes_allocated = 0, kv_bytes_planned = 0;
    std::int64_t page_rounding_bytes = 0;
    double prefill_tokens_per_s = 0, decode_tokens_per_s = 0;
    double max_logit_diff = -1;   // < 0: not checked

    json::value to_json() const {
        json::object o{{"variant", variant},
                       {"model", model},
                       {"layout", layout},
                       {"batch", batch},
                       {"prompt_tokens", prompt_tokens},
                       {"new_tokens", new_tokens},
                       {"capacity", capacity},
                       {"page_size", page_size},
                       {"kv_bytes_per_token", kv_bytes_per_token},
                       {"kv_bytes_allocated", kv_bytes_allocated},
                       {"kv_bytes_planned", kv_bytes_planned},
                       {"page_rounding_bytes", page_rounding_bytes},
                       {"prefill_tokens_per_s", prefill_tokens_per_s},
                       {"decode_tokens_per_s", decode_tokens_per_s}};
        o.emplace_back("max_logit_diff_incremental_vs_full", max_logit_diff >= 0 ? json::value(max_logit_diff) : json::value());
        return json::value(std::move(o));
    }
};

struct prompts {
    std::vector<std::int32_t> tokens, offsets{0};
    int longest = 0;
};

prompts make_prompts(const options& o, int vocab) {
    std::mt19937 rng(o.seed + 1000);
    std::uniform_int_distribution<int> token(0, vocab - 1);
    prompts p;
    for (int b = 0; b < o.batch; ++b) {
        const int n = std::max(1, o.prompt_len - b * o.prompt_len / (2 * o.batch));
        for (int i = 0; i < n; ++i) p.tokens.push_back(token(rng));
        p.offsets.push_back(static_cast<std::int32_t>(p.tokens.size()));
        p.longest = std::max(p.longest, n);
    }
    return p;
}

template <class M, class Cache>
run_result run_with_cache(const nn::decoder<M>& net, Cache& cache, const options& o, const prompts& p) {
    const execution<host_memory> exec{o.threads};
    const nn::generation g = nn::generate(net, cache, p.tokens, p.offsets, o.new_tokens, o.prefill_chunk, exec);
    run_result r;
    r.variant = variant_name(net.config());
    r.model = to_string(net.config().desc());
    r.layout = Cache::paged ? "paged" : "contiguous";
    r.batch = o.batch;
    r.prompt_tokens = static_cast<int>(p.tokens.size());
    r.new_tokens = o.new_tokens;
    r.capacity = cache.capacity();
    r.page_size = cache.page_size();
    r.kv_bytes_per_token = kv_bytes_per_token<M>(dtype::fp32);
    r.kv_bytes_allocated = cache.allocated_bytes();
    r.kv_bytes_planned = cache.planned_bytes();
    r.page_rounding_bytes = cache.page_rounding_bytes();
    r.prefill_tokens_per_s = g.prefill_tokens / std::max(g.prefill_seconds, 1e-9);
    r.decode_tokens_per_s = g.decode_tokens / std::max(g.decode_seconds, 1e-9);
    if (o.check) r.max_logit_diff = nn::max_logit_diff(net, g, exec);
    return r;
}

template <class M>
run_result run_model(nn::decoder_weights weights, const options& o) {
    const nn::decoder<M> net(std::move(weights));
    const prompts p = make_prompts(o, net.config().vocab_size);
    const int capacity = p.longest + o.new_tokens;
    if (o.page_size > 0) {
        kv_cache<M, float, host_memory, paged_layout> cache(o.batch, capacity, {.page_size = o.page_size});
        return run_with_cache(net, cache, o, p);
    }
    kv_cache<M, float> cache(o.batch, capacity);
    return run_with_cache(net, cache, o, p);
}

run_result run(const options& o, std::optional<nn::decoder_weights> loaded = std::nullopt) {
    nn::decoder_config config = loaded ? loaded->config : config_from(o);
    return dispatch_model(config.desc(), compiled_models{}, [&](auto m) {
        using M = decltype(m);
        nn::decoder_weights w = loaded ? std::move(*loaded)
                                       : nn::random_weights(config, o.seed, config.sharing.kind != sharing_kind::none);
        return run_model<M>(std::move(w), o);
    });
}

void print_run(const run_result& r) {
    std::printf("model               %s (%s)\n", r.model.c_str(), r.variant.c_str());
    std::printf("cache               %s%s, batch %d, capacity %d tokens per sequence\n", r.layout.c_str(),
                r.page_size ? (", page size " + std::to_string(r.page_size)).c_str() : "", r.batch, r.capacity);
    std::printf("KV bytes per token  %llu (fp32, all layers)\n", static_cast<unsigned long long>(r.kv_bytes_per_token));
    std::printf("KV bytes allocated  %llu (measured from the cache; planner: %llu, page rounding %lld)\n",
                static_cast<unsigned long long>(r.kv_bytes_allocated), static_cast<unsigned long long>(r.kv_bytes_planned),
                static_cast<long long>(r.page_rounding_bytes));
    std::printf("prefill             %d tokens, %.0f tokens/s\n", r.prompt_tokens, r.prefill_tokens_per_s);
    std::printf("decode              %d steps x %d sequences, %.0f tokens/s\n", r.new_tokens, r.batch,
                r.decode_tokens_per_s);
    if (r.max_logit_diff >= 0)
        std::printf("max |logit diff|    %.3g (incremental decode vs full recomputation)\n", r.max_logit_diff);
}

// ---- --demo -----------------------------------------------------------------------------------------
struct budget_row {
    std::string variant;
    std::uint64_t kv_bytes_per_token = 0;
    int batch = 0, context = 0;
    std::uint64_t kv_bytes_allocated = 0;
    double decode_tokens_per_s = 0;
};

// Largest batch whose cache of (context + steps) tokens per sequence fits the budget; fills the
// cache to `context` tokens with random K/V (decode cost does not depend on the values), then
// times `steps` decode steps of the whole batch.
template <class M>
budget_row budget_run(const nn::decoder_config& config, const options& o, std::uint64_t budget) {
    budget_row row;
    row.variant = variant_name(config);
    row.kv_bytes_per_token = kv_bytes_per_token<M>(dtype::fp32);
    row.context = o.context;
    const int capacity = o.context + o.budget_steps;
    row.batch = static_cast<int>(max_kv_tokens<M>(dtype::fp32, budget) / capacity);
    if (row.batch < 1) return row;
    const nn::decoder<M> net(nn::random_weights(config, o.seed, config.sharing.kind != sharing_kind::none));
    kv_cache<M, float> cache(row.batch, capacity);
    row.kv_bytes_allocated = cache.allocated_bytes();

    std::mt19937 rng(o.seed + 7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int chunk = std::min(o.context, 256);
    std::vector<float> k(static_cast<std::size_t>(chunk) * M::kv_heads * M::head_dim), v(k.size());
    for (auto& x : k) x = normal(rng);
    for (auto& x : v) x = normal(rng);
    for (int b = 0; b < row.batch; ++b)
        for (int done = 0; done < o.context; done += chunk) {
            const int n = std::min(chunk, o.context - done);
            const host_view<const float, 3> kk(k.data(), {n, M::kv_heads, M::head_dim}), vv(v.data(), {n, M::kv_heads, M::head_dim});
            for (int p : M::producers) cache.append(p, b, kk, vv);
        }

    const execution<host_memory> exec{o.threads};
    std::vector<std::int32_t> tokens(row.batch), rows(row.batch + 1);
    std::uniform_int_distribution<int> token(0, config.vocab_size - 1);
    for (auto& t : tokens) t = token(rng);
    for (int b = 0; b <= row.batch; ++b) rows[b] = b;
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < o.budget_steps; ++s) {
        const nn::matrix logits = net.forward(cache, tokens, rows, exec);
        for (int b = 0; b < row.batch; ++b) logits.row(b).maxCoeff(&tokens[b]);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    row.decode_tokens_per_s = double(row.batch) * o.budget_steps / seconds;
    return row;
}

int demo(options o) {
    const char* variants[] = {"mha", "gqa4", "mqa", "mqa-cla2"};
    std::vector<run_result> equal;
    for (const char* v : variants) {
        o.variant = v;
        equal.push_back(run(o));
    }
    const auto budget = static_cast<std::uint64_t>(o.budget_mib * 1024 * 1024);
    std::vector<budget_row> rows;
    for (const char* v : variants) {
        o.variant = v;
        const nn::decoder_config config = config_from(o);
        rows.push_back(dispatch_model(config.desc(), compiled_models{},
                                      [&](auto m) { return budget_run<decltype(m)>(config, o, budget); }));
    }

    if (o.json) {
        json::array a, b;
        for (const auto& r : equal) a.push_back(r.to_json());
        for (const auto& r : rows)
            b.push_back(json::object{{"variant", r.variant},
                                     {"kv_bytes_per_token", r.kv_bytes_per_token},
                                     {"batch", r.batch},
                                     {"context", r.context},
                                     {"tokens", static_cast<std::int64_t>(r.batch) * r.context},
                                     {"kv_bytes_allocated", r.kv_bytes_allocated},
                                     {"decode_tokens_per_s", r.decode_tokens_per_s}});
        json::object out{{"layers", o.layers},
                         {"d_model", o.d_model},
                         {"q_heads", q_heads},
                         {"head_dim", head_dim},
                         {"threads", o.threads},
                         {"equal_size", std::move(a)},
                         {"budget", json::object{{"budget_bytes", budget},
                                                 {"context", o.context},
                                                 {"decode_steps", o.budget_steps},
                                                 {"rows", std::move(b)}}}};
        std::printf("%s\n", json::dump(json::value(std::move(out))).c_str());
        return 0;
    }

    std::printf("Equal model size: %d layers, d_model %d, %d query heads x %d, batch %d, prompts up to %d tokens "
                "(ragged), %d decode steps, fp32 KV, %s cache\n\n",
                o.layers, o.d_model, q_heads, head_dim, o.batch, o.prompt_len, o.new_tokens,
                o.page_size ? "paged" : "contiguous");
    std::printf("| variant  | KV bytes/token | KV allocated | prefill tok/s | decode tok/s | max |logit diff| |\n");
    std::printf("|----------|---------------:|-------------:|--------------:|-------------:|-----------------:|\n");
    for (const auto& r : equal)
        std::printf("| %-8s | %14llu | %12llu | %13.0f | %12.0f | %16.2g |\n", r.variant.c_str(),
                    static_cast<unsigned long long>(r.kv_bytes_per_token),
                    static_cast<unsigned long long>(r.kv_bytes_allocated), r.prefill_tokens_per_s, r.decode_tokens_per_s,
                    r.max_logit_diff);
    std::printf("\nOne KV budget of %.0f MiB, context %d tokens (+%d decoded), largest batch that fits, "
                "decode throughput there:\n\n",
                o.budget_mib, o.context, o.budget_steps);
    std::printf("| variant  | KV bytes/token | batch | batch x context | KV allocated | decode tok/s |\n");
    std::printf("|----------|---------------:|------:|----------------:|-------------:|-------------:|\n");
    for (const auto& r : rows)
        std::printf("| %-8s | %14llu | %5d | %15lld | %12llu | %12.0f |\n", r.variant.c_str(),
                    static_cast<unsigned long long>(r.kv_bytes_per_token), r.batch,
                    static_cast<long long>(r.batch) * r.context, static_cast<unsigned long long>(r.kv_bytes_allocated),
                    r.decode_tokens_per_s);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const options o = parse(argc, argv);
        // A variant or sharing that does not parse is a bad argument too: exit 2, like the parser's errors
        // (failures while running, and models outside the compiled list, exit 1).
        if (!o.demo && o.checkpoint.empty()) {
            try {
                const nn::decoder_config c = config_from(o);
                (void)slot_map(c.sharing, c.layers);   // the sharing fits the layer count
            } catch (const kvshare::error& e) {
                std::fprintf(stderr, "cla_decoder: %s\n", e.what());
                return 2;
            }
        }
        if (o.demo) return demo(o);
        if (!o.save_checkpoint.empty()) {
            const nn::decoder_config config = config_from(o);
            nn::save_checkpoint(o.save_checkpoint,
                                nn::random_weights(config, o.seed, config.sharing.kind != sharing_kind::none));
            std::printf("wrote %s/config.json and %s/model.safetensors\n", o.save_checkpoint.c_str(),
                        o.save_checkpoint.c_str());
            return 0;
        }
        std::optional<nn::decoder_weights> loaded;
        if (!o.checkpoint.empty()) loaded = nn::load_checkpoint(o.checkpoint);
        const run_result r = run(o, std::move(loaded));
        if (o.json) {
            std::printf("%s\n", json::dump(r.to_json()).c_str());
        } else {
            print_run(r);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cla_decoder: %s\n", e.what());
        return 1;
    }
}
