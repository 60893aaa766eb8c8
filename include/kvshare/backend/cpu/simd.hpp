#pragma once
// The SIMD layer of the CPU backend: one float vector type `vf` of `width` lanes, picked at compile
// time from what the compiler targets (-march=...):
//   AVX-512 F+BW+VL+DQ : 16 lanes (__m512),  masks __mmask16
//   AVX2 + FMA         :  8 lanes (__m256),  masks are vectors of all-ones lanes
//   anything else      :  1 lane  (float),   masks are bool
// The kernels are written once against these functions. bf16 (Eigen::bfloat16) is read by widening
// to fp32; with AVX512-BF16 (KVSHARE_CPU_BF16_DOT) the bf16 kernels also get the pair dot product
// vdpbf16ps (bf16 x bf16 -> fp32 accumulate, two products per lane).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include <Eigen/Core>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define KVSHARE_CPU_AVX512 1
#include <immintrin.h>
#elif defined(__AVX2__) && defined(__FMA__)
#define KVSHARE_CPU_AVX2 1
#include <immintrin.h>
#endif

#if defined(KVSHARE_CPU_AVX512) && defined(__AVX512BF16__)
#define KVSHARE_CPU_BF16_DOT 1
#endif

namespace kvshare::backend::cpu_detail {

using bf16 = Eigen::bfloat16;

inline float to_float(float x) { return x; }
inline float to_float(bf16 x) { return static_cast<float>(x); }
template <class T>
T from_float(float x) {
    return static_cast<T>(x);   // Eigen::bfloat16: round to nearest even
}

inline constexpr float log2e = 1.4426950408889634f;
inline constexpr float ln2 = 0.6931471805599453f;
inline constexpr float neg_inf = -std::numeric_limits<float>::infinity();

namespace simd {

// exp2 on [-0.5, 0.5]: 2^f ~ 1 + f * P(f), P of degree 4 fitted for least relative error (9e-8; in
// fp32 arithmetic 1.7e-7 measured over [-100, 1]). Cephes' degree-5 P (7.9e-8 measured) cost one FMA
// more: the prefill ran 0.4% faster without it (same-process A/B, faster in 27 of 40 pairs).
inline constexpr float exp2_c[5] = {1.326474653e-3f, 9.671515684e-3f, 5.550733672e-2f, 2.402224202e-1f,
                                    6.931469777e-1f};
// tanh on |x| < 0.625: x + x^3 * P(x^2) (Cephes tanhf).
inline constexpr float tanh_c[5] = {-5.70498872745e-3f, 2.06390887954e-2f, -5.37397155531e-2f, 1.33314422036e-1f,
                                    -3.33332819422e-1f};

#if defined(KVSHARE_CPU_AVX512)
// ---------------------------------------------------------------------------------------- AVX-512
inline constexpr int width = 16;
inline constexpr const char* isa = "avx512";
using vf = __m512;
using vi = __m512i;
using vmask = __mmask16;

inline vf zero() { return _mm512_setzero_ps(); }
inline vf set1(float x) { return _mm512_set1_ps(x); }
inline vf load(const float* p) { return _mm512_loadu_ps(p); }
inline vf load(const bf16* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline vf load_masked(const float* p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
inline vf load_masked(const bf16* p, vmask m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline void store(float* p, vf x) { _mm512_storeu_ps(p, x); }
inline void store_masked(float* p, vf x, vmask m) { _mm512_mask_storeu_ps(p, m, x); }
// fp32 -> bf16, round to nearest even (NaN stays NaN).
inline __m256i to_bf16_bits(vf x) {
#if defined(KVSHARE_CPU_BF16_DOT)
    return reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x));
#else
    const __m512i b = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    const __m512i r = _mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    const __m512i rounded = _mm512_mask_blend_epi32(nan, r, _mm512_or_si512(b, _mm512_set1_epi32(0x400000)));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(rounded, 16));
#endif
}
inline void store(bf16* p, vf x) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), to_bf16_bits(x)); }
inline void store_masked(bf16* p, vf x, vmask m) { _mm256_mask_storeu_epi16(p, m, to_bf16_bits(x)); }

inline vmask tail_mask(int n) { return n >= 16 ? vmask(0xffff) : vmask((1u << n) - 1u); }
inline vmask all_lanes() { return vmask(0xffff); }

