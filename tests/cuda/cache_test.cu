// The device KV cache (backend/cuda/cache.cuh + append.cuh): after the same appends, a device cache
// holds exactly the bytes of a host cache (both layouts, bf16 and fp32, strided sources, d != 16-byte
// multiples), its page table and lengths mirrors match, and decode through cache.view(layer) agrees
// with the reference on the host cache.
#include <cstring>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include <kvshare/cache/kv_cache.hpp>
#include <kvshare/cuda.hpp>

#include "decode_support.hpp"

using namespace kvshare;

namespace {

// Host element with the same bits as the device one.
template <class T>
struct host_twin {
    using type = T;
};
template <>
struct host_twin<__nv_bfloat16> {
    using type = Eigen::bfloat16;
};

template <class M, class T, class Layout>
void append_and_compare(int batch, int capacity, int steps, bool strided) {
    using HT = typename host_twin<T>::type;
    constexpr int HKV = M::kv_heads, D = M::head_dim, DV = M::value_head_dim;
    auto& gen = kvtest::rng();
    std::normal_distribution<float> normal(0.f, 1.f);

    auto make = [&](auto* tag) {
        using C = std::remove_pointer_t<decltype(tag)>;
        if constexpr (std::is_same_v<Layout, paged_layout>)
            return C(batch, capacity, page_options{.page_size = 16, .pages = 0});
        else
            return C(batch, capacity);
    };
    auto device = make(static_cast<kv_cache<M, T, device_memory, Layout>*>(nullptr));
    auto host = make(static_cast<kv_cache<M, HT, host_memory, Layout>*>(nullptr));

    for (int step = 0; step < steps; ++step) {
        std::vector<std::int32_t> offsets(batch + 1, 0);
        for (int b = 0; b < batch; ++b) {
            const int room = capacity - host.length(0, b);
            const int n = room == 0 ? 0 : static_cast<int>(gen() % std::min(room + 1, step == 0 ? 40 : 3));
            offsets[b + 1] = offsets[b] + n;
        }
        const int total = offsets[batch];
        // sources [total, H_kv, w]; strided: each head padded by 8 elements (rows not dense)
        const int pad = strided ? 8 : 0;
        std::vector<HT> k(static_cast<std::size_t>(total) * HKV * (D + pad)), v(static_cast<std::size_t>(total) * HKV * (DV + pad));
        for (auto& x : k) x = HT(normal(gen));
        for (auto& x : v) x = HT(normal(gen));
        cuda::device_buffer<T> dk(std::max<std::size_t>(1, k.size())), dv(std::max<std::size_t>(1, v.size()));
        dk.copy_from_host(reinterpret_cast<const T*>(k.data()), k.size());
        dv.copy_from_host(reinterpret_cast<const T*>(v.data()), v.size());
        cuda::device_buffer<std::int32_t> doff(offsets.size());
        doff.copy_from_host(offsets.data(), offsets.size());

        const std::array<index_t, 3> ks{total, HKV, D}, vs{total, HKV, DV};
        const std::array<index_t, 3> kst{HKV * (D + pad), D + pad, 1}, vst{HKV * (DV + pad), DV + pad, 1};
        for (int layer = 0; layer < M::layers; ++layer) {
            if (!M::is_producer(layer)) continue;
            host.append(layer, host_view<const HT, 3>(k.data(), ks, kst), host_view<const HT, 3>(v.data(), vs, vst),
                        host_offsets(offsets));
            device.append(layer, device_view<const T, 3>(dk.data(), ks, kst), device_view<const T, 3>(dv.data(), vs, vst),
                          ragged_offsets<device_memory>{offsets, {doff.data(), {batch + 1}}});
        }
    }
    KVSHARE_CUDA_CHECK(cudaDeviceSynchronize());
    REQUIRE(device.allocated_bytes() == host.allocated_bytes());
    std::vector<std::byte> bytes(device.allocated_bytes());
    KVSHARE_CUDA_CHECK(cudaMemcpy(bytes.data(), device.data(), bytes.size(), cudaMemcpyDeviceToHost));
    CHECK(std::memcmp(bytes.data(), host.data(), bytes.size()) == 0);

    // mirrors: lengths and page table in device memory equal the host arrays
    for (int layer = 0; layer < M::layers; ++layer) {
        const auto dview = device.view(layer);
        const auto hview = host.view(layer);
        std::vector<std::int32_t> lengths(batch);
        KVSHARE_CUDA_CHECK(cudaMemcpy(lengths.data(), dview.lengths_in_space.data(), batch * sizeof(std::int32_t),
                                      cudaMemcpyDeviceToHost));
        CHECK(std::equal(lengths.begin(), lengths.end(), hview.lengths.begin()));
        if constexpr (std::is_same_v<Layout, paged_layout>) {
            std::vector<std::int32_t> table(dview.page_table.size());
            KVSHARE_CUDA_CHECK(cudaMemcpy(table.data(), dview.page_table.data(), table.size() * sizeof(std::int32_t),
                                          cudaMemcpyDeviceToHost));
            CHECK(std::memcmp(table.data(), hview.page_table.data(), table.size() * sizeof(std::int32_t)) == 0);
        }
    }
}

}  // namespace

