// Development tool (not built by CMake): per-CTA timeline of one decode call, from the
// KVSHARE_DECODE_TRACE hooks of detail/decode_kernel.cuh (%globaltimer at CTA entry, first tile
// ready, main loop done, exit; merge CTAs: after the dependency wait, exit). Prints, per call, the
// event time and the percentiles of those times relative to the first CTA's entry (us).
//   trace_decode mqa|mqa128|hq8|gqa        (B8 L32K H_q 32 H_kv 1 | B8 L128K | H_q 8 H_kv 1 | H_kv 8)
// Build (from the repository root):
//   nvcc -std=c++20 -O3 -DNDEBUG -DKVSHARE_WITH_CUDA=1 --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a \
//        -I include -isystem /usr/include/eigen3 -o devbin/trace_decode benchmarks/cuda/trace_decode.cu
#define KVSHARE_DECODE_TRACE 1
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>
#include <kvshare/cuda.hpp>

using namespace kvshare;
namespace dk = kvshare::backend::cuda_detail::decode_kernels;

__global__ void fill(__nv_bfloat16* d, size_t n, unsigned long long seed) {
    for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
        unsigned long long x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
        x ^= x >> 31; x *= 0xBF58476D1CE4E5B9ull; x ^= x >> 29;
        d[i] = __float2bfloat16(float(x >> 40) / 16777216.0f * 2.f - 1.f);
    }
}
static double pct(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p * (v.size() - 1) + 0.5))];
}
template <class H>
void run(int B, int L, const char* tag) {
    constexpr int HQ = H::q_heads, HKV = H::kv_heads, D = H::head_dim;
    const size_t n = size_t(B) * L * HKV * D;
    const int copies = 3;
    std::vector<std::unique_ptr<cuda::device_buffer<__nv_bfloat16>>> ks, vs;
    for (int i = 0; i < copies; ++i) {
        ks.push_back(std::make_unique<cuda::device_buffer<__nv_bfloat16>>(n));
        vs.push_back(std::make_unique<cuda::device_buffer<__nv_bfloat16>>(n));
        fill<<<1024, 256>>>(ks.back()->data(), n, 10 + 2 * i);
        fill<<<1024, 256>>>(vs.back()->data(), n, 11 + 2 * i);
    }
    cuda::device_buffer<__nv_bfloat16> q(size_t(B) * HQ * D), out(q.size());
    fill<<<64, 256>>>(q.data(), q.size(), 3);
    std::vector<std::int32_t> offsets(B + 1), lengths(B, L);
    for (int b = 0; b <= B; ++b) offsets[b] = b;
    cuda::device_buffer<std::int32_t> d_off(B + 1), d_len(B);
    d_off.copy_from_host(offsets.data(), B + 1);
    d_len.copy_from_host(lengths.data(), B);
    cuda::device_buffer<std::byte> ws(cuda::decode_workspace_bytes<H>(B, B));
    const ragged_offsets<device_memory> qo{offsets, {d_off.data(), {B + 1}}};
    const execution<device_memory> exec{nullptr, ws.byte_view()};
    const attention_options opt{.causal = true};
    auto view = [&](int i) {
        kv_view<__nv_bfloat16, device_memory> kv;
        kv.k = {ks[i]->data(), {B, L, HKV, D}};
        kv.v = {vs[i]->data(), {B, L, HKV, D}};
        kv.lengths = lengths;
        kv.lengths_in_space = {d_len.data(), {B}};
        return kv;
    };
    const device_view<const __nv_bfloat16, 3> qv(q.data(), {B, HQ, D});
    const device_view<__nv_bfloat16, 3> ov(out.data(), {B, HQ, D});
    for (int i = 0; i < 6; ++i) decode<H>(qv, qo, view(i % copies), ov, opt, {}, exec);
    KVSHARE_CUDA_CHECK(cudaDeviceSynchronize());
    static unsigned long long tr[16384][5], mt[16384][2];
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    for (int rep = 0; rep < 3; ++rep) {
        std::memset(tr, 0, sizeof tr);
        std::memset(mt, 0, sizeof mt);
        KVSHARE_CUDA_CHECK(cudaMemcpyToSymbol(dk::decode_trace, tr, sizeof tr));
        KVSHARE_CUDA_CHECK(cudaMemcpyToSymbol(dk::merge_trace, mt, sizeof mt));
        KVSHARE_CUDA_CHECK(cudaDeviceSynchronize());
        cudaEventRecord(e0);
        decode<H>(qv, qo, view(rep % copies), ov, opt, {}, exec);
        cudaEventRecord(e1);
        KVSHARE_CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        KVSHARE_CUDA_CHECK(cudaMemcpyFromSymbol(tr, dk::decode_trace, sizeof tr));
        KVSHARE_CUDA_CHECK(cudaMemcpyFromSymbol(mt, dk::merge_trace, sizeof mt));
        unsigned long long t0 = ~0ull;
        int nc = 0, nm = 0;
        for (int i = 0; i < 16384; ++i) if (tr[i][0]) { t0 = std::min(t0, tr[i][0]); ++nc; }
        std::vector<double> st, ft, le, en, dur, mw, me;
        for (int i = 0; i < 16384; ++i) if (tr[i][0]) {
            st.push_back((tr[i][0] - t0) * 1e-3);
            if (tr[i][1]) ft.push_back((tr[i][1] - t0) * 1e-3);
            le.push_back((tr[i][2] - t0) * 1e-3);
            en.push_back((tr[i][3] - t0) * 1e-3);
            if (tr[i][1]) dur.push_back((tr[i][2] - tr[i][1]) * 1e-3);
        }
        for (int i = 0; i < 16384; ++i) if (mt[i][0]) { ++nm; mw.push_back((mt[i][0] - t0) * 1e-3); me.push_back((mt[i][1] - t0) * 1e-3); }
        printf("TRACE %-28s ev %6.1f us | ctas %4d start max %5.1f | 1st tile p50 %5.1f max %5.1f | loop end p10 %5.1f p50 %5.1f p90 %5.1f max %5.1f | "
               "exit max %5.1f | loop dur min %5.1f p50 %5.1f max %5.1f | merge %4d wait-release min %5.1f end max %5.1f\n",
               tag, ms * 1e3, nc, pct(st, 1), pct(ft, .5), pct(ft, 1), pct(le, .1), pct(le, .5), pct(le, .9), pct(le, 1),
               pct(en, 1), pct(dur, 0), pct(dur, .5), pct(dur, 1), nm, pct(mw, 0), pct(me, 1));
    }
}
int main(int argc, char** argv) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return 77;
    const char* which = argc > 1 ? argv[1] : "mqa";
    if (!std::strcmp(which, "mqa")) run<heads<32, 1, 128>>(8, 32768, "mqa B8 L32K");
    if (!std::strcmp(which, "mqa128")) run<heads<32, 1, 128>>(8, 131072, "mqa B8 L128K");
    if (!std::strcmp(which, "hq8")) run<heads<8, 1, 128>>(8, 32768, "hq8 hkv1 B8 L32K");
    if (!std::strcmp(which, "gqa")) run<heads<32, 8, 128>>(8, 32768, "gqa8 B8 L32K");
    return 0;
}
