#pragma once
// RMSNorm (Llama): y = x / sqrt(mean(x²) + eps) · weight, per row.
//   x: [tokens, d_model], weight: [d_model] -> [tokens, d_model]
#include "kvshare/model/weights.hpp"

namespace kvshare::nn {

inline matrix rms_norm(const matrix& x, const vector& weight, float eps) {
    matrix y(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        const float mean_square = x.row(t).squaredNorm() / static_cast<float>(x.cols());
        const float inv = 1.0f / std::sqrt(mean_square + eps);
        y.row(t) = (x.row(t) * inv).cwiseProduct(weight.transpose());
    }
    return y;
}

}  // namespace kvshare::nn
