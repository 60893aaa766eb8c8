// CUDA decode against the reference (double) and the naive same-precision computation, on fresh
// random inputs: group sizes 1..32, head dims 64/128/256, bf16 and fp16, ragged batches up to 64,
// lengths 1 .. 65536, contiguous and paged (page sizes 1, 16, 64, shuffled tables), every mask
// option, fully masked rows, with and without LSE and workspace; CUDA graph capture; the errors.
// KVSHARE_TEST_QUICK=1 runs a reduced set (for compute-sanitizer).
#include "decode_support.hpp"

using namespace kvshare;
using kvtest::decode_case;

namespace {

// One head policy per group size; head dims and types spread over them.
template <class H, class T>
struct cfg {
    using heads = H;
    using type = T;
};
using g1 = cfg<heads<4, 4, 128>, __nv_bfloat16>;
using g2 = cfg<heads<4, 2, 64>, __half>;
using g3 = cfg<heads<6, 2, 128>, __nv_bfloat16>;
using g4 = cfg<heads<8, 2, 256>, __nv_bfloat16>;
using g7 = cfg<heads<7, 1, 128>, __half>;
using g8 = cfg<heads<16, 2, 64>, __nv_bfloat16>;
using g16 = cfg<heads<16, 1, 256>, __half>;
using g32 = cfg<heads<32, 1, 128>, __nv_bfloat16>;

std::vector<int> lengths_for_tests() {
    if (kvtest::quick_mode()) return {1, 17, 255, 256, 257};
    return {1, 17, 255, 256, 257, 4097};
}

template <class C>
void run(const decode_case& c) {
    const auto e = kvtest::run_decode_case<typename C::heads, typename C::type>(c);
    kvtest::check_errors(e, c.name());
}

}  // namespace

TEST_CASE_TEMPLATE("decode matches the reference: every length, contiguous, q_len 1", C, g1, g2, g3, g4, g7, g8, g16,
                   g32) {
    for (int len : lengths_for_tests()) {
        decode_case c;
        c.kv_lens = {len};
        c.q_lens = {1};
        run<C>(c);
        // batch of 3 with ragged lengths around len
        c.kv_lens = {len, std::max(1, len / 3), len + 5};
        c.q_lens = {1, 1, 1};
        c.options.causal = true;
        run<C>(c);
    }
}

TEST_CASE_TEMPLATE("decode matches the reference: paged, shuffled pages, q_len > 1, masks", C, g1, g3, g4, g8, g32) {
    auto& gen = kvtest::rng();
    const int max_len = kvtest::quick_mode() ? 300 : 2000;
    for (int page : {1, 16, 64}) {
        for (int variant = 0; variant < 4; ++variant) {
            decode_case c;
            c.page_size = page;
            const int batch = 1 + static_cast<int>(gen() % 5);
            for (int b = 0; b < batch; ++b) {
                c.kv_lens.push_back(static_cast<int>(gen() % max_len) + (b == 0 ? 1 : 0));
                c.q_lens.push_back(1 + static_cast<int>(gen() % 4));
            }
            c.options.causal = variant != 0;
            c.options.window_left = variant == 2 ? static_cast<int>(gen() % 100) : -1;
            c.options.softcap = variant == 3 ? 20.0f : 0.0f;
            c.q_scale = variant == 3 ? 6.0f : 1.0f;
            // pool layouts: packed pages; a gap after each page that is no multiple of a row (the
            // kernel's general address path); a page-sized gap (K and V of a page interleaved)
            c.block_gap = variant == 1 ? 8 : (variant == 2 ? -1 : 0);
            run<C>(c);
        }
    }
}

TEST_CASE_TEMPLATE("decode: fully masked rows, empty sequences, windows, scale", C, g2, g7, g16) {
    decode_case c;
    // q_len > kv_len with causal: the first queries see nothing; a zero-length sequence sees nothing
    c.kv_lens = {1, 0, 5, 300};
    c.q_lens = {3, 2, 7, 1};
    c.options.causal = true;
    run<C>(c);
    c.options.window_left = 0;   // each query sees only its own position
    run<C>(c);
    c.options.window_left = 3;
    c.options.scale = 0.3f;
    c.page_size = 16;
    run<C>(c);
    c.options = {};
    c.options.window_left = 40;   // window without causal: keys after the position stay visible
    c.kv_lens = {100, 257, 1000, 64};
    run<C>(c);
}

