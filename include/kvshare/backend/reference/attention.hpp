#pragma once
// The reference backend: the definition of the ops in the plainest form, accumulated in double.
// Tests compare every fast kernel against it; users can call it to validate their own setup:
//   kvshare::prefill<Heads, kvshare::backend::reference>(q, k, v, out, q_offsets, kv_offsets, options);
// Host memory only. Any element type convertible to float (float, double, Eigen::bfloat16/half,
// __nv_bfloat16/__half) is read; outputs are rounded once from double.
#include <cmath>
#include <limits>
#include <vector>

#include "kvshare/backend/tags.hpp"
#include "kvshare/core/concepts.hpp"
#include "kvshare/ops/batch.hpp"
#include "kvshare/ops/execution.hpp"
#include "kvshare/ops/kv_view.hpp"
#include "kvshare/ops/options.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::backend {

namespace reference_detail {

template <class T>
double to_double(const T& x) {
    return static_cast<double>(static_cast<float>(x));
}
inline double to_double(double x) { return x; }

template <class T>
T from_double(double x) {
    return static_cast<T>(static_cast<float>(x));
}

// One query row of one head: softmax(scale · q·k_j, softcapped) over the visible keys j, times v.
// key(j, i) / value(j, i) read element i of key/value j. Writes out_row[0..dv) and returns the LSE.
template <class Query, class Key, class Value, class Out>
double attend_row(const Query& query, int head_dim, int value_head_dim, key_range keys, const Key& key,
                  const Value& value, const attention_options& options, const Out& out_row) {
    const double scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(static_cast<double>(head_dim));
    if (keys.empty()) {
        for (int i = 0; i < value_head_dim; ++i) out_row(i, 0.0);
        return -std::numeric_limits<double>::infinity();
    }
    std::vector<double> logits(keys.end - keys.begin);
    double max_logit = -std::numeric_limits<double>::infinity();
    for (index_t j = keys.begin; j < keys.end; ++j) {
        double dot = 0;
        for (int i = 0; i < head_dim; ++i) dot += query(i) * key(j, i);
        double logit = dot * scale;
        if (options.softcap > 0) logit = options.softcap * std::tanh(logit / options.softcap);
        logits[j - keys.begin] = logit;
        max_logit = std::max(max_logit, logit);
    }
    double sum = 0;
    for (double& l : logits) sum += (l = std::exp(l - max_logit));
    for (int i = 0; i < value_head_dim; ++i) {
        double acc = 0;
        for (index_t j = keys.begin; j < keys.end; ++j) acc += logits[j - keys.begin] * value(j, i);
        out_row(i, acc / sum);
    }
    return max_logit + std::log(sum);
}

}  // namespace reference_detail

template <>
struct attention_backend<reference> {
    template <HeadPolicy Heads, class T, class TOut>
    static void prefill(const host_view<const T, 3>& q, const host_view<const T, 3>& k, const host_view<const T, 3>& v,
                        const host_view<TOut, 3>& out, const ragged_offsets<host_memory>& q_offsets,
                        const ragged_offsets<host_memory>& kv_offsets, const attention_options& options,
                        const host_view<float, 2>& lse, const execution<host_memory>& = {}) {
        using namespace reference_detail;
        for (int b = 0; b < q_offsets.batch(); ++b) {
            const index_t q0 = q_offsets.begin(b), q_len = q_offsets.length(b);
            const index_t k0 = kv_offsets.begin(b), kv_len = kv_offsets.length(b);
            for (int h = 0; h < Heads::q_heads; ++h) {
                const int hk = h / Heads::group_size;
                for (index_t i = 0; i < q_len; ++i) {
                    const double row_lse = attend_row(
                        [&](int d) { return to_double(q(q0 + i, h, d)); }, Heads::head_dim, Heads::value_head_dim,
                        visible_keys(i, q_len, kv_len, options),
                        [&](index_t j, int d) { return to_double(k(k0 + j, hk, d)); },
                        [&](index_t j, int d) { return to_double(v(k0 + j, hk, d)); }, options,
                        [&](int d, double x) { out(q0 + i, h, d) = from_double<TOut>(x); });
                    if (!lse.empty()) lse(q0 + i, h) = static_cast<float>(row_lse);
                }
            }
        }
    }

    template <HeadPolicy Heads, class T, class TKV, class TOut>
    static void decode(const host_view<const T, 3>& q, const ragged_offsets<host_memory>& q_offsets,
                       const kv_view<TKV, host_memory>& kv, const host_view<TOut, 3>& out,
                       const attention_options& options, const host_view<float, 2>& lse,
                       const execution<host_memory>& = {}) {
        using namespace reference_detail;
        for (int b = 0; b < q_offsets.batch(); ++b) {
            const index_t q0 = q_offsets.begin(b), q_len = q_offsets.length(b), kv_len = kv.lengths[b];
            for (int h = 0; h < Heads::q_heads; ++h) {
                const int hk = h / Heads::group_size;
                for (index_t i = 0; i < q_len; ++i) {
                    const double row_lse = attend_row(
                        [&](int d) { return to_double(q(q0 + i, h, d)); }, Heads::head_dim, Heads::value_head_dim,
                        visible_keys(i, q_len, kv_len, options),
                        [&](index_t j, int d) {
                            const auto at = locate(kv, b, j);
                            return to_double(kv.k(at.block, at.row, hk, d));
                        },
                        [&](index_t j, int d) {
                            const auto at = locate(kv, b, j);
                            return to_double(kv.v(at.block, at.row, hk, d));
                        },
                        options, [&](int d, double x) { out(q0 + i, h, d) = from_double<TOut>(x); });
                    if (!lse.empty()) lse(q0 + i, h) = static_cast<float>(row_lse);
                }
            }
        }
    }
};

}  // namespace kvshare::backend
