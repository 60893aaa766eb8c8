#pragma once
// The wide tile engine: online-softmax ("flash") attention for a block of many query rows of one
// K/V head (prefill, and decode with group_size * q_len > 8). Query rows sit in the vector lanes:
//
//   per K/V tile of `tile_keys` keys:
//     S^T [keys, rows] = K_tile Q^T              qk_* micro-kernel, K rows read in place
//     u = transform(S^T), masked -> -inf          one pass, only tiles that cross a mask edge mask
//     m' = max(m, max_j u), alpha = 2^(m - m'), P = 2^(u - m'), l' = alpha l + sum_j P
//     O [rows, dv] = alpha O + P^T V_tile         pv_* micro-kernel, V from the cache or from the
//                                                 per-call packed copy (set_packed_kv), and on
//                                                 the fp32 product path K from there too
//
// Q^T is packed once per work item ([d, rows], or (d, d+1) bf16 pairs per lane for the vdpbf16ps
// path); the maxima and sums over keys are vertical vector ops because keys run along S^T's rows.
// Scratch comes from the caller (sized by `bytes`), nothing is allocated here.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kvshare/backend/cpu/microkernels.hpp"
#include "kvshare/backend/cpu/scratch.hpp"
#include "kvshare/backend/cpu/simd.hpp"
#include "kvshare/backend/cpu/work.hpp"

namespace kvshare::backend::cpu_detail {

template <class TQ, class TKV>
class wide_engine {
public:
#if defined(KVSHARE_CPU_AVX512)
    static constexpr int qk_r = 8, qk_c = 2, pv_r = 8, pv_c = 3, row_align = 16, tile_keys = 64, target_rows = 64;
    // fp32 S^T for row blocks of 4 vectors: 4 keys x 64 rows per call, 8 loads per 16 FMAs instead of
    // 10 (+0.5% on GQA 32/8 d 128 S 2048 causal prefill, same-process A/B, faster in 30 of 40 pairs).
    static constexpr int qk_wide_r = 4, qk_wide_c = 4;
#elif defined(KVSHARE_CPU_AVX2)
    static constexpr int qk_r = 4, qk_c = 2, pv_r = 4, pv_c = 2, row_align = 8, tile_keys = 64, target_rows = 32;
    static constexpr int qk_wide_r = 0, qk_wide_c = 0;
#else
    static constexpr int qk_r = 4, qk_c = 1, pv_r = 4, pv_c = 1, row_align = 4, tile_keys = 32, target_rows = 16;
    static constexpr int qk_wide_r = 0, qk_wide_c = 0;
#endif
    static constexpr int width = simd::width;
    static_assert(qk_wide_r == 0 || qk_r % qk_wide_r == 0, "wide_engine: keys are padded to qk_r, the 4x4 block must divide it");
#if defined(KVSHARE_CPU_BF16_DOT)
    static constexpr bool dot_capable = std::is_same_v<TQ, bf16> && std::is_same_v<TKV, bf16>;
#else
    static constexpr bool dot_capable = false;
#endif

    // Bytes of scratch for work items of up to max_rows rows.
    static std::size_t bytes(int max_rows, int d, int dv) {
        scratch_layout layout;
        carve(layout, max_rows, d, dv);
        return layout.bytes();
    }

    // pairs: bf16 operands use the pair products where this engine can (want_bf16_pairs).
    wide_engine(std::byte* scratch, int max_rows, int d, int dv, const attention_options& options, bool pairs)
        : d_(d), dv_(dv), dvp_(round_up(dv, width)), options_(options), rule_(logit_rule::from(options, d)) {
        scratch_layout layout(scratch);
        b_ = carve(layout, max_rows, d, dv);
        use_dot_ = uses_pairs(d, pairs);
    }

