// Eigen adapters: views of Eigen matrices and maps without copies, fed to the CPU ops.
#include "cpu_test_util.hpp"
#include "kvshare/tensor/eigen.hpp"

using namespace kvtest;

TEST_CASE("eigen adapters: strides, shapes and no copies") {
    using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    row_major m(6, 4 * 8);
    m.setRandom();
    const auto v = kvshare::as_heads_view(m, 4);
    CHECK(v.data() == m.data());
    CHECK(v.extent(0) == 6);
    CHECK(v.extent(1) == 4);
    CHECK(v.extent(2) == 8);
    CHECK(v(5, 3, 7) == m(5, 31));
    CHECK(v(2, 1, 0) == m(2, 8));

    const row_major& cm = m;
    const auto cv = kvshare::as_heads_view(cm, 2);
    static_assert(std::is_same_v<decltype(cv), const kvshare::host_view<const float, 3>>);
    CHECK(cv(1, 1, 3) == m(1, 19));

    Eigen::MatrixXf col(5, 3);   // column-major: strides {1, 5}
    col.setRandom();
    const auto c2 = kvshare::as_view(col);
    CHECK(c2.stride(0) == 1);
    CHECK(c2.stride(1) == 5);
    CHECK(c2(4, 2) == col(4, 2));
    CHECK_THROWS_AS(kvshare::as_heads_view(col, 3), kvshare::error);   // a row is not contiguous
    CHECK_THROWS_AS(kvshare::as_heads_view(m, 5), kvshare::error);     // 32 columns do not split in 5

    // A map with an outer stride (rows padded to 40 floats)
    std::vector<float> buffer(6 * 40, 0.0f);
    Eigen::Map<row_major, 0, Eigen::OuterStride<>> padded(buffer.data(), 6, 32, Eigen::OuterStride<>(40));
    const auto pv = kvshare::as_heads_view(padded, 4);
    CHECK(pv.stride(0) == 40);
    pv(3, 2, 1) = 9.0f;
    CHECK(buffer[3 * 40 + 17] == 9.0f);

    // A cache [batch * capacity, H_kv * d] as [batch, capacity, H_kv, d]
    row_major cache(2 * 10, 2 * 8);
    cache.setRandom();
    const auto kv = kvshare::as_cache_view(cache, 2, 2);
    CHECK(kv.extent(1) == 10);
    CHECK(kv(1, 3, 1, 5) == cache(13, 13));
}

TEST_CASE("eigen adapters: prefill on Eigen matrices equals prefill on raw views") {
    using H = kvshare::heads<4, 2, 32>;
    using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const unsigned seed = fresh_seed();
    CAPTURE(seed);
    std::mt19937 gen(seed);
    prefill_inputs<H, float> in(gen, {{20}, {20}});
    const Eigen::Map<const row_major> q(in.q.data(), 20, 4 * 32), k(in.k.data(), 20, 2 * 32), v(in.v.data(), 20, 2 * 32);
    row_major out(20, 4 * 32), lse(20, 4);
    kvshare::prefill<H>(kvshare::as_heads_view(q, 4), kvshare::as_heads_view(k, 2), kvshare::as_heads_view(v, 2),
                        kvshare::as_heads_view(out, 4), in.q_offsets(), in.kv_offsets(), {0, true, -1, 0},
                        kvshare::as_view(lse));
    std::vector<float> raw, raw_lse;
    in.template run<kvshare::backend::cpu>({0, true, -1, 0}, raw, raw_lse);
    CHECK(std::equal(raw.begin(), raw.end(), out.data()));
    CHECK(std::equal(raw_lse.begin(), raw_lse.end(), lse.data()));
}
