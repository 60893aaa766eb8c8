#pragma once
// tensor_view<T, Rank, Space>: a non-owning strided view. Shape and strides are in elements,
// row-major by default (last index fastest). Views of const T are made from views of T implicitly.
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kvshare/core/error.hpp"
#include "kvshare/tensor/memory_space.hpp"

#if defined(__CUDACC__)
#define KVSHARE_HOST_DEVICE __host__ __device__
#else
#define KVSHARE_HOST_DEVICE
#endif

namespace kvshare {

using index_t = std::int64_t;

template <class T, int Rank, MemorySpace Space = host_memory>
class tensor_view {
public:
    static_assert(Rank >= 1, "tensor_view: Rank must be >= 1");
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using space = Space;
    static constexpr int rank = Rank;
    using extents_type = std::array<index_t, Rank>;

    constexpr tensor_view() = default;

    // Contiguous row-major view.
    constexpr tensor_view(T* data, const extents_type& shape) : data_(data), shape_(shape) {
        index_t stride = 1;
        for (int i = Rank - 1; i >= 0; --i) {
            strides_[i] = stride;
            stride *= shape_[i];
        }
    }

    constexpr tensor_view(T* data, const extents_type& shape, const extents_type& strides)
        : data_(data), shape_(shape), strides_(strides) {}

    // view<T> -> view<const T>
    template <class U>
        requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
    constexpr tensor_view(const tensor_view<U, Rank, Space>& other)
        : data_(other.data()), shape_(other.shape()), strides_(other.strides()) {}

    KVSHARE_HOST_DEVICE constexpr T* data() const { return data_; }
    constexpr const extents_type& shape() const { return shape_; }
    constexpr const extents_type& strides() const { return strides_; }
    KVSHARE_HOST_DEVICE constexpr index_t extent(int i) const { return shape_[i]; }
    KVSHARE_HOST_DEVICE constexpr index_t stride(int i) const { return strides_[i]; }
    constexpr bool empty() const { return data_ == nullptr; }

    constexpr index_t size() const {
        index_t count = 1;
        for (index_t e : shape_) count *= e;
        return count;
    }

    // Row-major with no gaps.
    constexpr bool is_contiguous() const {
        index_t expected = 1;
        for (int i = Rank - 1; i >= 0; --i) {
            if (shape_[i] != 1 && strides_[i] != expected) return false;
            expected *= shape_[i];
        }
        return true;
    }

    // [lowest, highest] element addresses touched, as bytes; for overlap checks.
    std::pair<const std::byte*, const std::byte*> byte_range() const {
        const auto* base = reinterpret_cast<const std::byte*>(data_);
        index_t last = 0;
        for (int i = 0; i < Rank; ++i) last += (shape_[i] > 0 ? shape_[i] - 1 : 0) * strides_[i];
        return {base, base + (last + 1) * static_cast<index_t>(sizeof(T)) - 1};
    }

    template <class... I>
    KVSHARE_HOST_DEVICE constexpr index_t offset(I... indices) const {
        static_assert(sizeof...(I) == Rank, "tensor_view: one index per dimension");
        const index_t idx[] = {static_cast<index_t>(indices)...};
        index_t off = 0;
        for (int i = 0; i < Rank; ++i) off += idx[i] * strides_[i];
        return off;
    }

    // Element access; only meaningful where the memory is addressable (host views on the host).
    template <class... I>
    KVSHARE_HOST_DEVICE constexpr T& operator()(I... indices) const {
        return data_[offset(indices...)];
    }

private:
    T* data_ = nullptr;
    extents_type shape_{};
    extents_type strides_{};
};

template <class T, int Rank>
using host_view = tensor_view<T, Rank, host_memory>;
template <class T, int Rank>
using device_view = tensor_view<T, Rank, device_memory>;

// Do two views share any byte? (used to reject an output that aliases an input)
template <class A, int RA, class B, int RB, class S>
bool overlaps(const tensor_view<A, RA, S>& a, const tensor_view<B, RB, S>& b) {
    if (a.empty() || b.empty() || a.size() == 0 || b.size() == 0) return false;
    const auto [a_lo, a_hi] = a.byte_range();
    const auto [b_lo, b_hi] = b.byte_range();
    return !(a_hi < b_lo || b_hi < a_lo);
}

}  // namespace kvshare