    // Packs the rows' queries and resets the running state.
    template <class TOut>
    void begin(const query_rows<TQ, TOut>& rows) {
        rows_ = rows.rows();
        mp_ = round_up(rows_, row_align);
        if (use_dot_)
            pack_pairs(rows);
        else
            pack_transposed(rows);
        std::fill(b_.o, b_.o + static_cast<index_t>(mp_) * dvp_, 0.0f);
        any_begin_ = INT32_MAX;
        any_end_ = 0;
        all_begin_ = 0;
        all_end_ = INT32_MAX;
        for (int r = 0; r < mp_; ++r) {
            const key_range keys = rows.keys(r < rows_ ? r : 0, options_);
            b_.kb[r] = static_cast<std::int32_t>(keys.begin);
            b_.ke[r] = static_cast<std::int32_t>(std::max(keys.end, keys.begin));
            b_.m[r] = neg_inf;
            b_.l[r] = 0.0f;
            if (keys.empty()) {
                all_begin_ = INT32_MAX;   // some row sees nothing: every tile needs the mask
                continue;
            }
            any_begin_ = std::min<index_t>(any_begin_, keys.begin);
            any_end_ = std::max<index_t>(any_end_, keys.end);
            all_begin_ = std::max<index_t>(all_begin_, keys.begin);
            all_end_ = std::min<index_t>(all_end_, keys.end);
        }
    }

    // K/V of this item's (sequence, K/V head), n keys, already packed by pack_sequence: prefill packs
    // them once per call instead of reading them strided (or re-packing them) once per query tile.
    // Null: none.
    void set_packed_kv(const void* packed, index_t n) {
        packed_ = packed;
        packed_keys_ = packed && !use_dot_ ? static_cast<const float*>(packed) + n * dvp_ : nullptr;
    }

    // Whether the bf16 pair path runs for these types, this head dim and this choice.
    static bool uses_pairs(int d, bool pairs) { return dot_capable && pairs && d % 2 == 0; }

    // 32-bit words pack_sequence writes for n keys: V pairs [ceil(n/2), dvp] (bf16 path), or V rows
    // [n, dvp] then K rows [n, d] (fp32 path).
    static index_t packed_words(index_t n, int d, int dv, bool pairs) {
        const index_t dvp = round_up(dv, width);
        return uses_pairs(d, pairs) ? (n + 1) / 2 * dvp : n * (dvp + d);
    }

    // V rows [0, n) of one (sequence, K/V head) -> dst, contiguous and padded to dvp columns:
    //   bf16 path: (row 2i, row 2i+1) pairs per column, the layout pv_bf16 reads
    //   fp32 path: fp32 rows (widened from bf16 if need be), then the K rows [n, d] the same way
    //              (in the cache the rows of one head are H_kv·d elements apart: 4 KiB for 8 fp32
    //              heads of 128, so the 8 key rows of a qk block would share one L1 set)
    static void pack_sequence(const kv_rows<TKV>& kv, index_t n, int d, int dv, bool pairs, void* dst) {
        using namespace simd;
        const int dvp = round_up(dv, width);
        const TKV* kr[2];
        const TKV* vr[2];
        if (!uses_pairs(d, pairs)) {
            float* out = static_cast<float*>(dst);
            float* kout = out + n * dvp;
            for (index_t j = 0; j < n; ++j, out += dvp, kout += d) {
                kv.fill(j, 1, kr, vr);
                for (int x = 0; x < dvp; x += width) {
                    const vmask m = tail_mask(dv - x);
                    store(out + x, load_masked(vr[0] + x, m));
                }
                for (int x = 0; x < d; x += width) {
                    const vmask m = tail_mask(d - x);
                    store_masked(kout + x, load_masked(kr[0] + x, m), m);
                }
            }
            return;
        }
#if defined(KVSHARE_CPU_BF16_DOT)
        if constexpr (dot_capable) {
            std::uint32_t* out = static_cast<std::uint32_t*>(dst);
            const bf16 zeros[width] = {};
            for (index_t j = 0; j < n; j += 2, out += dvp) {
                kv.fill(j, static_cast<int>(std::min<index_t>(2, n - j)), kr, vr);
                const bool pair = j + 1 < n;
                for (int x = 0; x < dvp; x += width)
                    store_pairs(out + x, interleave_rows(vr[0] + x, pair ? vr[1] + x : zeros, tail_mask(dv - x)));
            }
        }
#endif
    }

