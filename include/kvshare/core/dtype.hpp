#pragma once
// Element types of the KV cache as seen by the memory planner.
#include <string>
#include <string_view>

#include "kvshare/core/error.hpp"

namespace kvshare {

enum class dtype { fp32, fp16, bf16, int8, fp8 };

constexpr int bytes_of(dtype type) {
    switch (type) {
        case dtype::fp32: return 4;
        case dtype::fp16:
        case dtype::bf16: return 2;
        case dtype::int8:
        case dtype::fp8: return 1;
    }
    return 0;
}

constexpr std::string_view name_of(dtype type) {
    switch (type) {
        case dtype::fp32: return "fp32";
        case dtype::fp16: return "fp16";
        case dtype::bf16: return "bf16";
        case dtype::int8: return "int8";
        case dtype::fp8: return "fp8";
    }
    return "?";
}

inline dtype parse_dtype(std::string_view text) {
    for (dtype type : {dtype::fp32, dtype::fp16, dtype::bf16, dtype::int8, dtype::fp8})
        if (text == name_of(type)) return type;
    detail::throw_error("unknown dtype '", text, "' (expected fp32, fp16, bf16, int8 or fp8)");
}

}  // namespace kvshare