TEST_CASE_TEMPLATE("decode: batch up to 64 ragged, q_len up to 16 (several row blocks)", C, g1, g4, g8) {
    auto& gen = kvtest::rng();
    for (int batch : {7, kvtest::quick_mode() ? 9 : 64}) {
        decode_case c;
        for (int b = 0; b < batch; ++b) {
            c.kv_lens.push_back(1 + static_cast<int>(gen() % (kvtest::quick_mode() ? 200 : 1500)));
            c.q_lens.push_back(b % 5 == 0 ? 16 : 1);
        }
        c.options.causal = true;
        c.page_size = batch == 7 ? 0 : 16;
        run<C>(c);
    }
}

TEST_CASE_TEMPLATE("decode: workspace too small or absent still gives the right answer", C, g4, g32) {
    decode_case c;
    c.kv_lens = {kvtest::quick_mode() ? 600 : 5000, 70};
    c.q_lens = {1, 2};
    c.options.causal = true;
    for (int ws : {0, 2}) {
        c.workspace = ws;
        run<C>(c);
    }
}

TEST_CASE("decode: 65536 keys, few heads, split across many CTAs") {
    if (kvtest::quick_mode()) return;
    decode_case c;
    c.kv_lens = {65536};
    c.q_lens = {1};
    run<cfg<heads<4, 1, 128>, __nv_bfloat16>>(c);
    c.kv_lens = {65536, 3};
    c.q_lens = {2, 1};
    c.page_size = 64;
    c.options.causal = true;
    run<cfg<heads<2, 2, 64>, __half>>(c);
}

TEST_CASE("decode under CUDA graph capture; replays see new device lengths") {
    using H = heads<8, 2, 128>;
    using T = __nv_bfloat16;
    constexpr int B = 2, HQ = 8, HKV = 2, D = 128, CAP = 3000;
    auto& gen = kvtest::rng();
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<T> q(B * HQ * D), k(B * CAP * HKV * D), v(k.size());
    for (auto& x : q) x = T(normal(gen));
    for (auto& x : k) x = T(normal(gen));
    for (auto& x : v) x = T(normal(gen));
    std::vector<std::int32_t> offsets{0, 1, 2}, lengths{2900, 1500};
    cuda::device_buffer<T> dq(q.size()), dk(k.size()), dv(v.size()), dout(q.size()), dref(q.size());
    cuda::device_buffer<std::int32_t> doff(3), dlen(2);
    dq.copy_from_host(q.data(), q.size());
    dk.copy_from_host(k.data(), k.size());
    dv.copy_from_host(v.data(), v.size());
    doff.copy_from_host(offsets.data(), 3);
    dlen.copy_from_host(lengths.data(), 2);
    cuda::device_buffer<std::byte> ws(cuda::decode_workspace_bytes<H>(B, B));

    kv_view<T, device_memory> kv;
    kv.k = {dk.data(), {B, CAP, HKV, D}};
    kv.v = {dv.data(), {B, CAP, HKV, D}};
    kv.lengths = lengths;
    kv.lengths_in_space = {dlen.data(), {B}};
    const ragged_offsets<device_memory> qo{offsets, {doff.data(), {3}}};
    const device_view<const T, 3> qv(dq.data(), {B, HQ, D});
    const attention_options opt{.causal = true};

    cudaStream_t stream;
    KVSHARE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const execution<device_memory> exec{stream, ws.byte_view()};
    cudaGraph_t graph;
    cudaGraphExec_t instance;
    KVSHARE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    decode<H>(qv, qo, kv, device_view<T, 3>(dout.data(), {B, HQ, D}), opt, {}, exec);
    KVSHARE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    KVSHARE_CUDA_CHECK(cudaGraphInstantiate(&instance, graph, 0));

    // bitwise: the same plan must give the same bits; close: after the lengths changed, the direct
    // call may choose another split count (other rounding), but a replay that still used the old
    // lengths would be off by O(1).
    auto compare = [&](const std::string& what, bool bitwise) {
        decode<H>(qv, qo, kv, device_view<T, 3>(dref.data(), {B, HQ, D}), opt, {}, exec);   // not captured
        KVSHARE_CUDA_CHECK(cudaStreamSynchronize(stream));
        std::vector<T> a(q.size()), b(q.size());
        dout.copy_to_host(a.data(), a.size());
        dref.copy_to_host(b.data(), b.size());
        int same = 0;
        double diff = 0, norm = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            same += float(a[i]) == float(b[i]);
            diff += (float(a[i]) - float(b[i])) * (float(a[i]) - float(b[i]));
            norm += float(b[i]) * float(b[i]);
        }
        INFO(what, ": ", same, " of ", a.size(), " equal, relative difference ", std::sqrt(diff / norm));
        if (bitwise)
            CHECK(same == static_cast<int>(a.size()));
        else
            CHECK(std::sqrt(diff / norm) < 1e-2);   // bf16 rounding ~4e-3
    };
    std::vector<T> poison(q.size(), kvtest::nan_t<T>());
    dout.copy_from_host(poison.data(), poison.size());
    KVSHARE_CUDA_CHECK(cudaGraphLaunch(instance, stream));
    compare("first replay == direct call", true);

    // New lengths in device memory (and in the host span the direct call reads): the graph keeps its
    // split count but computes the chunks from the device lengths.
    lengths = {37, 2999};
    dlen.copy_from_host(lengths.data(), 2);
    dout.copy_from_host(poison.data(), poison.size());
    KVSHARE_CUDA_CHECK(cudaGraphLaunch(instance, stream));
    compare("replay after the lengths changed vs a direct call with the new lengths", false);

    KVSHARE_CUDA_CHECK(cudaGraphExecDestroy(instance));
    KVSHARE_CUDA_CHECK(cudaGraphDestroy(graph));
    KVSHARE_CUDA_CHECK(cudaStreamDestroy(stream));
}