    // Attends to keys [k0, k1) of `kv` (clipped to what the rows can see). The row pointers of the
    // next tile are computed one tile ahead and its rows prefetched.
    void run(const kv_rows<TKV>& kv, index_t k0, index_t k1) {
        k0 = std::max(k0, any_begin_);
        k1 = std::min(k1, any_end_);
        if (k0 >= k1) return;
        if (packed_ && use_dot_) k0 &= ~index_t{1};   // pairs start at even keys (the extra key is masked)
        int cur = 0;
        int n = static_cast<int>(std::min<index_t>(tile_keys, k1 - k0));
        kv.fill(k0, n, b_.kp[0], b_.vp[0]);
        for (index_t t0 = k0; t0 < k1; cur ^= 1) {
            const index_t next = t0 + n;
            int n_next = 0;
            if (next < k1) {
                n_next = static_cast<int>(std::min<index_t>(tile_keys, k1 - next));
                kv.fill(next, n_next, b_.kp[cur ^ 1], b_.vp[cur ^ 1]);
            }
            // Few rows (decode of a large group): K/V are streamed from memory, so the next tile's
            // rows are prefetched, spread over this tile's QK calls. Many rows (prefill): compute
            // bound on tiles that stay in L2/L3; prefetching would only cost instructions.
            ahead_ = {b_.kp[cur ^ 1], b_.vp[cur ^ 1], (mp_ <= 2 * width || (use_dot_ && !packed_)) ? n_next : 0};
            tile(t0, n, b_.kp[cur], b_.vp[cur]);
            t0 = next;
            n = n_next;
        }
    }

    // Normalizes and writes the rows (out, and lse when wanted).
    template <class TOut>
    void finish(const query_rows<TQ, TOut>& rows) const {
        for (int r = 0; r < rows_; ++r)
            finish_row(b_.o + static_cast<index_t>(r) * dvp_, b_.m[r], b_.l[r], dv_, rows.out_row(r), rows.lse_at(r));
    }

    // Split-KV: hands the unnormalized state to the merge. o: [rows, dvp], m and l: [rows].
    void export_partial(float* o, float* m, float* l) const {
        std::memcpy(o, b_.o, sizeof(float) * static_cast<std::size_t>(rows_) * dvp_);
        std::memcpy(m, b_.m, sizeof(float) * rows_);
        std::memcpy(l, b_.l, sizeof(float) * rows_);
    }

private:
    struct buffers {
        float* qt;                 // [d, mp] queries transposed (fp32 path)
        std::uint32_t* qp;         // [d/2, mp] query pairs (bf16 dot path)
        float* s;                  // [tile_keys + qk_r, mp] S^T, then u, then P (fp32 path)
        std::uint32_t* pp;         // [tile_keys/2 + 1, mp] P pairs (bf16 dot path)
        float* o;                  // [mp, dvp] unnormalized output
        float *m, *l, *alpha;      // [mp]
        std::int32_t *kb, *ke;     // [mp] visible keys [kb, ke) per row
        const TKV** kp[2];         // [tile_keys + qk_r] key rows in the cache (this tile, next tile)
        const TKV** vp[2];         // [tile_keys + qk_r] value rows in the cache
        const float** kf;          // [tile_keys + qk_r] fp32 key rows (cache or kconv)
        const float** vf;          // [tile_keys] fp32 value rows (cache or vconv)
        float* kconv;              // [tile_keys, d] widened keys (bf16 cache on the fp32 path)
        float* vconv;              // [tile_keys, dvp] widened values
        std::uint32_t* vpk;        // [tile_keys/2 + 1, dvp] value pairs (bf16 dot path)
        bf16* zero_row;            // [dvp] zeros (pairs partner of an odd last key)
    };

