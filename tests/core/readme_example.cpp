#include <kvshare/kvshare.hpp>
#include <cstdio>

// The CLA paper's H128-MQA-CLA2: 20 layers, 16 query heads sharing one K/V head of width 128,
// and each pair of adjacent layers sharing one K/V: 10 layers hold a cache.
using paper = kvshare::model<20, kvshare::mqa<16, 128>, kvshare::cla<2>>;
static_assert(paper::kv_layers == 10 && paper::slot(7) == 6);
static_assert(kvshare::kv_bytes_per_token<paper>(kvshare::dtype::bf16) == 5120);

int main() {
    // The same question at run time, e.g. from a config file: Llama-3-8B with CLA2.
    const kvshare::model_desc llama{32, 32, 8, 128, 0, kvshare::parse_sharing("cla:2")};
    const kvshare::memory_plan plan = kvshare::plan_memory(llama, kvshare::dtype::bf16);
    std::printf("%d KV layers, %llu bytes/token, %llu tokens in 16 GiB\n", plan.kv_layers,
                (unsigned long long)plan.bytes_per_token, (unsigned long long)plan.max_tokens(16ull << 30));
}