TEST_CASE("decode rejects bad arguments before writing anything") {
    using H = heads<4, 2, 64>;
    using T = __half;
    constexpr int B = 1, HQ = 4, HKV = 2, D = 64, CAP = 32;
    cuda::device_buffer<T> dq(B * HQ * D + 8), dk(B * CAP * HKV * D), dv(dk.size()), dout(B * HQ * D + 8);
    std::vector<T> host_q(dq.size(), T(0.5f)), host_kv(dk.size(), T(0.25f));
    dq.copy_from_host(host_q.data(), host_q.size());
    dk.copy_from_host(host_kv.data(), host_kv.size());
    dv.copy_from_host(host_kv.data(), host_kv.size());
    std::vector<std::int32_t> offsets{0, 1}, lengths{20};
    cuda::device_buffer<std::int32_t> doff(2), dlen(1);
    doff.copy_from_host(offsets.data(), 2);
    dlen.copy_from_host(lengths.data(), 1);
    kv_view<T, device_memory> kv;
    kv.k = {dk.data(), {B, CAP, HKV, D}};
    kv.v = {dv.data(), {B, CAP, HKV, D}};
    kv.lengths = lengths;
    kv.lengths_in_space = {dlen.data(), {B}};
    const ragged_offsets<device_memory> qo{offsets, {doff.data(), {2}}};
    const device_view<const T, 3> qv(dq.data(), {B, HQ, D});
    const device_view<T, 3> ov(dout.data(), {B, HQ, D});

    std::vector<T> poison(dout.size(), kvtest::nan_t<T>());
    auto untouched = [&] {
        KVSHARE_CUDA_CHECK(cudaDeviceSynchronize());
        std::vector<T> now(dout.size());
        dout.copy_to_host(now.data(), now.size());
        for (const T& x : now)
            if (!std::isnan(float(x))) return false;
        return true;
    };
    dout.copy_from_host(poison.data(), poison.size());

    SUBCASE("host memory passed as a device view") {
        const device_view<const T, 3> host_as_device(host_q.data(), {B, HQ, D});
        CHECK_THROWS_WITH_AS(decode<H>(host_as_device, qo, kv, ov), doctest::Contains("host"), kvshare::error);
        CHECK(untouched());
    }
    SUBCASE("misaligned q (offset by one element)") {
        const device_view<const T, 3> shifted(dq.data() + 1, {B, HQ, D});
        CHECK_THROWS_WITH_AS(decode<H>(shifted, qo, kv, ov), doctest::Contains("16-byte"), kvshare::error);
        CHECK(untouched());
    }
    SUBCASE("unsupported head dim") {
        using H96 = heads<4, 2, 96>;
        cuda::device_buffer<T> q96(B * HQ * 96), k96(B * CAP * HKV * 96), v96(k96.size()), o96(q96.size());
        kv_view<T, device_memory> kv96 = kv;
        kv96.k = {k96.data(), {B, CAP, HKV, 96}};
        kv96.v = {v96.data(), {B, CAP, HKV, 96}};
        CHECK_THROWS_WITH_AS(decode<H96>(device_view<const T, 3>(q96.data(), {B, HQ, 96}), qo, kv96,
                                         device_view<T, 3>(o96.data(), {B, HQ, 96})),
                             doctest::Contains("head_dim 96"), kvshare::error);
    }
    SUBCASE("a length beyond the capacity (generic check)") {
        std::vector<std::int32_t> too_long{CAP + 1};
        kv_view<T, device_memory> bad = kv;
        bad.lengths = too_long;
        CHECK_THROWS_AS(decode<H>(qv, qo, bad, ov), kvshare::error);
        CHECK(untouched());
    }
    SUBCASE("the valid call works") {
        decode<H>(qv, qo, kv, ov);
        CHECK_FALSE(untouched());
    }
}