    static buffers carve(scratch_layout& layout, int max_rows, int d, int dv) {
        const std::size_t mp = round_up(std::max(max_rows, 1), row_align), dvp = round_up(dv, width);
        const std::size_t keys = tile_keys + qk_r;
        buffers b{};
        b.qt = layout.take<float>(static_cast<std::size_t>(d) * mp);
        b.qp = reinterpret_cast<std::uint32_t*>(b.qt);   // same storage, never both
        b.s = layout.take<float>(keys * mp);
        b.pp = layout.take<std::uint32_t>((tile_keys / 2 + 1) * mp);
        b.o = layout.take<float>(mp * dvp);
        b.m = layout.take<float>(mp);
        b.l = layout.take<float>(mp);
        b.alpha = layout.take<float>(mp);
        b.kb = layout.take<std::int32_t>(mp);
        b.ke = layout.take<std::int32_t>(mp);
        for (int i = 0; i < 2; ++i) {
            b.kp[i] = layout.take<const TKV*>(keys);
            b.vp[i] = layout.take<const TKV*>(keys);
        }
        b.kf = layout.take<const float*>(keys);
        b.vf = layout.take<const float*>(keys);
        if constexpr (!std::is_same_v<TKV, float>) {
            b.kconv = layout.take<float>(static_cast<std::size_t>(tile_keys) * d);
            b.vconv = layout.take<float>(static_cast<std::size_t>(tile_keys) * dvp);
        }
        if constexpr (dot_capable) {
            b.vpk = layout.take<std::uint32_t>((tile_keys / 2 + 1) * dvp);
            b.zero_row = layout.take<bf16>(dvp);
            if (b.zero_row) std::memset(static_cast<void*>(b.zero_row), 0, sizeof(bf16) * dvp);
        }
        return b;
    }

    // qt[x][r] = q_r[x] (rows past rows_ zero): blocks of width rows x width columns, each loaded as
    // width row vectors and transposed in registers (an element-by-element copy took ~2.6% of a
    // prefill's time; docs/cpu_backend.md).
    template <class TOut>
    void pack_transposed(const query_rows<TQ, TOut>& rows) {
        using namespace simd;
        for (int r0 = 0; r0 < mp_; r0 += width) {
            const TQ* src[width];
            const int count = std::max(0, std::min(width, rows_ - r0));
            for (int i = 0; i < count; ++i) src[i] = rows.q_row(r0 + i);
            for (int x0 = 0; x0 < d_; x0 += width) {
                const int cols = std::min(width, d_ - x0);   // < width: the last columns of d
                const vmask tail = tail_mask(cols);
                vf v[width];
                for (int i = 0; i < width; ++i)
                    v[i] = i >= count ? zero() : cols == width ? load(src[i] + x0) : load_masked(src[i] + x0, tail);
                transpose(v);
                for (int j = 0; j < cols; ++j) store(b_.qt + static_cast<index_t>(x0 + j) * mp_ + r0, v[j]);
            }
        }
    }

    template <class TOut>
    void pack_pairs(const query_rows<TQ, TOut>& rows) {
        // qp[x][r] = (q_r[2x], q_r[2x+1]) as one 32-bit lane, 16 rows at a time
        const int pairs = d_ / 2;
        for (int r0 = 0; r0 < mp_; r0 += 16) {
            const TQ* src[16];
            const int count = std::max(0, std::min(16, rows_ - r0));
            for (int i = 0; i < count; ++i) src[i] = rows.q_row(r0 + i);
            const int block = std::min(16, mp_ - r0);
            for (int x = 0; x < pairs; ++x) {
                std::uint32_t* dst = b_.qp + static_cast<index_t>(x) * mp_ + r0;
                for (int i = 0; i < count; ++i) std::memcpy(dst + i, src[i] + 2 * x, 4);
                for (int i = count; i < block; ++i) dst[i] = 0u;
            }
        }
    }

