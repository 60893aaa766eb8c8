#pragma once
// SwiGLU MLP (Llama): down( silu(x · gateᵀ) ⊙ (x · upᵀ) ), silu(z) = z / (1 + e^-z).
// The weights are kept transposed and gate/up side by side, so the MLP is two row-major GEMMs
// (Eigen packs a row-major [out, in] operand much more slowly than an [in, out] one):
//   x: [tokens, d_model], gate_up_t: [d_model, 2·ffn] = [gateᵀ | upᵀ], down_t: [ffn, d_model]
//   -> [tokens, d_model]
#include <cmath>

#include "kvshare/model/weights.hpp"

namespace kvshare::nn {

struct swiglu_weights {
    matrix gate_up_t;   // [d_model, 2·ffn]
    matrix down_t;      // [ffn, d_model]

    // From the Hugging Face orientation: gate, up [ffn, d_model], down [d_model, ffn].
    static swiglu_weights from(const matrix& gate, const matrix& up, const matrix& down) {
        swiglu_weights w;
        w.gate_up_t.resize(gate.cols(), gate.rows() + up.rows());
        w.gate_up_t.leftCols(gate.rows()) = gate.transpose();
        w.gate_up_t.rightCols(up.rows()) = up.transpose();
        w.down_t = down.transpose();
        return w;
    }
};

inline matrix swiglu(const matrix& x, const swiglu_weights& w) {
    const Eigen::Index ffn = w.down_t.rows();
    const matrix gate_up = x * w.gate_up_t;
    const matrix hidden = gate_up.leftCols(ffn).unaryExpr([](float z) { return z / (1.0f + std::exp(-z)); })
                              .cwiseProduct(gate_up.rightCols(ffn));
    return hidden * w.down_t;
}

}  // namespace kvshare::nn
