#pragma once
// The register-blocked inner loops of the CPU backend: the two products of attention.
//
//   qk: S^T = K Q^T for R keys x (C * width) query rows. Query rows are the vector lanes, so the
//       online softmax that follows reduces across keys with plain vertical max/add, and a key row is
//       read straight from the cache (one broadcast per element): no packing of K.
//   pv: O = alpha * O + P V for R rows x (C * width) value columns; V rows are read in place.
//
// The fp32 versions use FMA; the bf16 versions (AVX512-BF16 only) use vdpbf16ps, which multiplies
// *pairs* of bf16 along the reduction dimension: Q is packed as (d, d+1) pairs per query lane, P as
// (j, j+1) pairs per row, and V as (row j, row j+1) pairs per column.
#include <cstdint>

#include "kvshare/backend/cpu/simd.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend::cpu_detail {

#if defined(__GNUC__) && !defined(__clang__)
#define KVSHARE_UNROLL _Pragma("GCC unroll 32")
#elif defined(__clang__)
#define KVSHARE_UNROLL _Pragma("unroll")
#else
#define KVSHARE_UNROLL
#endif

// Keeps a loaded vector in a register: without it GCC folds the load into every FMA that uses it
// (a memory operand per FMA), which makes load-bound loops.
#if (defined(__GNUC__) || defined(__clang__)) && (defined(KVSHARE_CPU_AVX512) || defined(KVSHARE_CPU_AVX2))
#define KVSHARE_IN_REGISTER(x) asm("" : "+v"(x))
#else
#define KVSHARE_IN_REGISTER(x) ((void)0)
#endif

// s[j * s_stride + i] = sum_d krow[j][d] * qt[d * q_stride + i]   for j < R, i < C * width
//   qt   : [d_count, q_stride] fp32, query rows in the lanes
//   krow : R pointers to fp32 key rows of d_count elements
template <int R, int C>
inline void qk_f32(const float* qt, index_t q_stride, int d_count, const float* const* krow, float* s,
                   index_t s_stride) {
    using namespace simd;
    vf acc[R][C];
    const float* k[R];
    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
        k[r] = krow[r];
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = zero();
    }
#pragma GCC unroll 4
    for (int d = 0; d < d_count; ++d, qt += q_stride) {
        vf q[C];
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) q[c] = load(qt + c * width);
        KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
            const vf kb = set1(k[r][d]);
            KVSHARE_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = fmadd(q[c], kb, acc[r][c]);
        }
    }
    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) store(s + r * s_stride + c * width, acc[r][c]);
    }
}

// o[r][dv0 + x] = alpha[r] * o[r][dv0 + x] + sum_{j < n} p[r * rs + j * cs] * vrow[j][dv0 + x]
//   for r < R, x < C * width; the last vector of columns is loaded under `last` (the Dv tail).
//   o : [R, o_stride] fp32 (already offset to column dv0); TV = float or bf16 (widened on load)
template <int R, int C, class TV>
inline void pv_f32(const float* p, index_t rs, index_t cs, int n, const TV* const* vrow, int dv0, simd::vmask last,
                   float* o, index_t o_stride, const float* alpha) {
    using namespace simd;
    vf acc[R][C];
    const float* pr[R];
    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
        pr[r] = p + r * rs;
        const vf a = set1(alpha[r]);
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = mul(load(o + r * o_stride + c * width), a);
    }
#pragma GCC unroll 2
    for (int j = 0; j < n; ++j) {
        const TV* v = vrow[j] + dv0;
        vf vv[C];
        KVSHARE_UNROLL for (int c = 0; c < C - 1; ++c) vv[c] = load(v + c * width);
        vv[C - 1] = load_masked(v + (C - 1) * width, last);
        const index_t at = j * cs;
        KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
            const vf pb = set1(pr[r][at]);
            KVSHARE_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = fmadd(vv[c], pb, acc[r][c]);
        }
    }
    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) store(o + r * o_stride + c * width, acc[r][c]);
    }
}

#if defined(KVSHARE_CPU_BF16_DOT)
// s[j * s_stride + i] = sum_d krow[j][d] * q_i[d], with pairs: qp[dp * q_stride + i] holds
// (q_i[2dp], q_i[2dp+1]) as one 32-bit lane; key rows are bf16 with 2 * d_pairs elements.
template <int R, int C>
inline void qk_bf16(const std::uint32_t* qp, index_t q_stride, int d_pairs, const bf16* const* krow, float* s,
                    index_t s_stride) {
    using namespace simd;
    vf acc[R][C];
    const bf16* k[R];
    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
        k[r] = krow[r];
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = zero();
    }
    for (int dp = 0; dp < d_pairs; ++dp, qp += q_stride) {
        vpair q[C];
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) q[c] = load_pairs(qp + c * width);
        KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
            const vpair kb = broadcast_pair(k[r] + 2 * dp);
            KVSHARE_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = dot_pairs(acc[r][c], q[c], kb);
        }
    }
    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) store(s + r * s_stride + c * width, acc[r][c]);
    }
}

// o[r][x] = alpha[r] * o[r][x] + sum_jp pair(P[r][2jp], P[r][2jp+1]) . pair(V[2jp][x], V[2jp+1][x])
//   pp : [n_pairs, p_stride] P pairs, row r in lane/element r
//   vp : [n_pairs, v_stride] V pairs, column x in element x (already offset to the first column)
template <int R, int C>
inline void pv_bf16(const std::uint32_t* pp, index_t p_stride, int n_pairs, const std::uint32_t* vp,
                    index_t v_stride, float* o, index_t o_stride, const float* alpha) {
    using namespace simd;
    vf acc[R][C];
    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
        const vf a = set1(alpha[r]);
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = mul(load(o + r * o_stride + c * width), a);
    }
    for (int jp = 0; jp < n_pairs; ++jp, pp += p_stride, vp += v_stride) {
        vpair vv[C];
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) vv[c] = load_pairs(vp + c * width);
        KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
            const vpair pb = broadcast_pair(pp + r);
            KVSHARE_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = dot_pairs(acc[r][c], vv[c], pb);
        }
    }
    KVSHARE_UNROLL for (int r = 0; r < R; ++r) {
        KVSHARE_UNROLL for (int c = 0; c < C; ++c) store(o + r * o_stride + c * width, acc[r][c]);
    }
}
#endif

}  // namespace kvshare::backend::cpu_detail