    // One K/V tile of n keys starting at key t0; kp / vp: its rows in the cache.
    void tile(index_t t0, int n, const TKV** kp, const TKV** vp) {
        const int n_pad = round_up(n, qk_r);
        const bool masked = !(t0 >= all_begin_ && t0 + n <= all_end_);
        if (use_dot_) {
            if constexpr (dot_capable) {
                for (int j = n; j < n_pad; ++j) kp[j] = kp[0];
                qk_dot(kp, n_pad);
                softmax(t0, n, masked);
                if (packed_) {
                    pv_dot(n, static_cast<const std::uint32_t*>(packed_) + (t0 / 2) * dvp_);
                } else {
                    pack_values(vp, n);
                    pv_dot(n, b_.vpk);
                }
            }
            return;
        }
        if (packed_) {
            const float* packed = static_cast<const float*>(packed_) + t0 * dvp_;
            const float* keys = packed_keys_ + t0 * d_;
            for (int j = 0; j < n; ++j) {
                b_.vf[j] = packed + static_cast<index_t>(j) * dvp_;
                b_.kf[j] = keys + static_cast<index_t>(j) * d_;
            }
        } else if constexpr (std::is_same_v<TKV, float>) {
            for (int j = 0; j < n; ++j) {
                b_.kf[j] = kp[j];
                b_.vf[j] = vp[j];
            }
        } else {
            widen_rows(kp, vp, n);
        }
        for (int j = n; j < n_pad; ++j) b_.kf[j] = b_.kf[0];
        qk_fp32(n_pad);
        softmax(t0, n, masked);
        pv_fp32(n);
    }

    void widen_rows(const TKV* const* kp, const TKV* const* vp, int n) {
        for (int j = 0; j < n; ++j) {
            float* kc = b_.kconv + static_cast<index_t>(j) * d_;
            widen(kp[j], d_, kc);
            b_.kf[j] = kc;
            float* vc = b_.vconv + static_cast<index_t>(j) * dvp_;
            widen(vp[j], dv_, vc);
            b_.vf[j] = vc;
        }
    }

    static void widen(const TKV* src, int count, float* dst) {
        using namespace simd;
        int x = 0;
        for (; x + width <= count; x += width) store(dst + x, load(src + x));
        if (x < count) {
            const vmask tail = tail_mask(count - x);
            store_masked(dst + x, load_masked(src + x, tail), tail);
        }
    }

    // Prefetches the next tile's rows [j, j + count) (a slice per QK call, not one burst).
    void prefetch_ahead(int j, int count) const {
        for (int i = j; i < std::min(j + count, ahead_.n); ++i) {
            prefetch_bytes(ahead_.kp[i], sizeof(TKV) * d_);
            prefetch_bytes(ahead_.vp[i], sizeof(TKV) * dv_);
        }
    }

    // S^T columns [c, ...) in blocks of C vectors of query rows while they fit, R keys per call.
    template <int R, int C>
    void qk_fp32_columns(int& c, int vecs, int n_pad) {
        for (; c + C <= vecs; c += C)
            for (int j = 0; j < n_pad; j += R) {
                if (c == 0) prefetch_ahead(j, j + R < n_pad ? R : tile_keys);
                qk_f32<R, C>(b_.qt + c * width, mp_, d_, b_.kf + j, b_.s + static_cast<index_t>(j) * mp_ + c * width, mp_);
            }
    }

    void qk_fp32(int n_pad) {
        const int vecs = mp_ / width;
        int c = 0;
        if constexpr (qk_wide_c > 0) qk_fp32_columns<qk_wide_r, qk_wide_c>(c, vecs, n_pad);
        qk_fp32_columns<qk_r, qk_c>(c, vecs, n_pad);
        qk_fp32_columns<qk_r, 1>(c, vecs, n_pad);
    }