inline vf add(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf div(vf a, vf b) { return _mm512_div_ps(a, b); }
inline vf fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline vf max(vf a, vf b) { return _mm512_max_ps(a, b); }
inline vf min(vf a, vf b) { return _mm512_min_ps(a, b); }
inline vf abs(vf a) { return _mm512_abs_ps(a); }
inline float reduce_add(vf a) { return _mm512_reduce_add_ps(a); }
inline float reduce_max(vf a) { return _mm512_reduce_max_ps(a); }
inline vf select(vmask m, vf if_true, vf if_false) { return _mm512_mask_blend_ps(m, if_false, if_true); }
inline vmask equal(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
inline vmask less(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }

inline vi set1_i(std::int32_t x) { return _mm512_set1_epi32(x); }
inline vi load_i(const std::int32_t* p) { return _mm512_loadu_si512(p); }
inline vi iota() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
inline vi add_i(vi a, vi b) { return _mm512_add_epi32(a, b); }
// begin <= key < end, lane by lane
inline vmask in_range(vi key, vi begin, vi end) {
    return _mm512_mask_cmplt_epi32_mask(_mm512_cmpge_epi32_mask(key, begin), key, end);
}

inline vf round_nearest(vf x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// 2^n * p for integral-valued n; underflows to exactly 0 for n <= -150.
inline vf scale_pow2(vf p, vf n) { return _mm512_scalef_ps(p, n); }

// lane k of the result = sum of the lanes of v[k], k < 16 (a transposing reduction tree).
inline vf reduce_transpose(const vf* v) {
    vf a[8], b[4], c[2];
    for (int k = 0; k < 8; ++k)
        a[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    for (int k = 0; k < 4; ++k) {
        const __m512d x = _mm512_castps_pd(a[2 * k]), y = _mm512_castps_pd(a[2 * k + 1]);
        b[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    for (int k = 0; k < 2; ++k)
        c[k] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// In-place transpose of a 16 x 16 block: lane j of v[i] <-> lane i of v[j].
inline void transpose(vf* v) {
    vf t[16], u[16];
    for (int k = 0; k < 8; ++k) {
        t[2 * k] = _mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]);       // per 128-bit lane: a0 b0 a1 b1
        t[2 * k + 1] = _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]);   // a2 b2 a3 b3
    }
    for (int g = 0; g < 4; ++g) {   // rows 4g..4g+3: u[4g + c] holds columns c, c+4, c+8, c+12 (one per lane)
        const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int c = 0; c < 4; ++c) {   // column c + 4L = lane L of u[c], u[4 + c], u[8 + c], u[12 + c]
        const vf lo01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), lo23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        const vf hi01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee), hi23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
        v[c] = _mm512_shuffle_f32x4(lo01, lo23, 0x88);
        v[c + 4] = _mm512_shuffle_f32x4(lo01, lo23, 0xdd);
        v[c + 8] = _mm512_shuffle_f32x4(hi01, hi23, 0x88);
        v[c + 12] = _mm512_shuffle_f32x4(hi01, hi23, 0xdd);
    }
}

// Software prefetch into L2 (K/V rows far enough ahead that L1 would not keep them).
inline void prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }

#elif defined(KVSHARE_CPU_AVX2)
// ------------------------------------------------------------------------------------------- AVX2
inline constexpr int width = 8;
inline constexpr const char* isa = "avx2";
using vf = __m256;
using vi = __m256i;
using vmask = __m256;   // all-ones lanes where set

inline vf zero() { return _mm256_setzero_ps(); }
inline vf set1(float x) { return _mm256_set1_ps(x); }
inline vf load(const float* p) { return _mm256_loadu_ps(p); }
inline vf load(const bf16* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline vf load_masked(const float* p, vmask m) { return _mm256_maskload_ps(p, _mm256_castps_si256(m)); }
inline vf load_masked(const bf16* p, vmask m) {
    alignas(32) std::uint16_t buf[8] = {};
    alignas(32) std::int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_castps_si256(m));
    for (int i = 0; i < 8; ++i)
        if (lanes[i]) std::memcpy(&buf[i], reinterpret_cast<const std::uint16_t*>(p) + i, 2);
    return load(reinterpret_cast<const bf16*>(buf));
}
inline void store(float* p, vf x) { _mm256_storeu_ps(p, x); }
inline void store_masked(float* p, vf x, vmask m) { _mm256_maskstore_ps(p, _mm256_castps_si256(m), x); }
inline __m128i to_bf16_bits(vf x) {
    const __m256i b = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(b, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(b, _mm256_set1_epi32(0x400000)), nan);
    r = _mm256_srli_epi32(r, 16);
    const __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
    return _mm_packus_epi32(lo, hi);
}
inline void store(bf16* p, vf x) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), to_bf16_bits(x)); }
inline void store_masked(bf16* p, vf x, vmask m) {
    alignas(16) std::uint16_t buf[8];
    alignas(32) std::int32_t lanes[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(buf), to_bf16_bits(x));
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_castps_si256(m));
    for (int i = 0; i < 8; ++i)
        if (lanes[i]) std::memcpy(reinterpret_cast<std::uint16_t*>(p) + i, &buf[i], 2);
}

