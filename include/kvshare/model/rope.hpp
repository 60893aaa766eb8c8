#pragma once
// Rotary position embedding, Hugging Face Llama convention ("rotate half"): for head width d and
// i < d/2, the pair (x[i], x[i + d/2]) at position p is rotated by the angle p · theta^(-2i/d):
//   x'[i]       = x[i] · cos - x[i + d/2] · sin
//   x'[i + d/2] = x[i + d/2] · cos + x[i] · sin
// Applied to Q and K (K once, at the producer, before it is cached: consumers read rotated K).
// Angles are computed in double, so positions far beyond the training length stay exact to fp32.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "kvshare/core/error.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare::nn {

class rope {
public:
    rope() = default;
    rope(int head_dim, double theta) : head_dim_(head_dim), inv_freq_(head_dim / 2) {
        KVSHARE_REQUIRE(head_dim >= 2 && head_dim % 2 == 0, "rope: head_dim = ", head_dim, " must be even and >= 2");
        for (int i = 0; i < head_dim / 2; ++i) inv_freq_[i] = std::pow(theta, -2.0 * i / head_dim);
    }

    int head_dim() const { return head_dim_; }

    // x: [tokens, heads, head_dim] (dense rows), positions: [tokens]; rotated in place.
    void apply(const host_view<float, 3>& x, std::span<const std::int32_t> positions) const {
        const index_t tokens = x.extent(0), heads = x.extent(1);
        KVSHARE_REQUIRE(x.extent(2) == head_dim_, "rope: head width ", x.extent(2), " but the table is for ", head_dim_);
        KVSHARE_REQUIRE(static_cast<index_t>(positions.size()) == tokens, "rope: ", positions.size(),
                        " positions for ", tokens, " tokens");
        const int half = head_dim_ / 2;
        std::vector<float> cos(half), sin(half);
        for (index_t t = 0; t < tokens; ++t) {
            for (int i = 0; i < half; ++i) {
                const double angle = positions[t] * inv_freq_[i];
                cos[i] = static_cast<float>(std::cos(angle));
                sin[i] = static_cast<float>(std::sin(angle));
            }
            for (index_t h = 0; h < heads; ++h) {
                float* row = &x(t, h, 0);
                for (int i = 0; i < half; ++i) {
                    const float a = row[i], b = row[i + half];
                    row[i] = a * cos[i] - b * sin[i];
                    row[i + half] = b * cos[i] + a * sin[i];
                }
            }
        }
    }

private:
    int head_dim_ = 0;
    std::vector<double> inv_freq_;
};

}  // namespace kvshare::nn