    // u = transform(S^T) (masked -> -inf), then P = 2^(u * factor - m'), with the running max/sum.
    void softmax(index_t t0, int n, bool masked) {
        using namespace simd;
        const vf factor = set1(rule_.factor());
        const vf minus_inf = set1(neg_inf);
        float* s = b_.s;
        for (int i0 = 0; i0 < mp_; i0 += width) {
            vf mx = minus_inf;
            if (masked || rule_.softcap) {
                const vi kb = load_i(b_.kb + i0), ke = load_i(b_.ke + i0);
                for (int j = 0; j < n; ++j) {
                    float* at = s + static_cast<index_t>(j) * mp_ + i0;
                    vf u = rule_.transform(load(at));
                    if (masked) u = select(in_range(set1_i(static_cast<std::int32_t>(t0 + j)), kb, ke), u, minus_inf);
                    store(at, u);
                    mx = max(mx, u);
                }
            } else {
                // Four chains: one would wait out vmaxps's latency on every key (+0.5% at 2 threads,
                // +1.3% at 1, same-process A/B of GQA 32/8 d 128 S 2048 causal prefill).
                vf m4[4] = {minus_inf, minus_inf, minus_inf, minus_inf};
                int j = 0;
                for (; j + 4 <= n; j += 4)
                    KVSHARE_UNROLL for (int c = 0; c < 4; ++c) m4[c] = max(m4[c], load(s + static_cast<index_t>(j + c) * mp_ + i0));
                for (; j < n; ++j) m4[0] = max(m4[0], load(s + static_cast<index_t>(j) * mp_ + i0));
                mx = max(max(m4[0], m4[1]), max(m4[2], m4[3]));
            }
            const vf m_old = load(b_.m + i0);
            const vf m_new = max(m_old, mul(mx, factor));   // factor > 0 keeps -inf and the max
            const vf m_use = finite_or_zero(m_new);
            const vf alpha = exp2(sub(m_old, m_use));
            const vf neg_m = sub(zero(), m_use);
            vf sum = zero();
            if (use_dot_) {
#if defined(KVSHARE_CPU_BF16_DOT)
                for (int j = 0; j < n; j += 2) {
                    const vf p0 = exp2(fmadd(load(s + static_cast<index_t>(j) * mp_ + i0), factor, neg_m));
                    const vf p1 = j + 1 < n ? exp2(fmadd(load(s + static_cast<index_t>(j + 1) * mp_ + i0), factor, neg_m))
                                            : zero();
                    sum = add(sum, add(p0, p1));
                    store_pairs(b_.pp + static_cast<index_t>(j / 2) * mp_ + i0, to_pairs(p0, p1));
                }
#endif
            } else {
                for (int j = 0; j < n; ++j) {
                    float* at = s + static_cast<index_t>(j) * mp_ + i0;
                    const vf p = exp2(fmadd(load(at), factor, neg_m));
                    sum = add(sum, p);
                    store(at, p);
                }
            }
            store(b_.m + i0, m_new);
            store(b_.alpha + i0, alpha);
            store(b_.l + i0, fmadd(load(b_.l + i0), alpha, sum));
        }
    }

    template <int C>
    void pv_fp32_block(int n, int dv0) {
        const int last_start = dv0 + (C - 1) * width;
        const simd::vmask last = simd::tail_mask(std::min(width, dv_ - last_start));
        for (int r = 0; r < mp_; r += pv_r)
            pv_f32<pv_r, C, float>(b_.s + r, 1, mp_, n, b_.vf, dv0, last, b_.o + static_cast<index_t>(r) * dvp_ + dv0, dvp_,
                                   b_.alpha + r);
    }

