#pragma once
// Test helpers for the cache tests: fresh random tensors (never zeros) and byte snapshots.
#include <cstddef>
#include <cstring>
#include <random>
#include <vector>

namespace kvshare::test {

// n values uniform in [-1, 1) \ small band around 0, converted to T.
template <class T>
std::vector<T> random_values(std::size_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> dist(0.05f, 1.0f);
    std::bernoulli_distribution sign(0.5);
    std::vector<T> out(n);
    for (auto& x : out) x = static_cast<T>(sign(rng) ? dist(rng) : -dist(rng));
    return out;
}

inline std::vector<std::byte> snapshot(const std::byte* data, std::size_t bytes) {
    return std::vector<std::byte>(data, data + bytes);
}

}  // namespace kvshare::test