TEST_CASE("device kv_cache appends exactly what the host cache appends") {
    using m_gqa = model<4, gqa<8, 2, 64>, cla<2>>;        // producers 0, 2
    using m_odd = model<3, heads<4, 2, 6, 10>, no_sharing>;   // rows of 24 / 40 bytes: element-wise copies
    SUBCASE("contiguous bf16") { append_and_compare<m_gqa, __nv_bfloat16, contiguous_layout>(5, 100, 4, false); }
    SUBCASE("paged bf16, strided sources") { append_and_compare<m_gqa, __nv_bfloat16, paged_layout>(5, 100, 4, true); }
    SUBCASE("contiguous fp32, odd widths") { append_and_compare<m_odd, float, contiguous_layout>(3, 50, 3, false); }
    SUBCASE("paged fp32, odd widths, strided") { append_and_compare<m_odd, float, paged_layout>(3, 50, 3, true); }
}

TEST_CASE("decode through a device kv_cache view matches the reference on the host cache") {
    using M = model<2, gqa<8, 2, 128>, cla<2>>;   // layer 1 reads layer 0's slot
    using T = __nv_bfloat16;
    constexpr int B = 3, HQ = 8, HKV = 2, D = 128, CAP = 700;
    auto& gen = kvtest::rng();
    std::normal_distribution<float> normal(0.f, 1.f);
    kv_cache<M, T, device_memory, paged_layout> device(B, CAP, page_options{.page_size = 16});
    kv_cache<M, Eigen::bfloat16, host_memory, paged_layout> host(B, CAP, page_options{.page_size = 16});
    std::vector<std::int32_t> offsets{0, 650, 651, 1000};
    std::vector<Eigen::bfloat16> k(1000 * HKV * D), v(k.size());
    for (auto& x : k) x = Eigen::bfloat16(normal(gen));
    for (auto& x : v) x = Eigen::bfloat16(normal(gen));
    cuda::device_buffer<T> dk(k.size()), dv(v.size());
    dk.copy_from_host(reinterpret_cast<const T*>(k.data()), k.size());
    dv.copy_from_host(reinterpret_cast<const T*>(v.data()), v.size());
    cuda::device_buffer<std::int32_t> doff(4);
    doff.copy_from_host(offsets.data(), 4);
    host.append<0>(host_view<const Eigen::bfloat16, 3>(k.data(), {1000, HKV, D}),
                   host_view<const Eigen::bfloat16, 3>(v.data(), {1000, HKV, D}), host_offsets(offsets));
    device.append<0>(device_view<const T, 3>(dk.data(), {1000, HKV, D}), device_view<const T, 3>(dv.data(), {1000, HKV, D}),
                     ragged_offsets<device_memory>{offsets, {doff.data(), {4}}});

    std::vector<std::int32_t> q_offsets{0, 1, 3, 4};
    std::vector<T> q(4 * HQ * D);
    for (auto& x : q) x = T(normal(gen));
    cuda::device_buffer<T> dq(q.size()), dout(q.size());
    cuda::device_buffer<std::int32_t> dqo(4);
    dq.copy_from_host(q.data(), q.size());
    dqo.copy_from_host(q_offsets.data(), 4);
    cuda::device_buffer<std::byte> ws(cuda::decode_workspace_bytes<M::heads_type>(B, 4));
    const attention_options opt{.causal = true};
    decode<M::heads_type>(device_view<const T, 3>(dq.data(), {4, HQ, D}),
                          ragged_offsets<device_memory>{q_offsets, {dqo.data(), {4}}}, device.view(1),
                          device_view<T, 3>(dout.data(), {4, HQ, D}), opt, {},
                          execution<device_memory>{nullptr, ws.byte_view()});
    std::vector<T> out(q.size());
    dout.copy_to_host(out.data(), out.size());

    std::vector<float> qf(q.size()), ref(q.size());
    for (std::size_t i = 0; i < q.size(); ++i) qf[i] = float(q[i]);
    backend::attention_backend<backend::reference>::decode<M::heads_type>(
        host_view<const float, 3>(qf.data(), {4, HQ, D}), host_offsets(q_offsets), host.view(1),
        host_view<float, 3>(ref.data(), {4, HQ, D}), opt, {});
    double err = 0, norm = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
        err += (float(out[i]) - ref[i]) * (float(out[i]) - ref[i]);
        norm += ref[i] * ref[i];
    }
    INFO("relative error ", std::sqrt(err / norm));
    CHECK(std::sqrt(err / norm) < 1e-2);   // bf16 output rounding is ~3e-3
}