    void pv_fp32(int n) {
        const int vecs = dvp_ / width;
        int c = 0;
        for (; c + pv_c <= vecs; c += pv_c) pv_fp32_block<pv_c>(n, c * width);
        const int rest = vecs - c;
        if constexpr (pv_c > 1) {
            if (rest == 1) pv_fp32_block<1>(n, c * width);
        }
        if constexpr (pv_c > 2) {
            if (rest == 2) pv_fp32_block<(pv_c > 2 ? 2 : 1)>(n, c * width);
        }
    }

#if defined(KVSHARE_CPU_BF16_DOT)
    void qk_dot(const TKV* const* kp, int n_pad) {
        const int vecs = mp_ / width;
        const bf16* const* kr = reinterpret_cast<const bf16* const*>(kp);
        const int pairs = d_ / 2;
        int c = 0;
        for (; c + qk_c <= vecs; c += qk_c)
            for (int j = 0; j < n_pad; j += qk_r) {
                if (c == 0) prefetch_ahead(j, j + qk_r < n_pad ? qk_r : tile_keys);
                qk_bf16<qk_r, qk_c>(b_.qp + c * width, mp_, pairs, kr + j, b_.s + static_cast<index_t>(j) * mp_ + c * width, mp_);
            }
        for (; c < vecs; ++c)
            for (int j = 0; j < n_pad; j += qk_r) {
                if (c == 0) prefetch_ahead(j, j + qk_r < n_pad ? qk_r : tile_keys);
                qk_bf16<qk_r, 1>(b_.qp + c * width, mp_, pairs, kr + j, b_.s + static_cast<index_t>(j) * mp_ + c * width, mp_);
            }
    }

    // V rows (2jp, 2jp+1) -> pairs per column: vpk [n/2 rounded up, dvp]
    void pack_values(const TKV* const* vp, int n) {
        using namespace simd;
        const bf16* const* vr = reinterpret_cast<const bf16* const*>(vp);
        for (int j = 0; j < n; j += 2) {
            const bf16* a = vr[j];
            const bf16* b = j + 1 < n ? vr[j + 1] : b_.zero_row;
            std::uint32_t* dst = b_.vpk + static_cast<index_t>(j / 2) * dvp_;
            for (int x = 0; x < dvp_; x += width)
                store_pairs(dst + x, interleave_rows(a + x, b + x, tail_mask(dv_ - x)));
        }
    }

    template <int C>
    void pv_dot_block(int n_pairs, const std::uint32_t* vpk, int dv0) {
        for (int r = 0; r < mp_; r += pv_r)
            pv_bf16<pv_r, C>(b_.pp + r, mp_, n_pairs, vpk + dv0, dvp_, b_.o + static_cast<index_t>(r) * dvp_ + dv0, dvp_,
                             b_.alpha + r);
    }

    // vpk: this tile's V pairs [n/2 rounded up, dvp]
    void pv_dot(int n, const std::uint32_t* vpk) {
        const int n_pairs = (n + 1) / 2;
        const int vecs = dvp_ / width;
        int c = 0;
        for (; c + pv_c <= vecs; c += pv_c) pv_dot_block<pv_c>(n_pairs, vpk, c * width);
        const int rest = vecs - c;
        if (rest == 1) pv_dot_block<1>(n_pairs, vpk, c * width);
        if (rest == 2) pv_dot_block<2>(n_pairs, vpk, c * width);
    }
#else
    void qk_dot(const TKV* const*, int) {}
    void pack_values(const TKV* const*, int) {}
    void pv_dot(int, const std::uint32_t*) {}
#endif

    int d_, dv_, dvp_;
    attention_options options_;
    logit_rule rule_;
    buffers b_{};
    bool use_dot_ = false;
    const void* packed_ = nullptr;
    const float* packed_keys_ = nullptr;   // fp32 path: the K rows after the packed V
    struct {
        const TKV* const* kp;
        const TKV* const* vp;
        int n;
    } ahead_{nullptr, nullptr, 0};   // the next tile's rows to prefetch (n = 0: none)
    int rows_ = 0, mp_ = 0;
    index_t any_begin_ = 0, any_end_ = 0, all_begin_ = 0, all_end_ = 0;
};

}  // namespace kvshare::backend::cpu_detail
