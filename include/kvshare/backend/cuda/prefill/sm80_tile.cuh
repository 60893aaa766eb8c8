#pragma once
// Tile shapes of the sm_80+ (mma.sync) prefill kernel, chosen from the head dims at compile time.
//   block_m rows of the packed query problem (row = token · group + head-in-group) per CTA,
//   split over `warps` warps of m_tiles × 16 rows each; block_n keys per pipeline stage.
// Shared memory rows are padded by 8 elements (16 bytes): a row of d elements then spans an odd
// number of 16-byte chunks (d is a multiple of 16), so the 8 row addresses of one ldmatrix phase
// fall into 8 different bank groups, and cp.async stores are conflict-free, for any supported d.
namespace kvshare::backend::cuda_detail::prefill_kernels {

template <int D, int DV>
struct sm80_tile {
    static constexpr int head_dim = D;
    static constexpr int value_head_dim = DV;
    static constexpr bool supported = D % 16 == 0 && DV % 16 == 0 && D >= 16 && DV >= 16 && D <= 256 && DV <= 256;
    static constexpr int max_dim = D > DV ? D : DV;
    // Wide heads: one m16 tile per warp keeps the fp32 O accumulator (16 × DV / 32 lanes) in registers.
    static constexpr int warps = max_dim > 128 ? 8 : 4;
    static constexpr int m_tiles = max_dim > 128 ? 1 : 2;
    static constexpr int threads = warps * 32;
    static constexpr int block_m = warps * m_tiles * 16;
    static constexpr int block_n = 64;
    static constexpr int stages = 2;
    static constexpr int q_stride = D + 8;   // elements per shared-memory row
    static constexpr int k_stride = D + 8;
    static constexpr int v_stride = DV + 8;
    static constexpr int smem_elements = block_m * q_stride + stages * block_n * (k_stride + v_stride);
    static constexpr int smem_bytes = smem_elements * 2;
    static constexpr int min_blocks = max_dim > 128 ? 1 : 2;   // CTAs per SM the registers are sized for

    static_assert(block_n % 16 == 0, "sm80_tile: block_n must be a multiple of the MMA k (16)");
    static_assert(smem_bytes <= 227 * 1024, "sm80_tile: the tile does not fit in shared memory");
};

}  // namespace kvshare::backend::cuda_detail::prefill_kernels
