#pragma once
// Eigen adapters: tensor views of Eigen dense objects without copies. Works for anything with direct
// access to its coefficients (Matrix, Map, Ref, Block of those); row- or column-major, any strides.
//
//   as_view(m)                    : [rows, cols]
//   as_heads_view(m, heads)       : [rows, heads, cols / heads]   e.g. q as a row-major
//                                   Matrix<float, Dynamic, Dynamic, RowMajor> [tokens, H_q * d]
//                                   seen as [tokens, H_q, d]
//   as_cache_view(m, batch, heads): [batch, rows / batch, heads, cols / heads]   e.g. a KV cache
//                                   [batch * capacity, H_kv * d] seen as [batch, capacity, H_kv, d]
//
// Constness follows Eigen: a const Matrix& or a Map<const ...> gives a view of const T. A view does
// not own anything: the Eigen object must outlive it (temporaries of owning types are refused).
// The head views need the columns of a row to be contiguous (colStride() == 1).
#include <type_traits>

#include <Eigen/Core>

#include "kvshare/core/error.hpp"
#include "kvshare/tensor/view.hpp"

namespace kvshare {

namespace eigen_detail {
template <class E>
concept DirectAccess = requires(E& e) {
    e.data();
    e.rows();
    e.cols();
    e.rowStride();
    e.colStride();
};

template <class E>
inline constexpr bool owning_temporary =
    !std::is_lvalue_reference_v<E> &&
    std::is_base_of_v<Eigen::PlainObjectBase<std::remove_cvref_t<E>>, std::remove_cvref_t<E>>;

template <class E>
using element_of = std::remove_pointer_t<decltype(std::declval<E&>().data())>;
}  // namespace eigen_detail

// [rows, cols] view with Eigen's strides.
template <class E>
    requires eigen_detail::DirectAccess<std::remove_reference_t<E>>
auto as_view(E&& m) {
    static_assert(!eigen_detail::owning_temporary<E>,
                  "kvshare::as_view: the matrix is a temporary; the view would dangle");
    using T = eigen_detail::element_of<std::remove_reference_t<E>>;
    return host_view<T, 2>(m.data(), {static_cast<index_t>(m.rows()), static_cast<index_t>(m.cols())},
                           {static_cast<index_t>(m.rowStride()), static_cast<index_t>(m.colStride())});
}

// [rows, heads, cols / heads]: each row's columns split into `heads` consecutive groups.
template <class E>
    requires eigen_detail::DirectAccess<std::remove_reference_t<E>>
auto as_heads_view(E&& m, index_t heads) {
    static_assert(!eigen_detail::owning_temporary<E>,
                  "kvshare::as_heads_view: the matrix is a temporary; the view would dangle");
    using T = eigen_detail::element_of<std::remove_reference_t<E>>;
    KVSHARE_REQUIRE(heads >= 1 && m.cols() % heads == 0, "as_heads_view: ", m.cols(),
                    " columns do not split into heads = ", heads, " equal groups");
    KVSHARE_REQUIRE(m.colStride() == 1 || m.cols() <= 1, "as_heads_view: the columns of a row must be contiguous "
                    "(a row-major matrix), but colStride() = ", m.colStride());
    const index_t width = m.cols() / heads;
    return host_view<T, 3>(m.data(), {static_cast<index_t>(m.rows()), heads, width},
                           {static_cast<index_t>(m.rowStride()), width, 1});
}

// [batch, rows / batch, heads, cols / heads]: consecutive blocks of rows are the sequences.
template <class E>
    requires eigen_detail::DirectAccess<std::remove_reference_t<E>>
auto as_cache_view(E&& m, index_t batch, index_t heads) {
    static_assert(!eigen_detail::owning_temporary<E>,
                  "kvshare::as_cache_view: the matrix is a temporary; the view would dangle");
    using T = eigen_detail::element_of<std::remove_reference_t<E>>;
    KVSHARE_REQUIRE(batch >= 1 && m.rows() % batch == 0, "as_cache_view: ", m.rows(),
                    " rows do not split into batch = ", batch, " equal blocks");
    const auto per_row = as_heads_view(m, heads);
    const index_t capacity = m.rows() / batch;
    return host_view<T, 4>(m.data(), {batch, capacity, heads, per_row.extent(2)},
                           {capacity * per_row.stride(0), per_row.stride(0), per_row.stride(1), 1});
}

}  // namespace kvshare