inline vmask tail_mask(int n) {
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}
inline vmask all_lanes() { return _mm256_castsi256_ps(_mm256_set1_epi32(-1)); }

inline vf add(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf div(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf max(vf a, vf b) { return _mm256_max_ps(a, b); }
inline vf min(vf a, vf b) { return _mm256_min_ps(a, b); }
inline vf abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline float reduce_add(vf a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline float reduce_max(vf a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
inline vf select(vmask m, vf if_true, vf if_false) { return _mm256_blendv_ps(if_false, if_true, m); }
inline vmask equal(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
inline vmask less(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }

inline vi set1_i(std::int32_t x) { return _mm256_set1_epi32(x); }
inline vi load_i(const std::int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline vi iota() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
inline vi add_i(vi a, vi b) { return _mm256_add_epi32(a, b); }
inline vmask in_range(vi key, vi begin, vi end) {
    const __m256i ge = _mm256_andnot_si256(_mm256_cmpgt_epi32(begin, key), _mm256_set1_epi32(-1));
    return _mm256_castsi256_ps(_mm256_and_si256(ge, _mm256_cmpgt_epi32(end, key)));
}

inline vf round_nearest(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
// 2^n * p for integral-valued n in [-127, 127]; n = -127 gives exactly 0 (exponent field 0).
inline vf scale_pow2(vf p, vf n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline vf reduce_transpose(const vf* v) {
    const __m256 a0 = _mm256_hadd_ps(v[0], v[1]), a1 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 a2 = _mm256_hadd_ps(v[4], v[5]), a3 = _mm256_hadd_ps(v[6], v[7]);
    const __m256 b0 = _mm256_hadd_ps(a0, a1), b1 = _mm256_hadd_ps(a2, a3);
    // b0 = [v0 v1 v2 v3 | v0 v1 v2 v3] (low-lane and high-lane partial sums), b1 likewise for v4..v7
    return _mm256_add_ps(_mm256_permute2f128_ps(b0, b1, 0x20), _mm256_permute2f128_ps(b0, b1, 0x31));
}

// In-place transpose of an 8 x 8 block: lane j of v[i] <-> lane i of v[j].
inline void transpose(vf* v) {
    vf t[8], u[8];
    for (int k = 0; k < 4; ++k) {
        t[2 * k] = _mm256_unpacklo_ps(v[2 * k], v[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_ps(v[2 * k], v[2 * k + 1]);
    }
    for (int g = 0; g < 2; ++g) {   // rows 4g..4g+3: u[4g + c] holds columns c, c+4 (one per 128-bit lane)
        u[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
    }
    for (int c = 0; c < 4; ++c) {
        v[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        v[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

// Software prefetch into L2 (K/V rows far enough ahead that L1 would not keep them).
inline void prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }

#else
// ----------------------------------------------------------------------------------------- scalar
inline constexpr int width = 1;
inline constexpr const char* isa = "scalar";
using vf = float;
using vi = std::int32_t;
using vmask = bool;

inline vf zero() { return 0.0f; }
inline vf set1(float x) { return x; }
inline vf load(const float* p) { return *p; }
inline vf load(const bf16* p) { return static_cast<float>(*p); }
inline vf load_masked(const float* p, vmask m) { return m ? *p : 0.0f; }
inline vf load_masked(const bf16* p, vmask m) { return m ? static_cast<float>(*p) : 0.0f; }
inline void store(float* p, vf x) { *p = x; }
inline void store_masked(float* p, vf x, vmask m) {
    if (m) *p = x;
}
inline void store(bf16* p, vf x) { *p = bf16(x); }
inline void store_masked(bf16* p, vf x, vmask m) {
    if (m) *p = bf16(x);
}
inline vmask tail_mask(int n) { return n > 0; }
inline vmask all_lanes() { return true; }
inline vf add(vf a, vf b) { return a + b; }
inline vf sub(vf a, vf b) { return a - b; }
inline vf mul(vf a, vf b) { return a * b; }
inline vf div(vf a, vf b) { return a / b; }
inline vf fmadd(vf a, vf b, vf c) { return std::fma(a, b, c); }
inline vf max(vf a, vf b) { return a > b ? a : b; }
inline vf min(vf a, vf b) { return a < b ? a : b; }
inline vf abs(vf a) { return std::fabs(a); }
inline float reduce_add(vf a) { return a; }
inline float reduce_max(vf a) { return a; }
inline vf select(vmask m, vf if_true, vf if_false) { return m ? if_true : if_false; }
inline vmask equal(vf a, vf b) { return a == b; }
inline vmask less(vf a, vf b) { return a < b; }
inline vi set1_i(std::int32_t x) { return x; }
inline vi load_i(const std::int32_t* p) { return *p; }
inline vi iota() { return 0; }
inline vi add_i(vi a, vi b) { return a + b; }
inline vmask in_range(vi key, vi begin, vi end) { return key >= begin && key < end; }
inline vf round_nearest(vf x) { return std::nearbyint(x); }
inline vf scale_pow2(vf p, vf n) { return std::ldexp(p, static_cast<int>(n)); }
inline vf reduce_transpose(const vf* v) { return v[0]; }
inline void transpose(vf*) {}
inline void prefetch(const void*) {}
#endif

// 2^x, exactly 0 for x = -inf (and for x <= -150), accurate to ~2e-7 relative.
inline vf exp2(vf x) {
#if !defined(KVSHARE_CPU_AVX512) && !defined(KVSHARE_CPU_AVX2)
    return std::exp2(x);   // scalar build: the library function
#else
#if defined(KVSHARE_CPU_AVX512)
    x = min(max(x, set1(-150.0f)), set1(128.0f));   // scalef: 2^-150 rounds to 0
#else
    x = min(max(x, set1(-127.0f)), set1(127.0f));   // exponent field 0 at -127: exactly 0
#endif
    const vf n = round_nearest(x);
    const vf f = sub(x, n);
    vf p = set1(exp2_c[0]);
    for (int i = 1; i < 5; ++i) p = fmadd(p, f, set1(exp2_c[i]));
    p = fmadd(p, f, set1(1.0f));
    return scale_pow2(p, n);
#endif
}

// tanh(x) accurate to ~2e-7 relative: odd polynomial near 0, 1 - 2 / (e^{2x} + 1) elsewhere.
inline vf tanh(vf x) {
    const vf ax = abs(x);
    const vf z = mul(x, x);
    vf p = set1(tanh_c[0]);
    for (int i = 1; i < 5; ++i) p = fmadd(p, z, set1(tanh_c[i]));
    const vf small = fmadd(mul(p, z), x, x);
    const vf e = exp2(mul(min(ax, set1(9.0f)), set1(2.0f * log2e)));
    vf big = sub(set1(1.0f), div(set1(2.0f), add(e, set1(1.0f))));
    big = select(less(x, zero()), sub(zero(), big), big);
    return select(less(ax, set1(0.625f)), small, big);
}

// Lanes equal to -inf become 0 (the running max of a row that has seen no key yet).
inline vf finite_or_zero(vf m) { return select(equal(m, set1(neg_inf)), zero(), m); }

#if defined(KVSHARE_CPU_BF16_DOT)
// ------------------------------------------------------------------------ bf16 pair dot products
// A bf16 "pair vector" holds 16 lanes of 2 bf16 each (32 bf16 in one __m512i).
using vpair = __m512i;

// acc[l] += a[2l] * b[2l] + a[2l+1] * b[2l+1]
inline vf dot_pairs(vf acc, vpair a, vpair b) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b));
}
inline vpair load_pairs(const void* p) { return _mm512_loadu_si512(p); }
inline void store_pairs(void* p, vpair x) { _mm512_storeu_si512(p, x); }
inline vpair broadcast_pair(const void* p) {
    std::int32_t bits;
    std::memcpy(&bits, p, 4);
    return _mm512_set1_epi32(bits);
}
// [a0..a15], [b0..b15] (16-bit words) -> [a0 b0 a1 b1 ... a15 b15]
inline vpair interleave_words(__m256i a, __m256i b) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1));
}
// Two fp32 vectors -> bf16 pairs (a[l], b[l]) per lane.
inline vpair to_pairs(vf a, vf b) {
    const __m512i words = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));   // [a0..a15 b0..b15]
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, words);
}
// Rows a and b of a bf16 matrix, 16 columns starting at p (masked: the rest read as 0) -> pairs.
inline vpair interleave_rows(const bf16* a, const bf16* b, vmask m) {
    return interleave_words(_mm256_maskz_loadu_epi16(m, a), _mm256_maskz_loadu_epi16(m, b));
}
#endif

}  // namespace simd
}  // namespace kvshare::backend::cpu_detail
