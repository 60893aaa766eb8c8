#pragma once
// Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
//   [8 bytes: header size N, little-endian u64] [N bytes: JSON header] [data]
//   header: {"name": {"dtype": "F32"|"BF16"|"F16", "shape": [...], "data_offsets": [begin, end]}, ...,
//            "__metadata__": {...} (optional)}; offsets are relative to the start of the data.
// Tensors are read as float (bf16 / fp16 widened exactly) and written from float in F32, BF16 or F16
// (rounded to nearest even). Everything about a file is checked when it is opened: offsets inside
// the data, sizes that match shape × element size, no overlapping tensors; errors name the tensor.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "kvshare/core/dtype.hpp"
#include "kvshare/core/error.hpp"
#include "kvshare/model/json.hpp"

namespace kvshare::safetensors {

static_assert(std::endian::native == std::endian::little,
              "safetensors: this reader assumes a little-endian host (the format is little-endian)");

inline std::string_view format_name(dtype type) {
    switch (type) {
        case dtype::fp32: return "F32";
        case dtype::bf16: return "BF16";
        case dtype::fp16: return "F16";
        default: detail::throw_error("safetensors: cannot store dtype ", name_of(type), " (use fp32, bf16 or fp16)");
    }
}

inline dtype parse_format(std::string_view name, std::string_view tensor) {
    if (name == "F32") return dtype::fp32;
    if (name == "BF16") return dtype::bf16;
    if (name == "F16") return dtype::fp16;
    detail::throw_error("safetensors: tensor '", tensor, "' has dtype ", name, "; supported: F32, BF16, F16");
}

struct tensor_info {
    std::string name;
    dtype type = dtype::fp32;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;   // byte offsets into the data section

    std::int64_t elements() const {
        std::int64_t n = 1;
        for (auto e : shape) n *= e;
        return n;
    }
};

// An opened file: the header parsed and checked, the bytes held in memory.
class file {
public:
    static file open(const std::string& path) {
        std::ifstream in(path, std::ios::binary | std::ios::ate);
        KVSHARE_REQUIRE(in.good(), "safetensors: cannot open '", path, "'");
        const std::streamoff size = in.tellg();
        in.seekg(0);
        std::vector<char> bytes(static_cast<std::size_t>(size));
        in.read(bytes.data(), size);
        KVSHARE_REQUIRE(in.good() || in.eof(), "safetensors: cannot read '", path, "'");
        return from_bytes(std::move(bytes), path);
    }

    static file from_bytes(std::vector<char> bytes, const std::string& origin = "<memory>") {
        file f;
        f.bytes_ = std::move(bytes);
        KVSHARE_REQUIRE(f.bytes_.size() >= 8, "safetensors: '", origin, "' is shorter than the 8-byte header size");
        std::uint64_t header_size = 0;
        std::memcpy(&header_size, f.bytes_.data(), 8);
        KVSHARE_REQUIRE(header_size <= f.bytes_.size() - 8, "safetensors: '", origin, "': header size ", header_size,
                        " exceeds the file (", f.bytes_.size(), " bytes)");
        f.data_offset_ = 8 + header_size;
        const std::uint64_t data_size = f.bytes_.size() - f.data_offset_;
        const json::value header = json::parse(std::string_view(f.bytes_.data() + 8, header_size));
        for (const auto& [name, entry] : header.as_object("safetensors header")) {
            if (name == "__metadata__") continue;
            tensor_info info;
            info.name = name;
            info.type = parse_format(entry.at("dtype").as_string("dtype"), name);
            for (const auto& e : entry.at("shape").as_array("shape")) {
                info.shape.push_back(e.as_int("shape entry"));
                KVSHARE_REQUIRE(info.shape.back() >= 0, "safetensors: tensor '", name, "' has a negative extent");
            }
            const auto& offsets = entry.at("data_offsets").as_array("data_offsets");
            KVSHARE_REQUIRE(offsets.size() == 2, "safetensors: tensor '", name, "': data_offsets needs 2 entries");
            info.begin = static_cast<std::uint64_t>(offsets[0].as_int("data_offsets[0]"));
            info.end = static_cast<std::uint64_t>(offsets[1].as_int("data_offsets[1]"));
            KVSHARE_REQUIRE(info.begin <= info.end && info.end <= data_size, "safetensors: tensor '", name,
                            "': data_offsets [", info.begin, ", ", info.end, ") outside the ", data_size,
                            " data bytes");
            const std::uint64_t expected = static_cast<std::uint64_t>(info.elements()) * bytes_of(info.type);
            KVSHARE_REQUIRE(info.end - info.begin == expected, "safetensors: tensor '", name, "' holds ",
                            info.end - info.begin, " bytes but its shape and dtype need ", expected);
            f.tensors_.push_back(std::move(info));
        }
        std::vector<const tensor_info*> sorted;
        for (const auto& t : f.tensors_) sorted.push_back(&t);
        std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
        for (std::size_t i = 1; i < sorted.size(); ++i)
            KVSHARE_REQUIRE(sorted[i]->begin >= sorted[i - 1]->end || sorted[i - 1]->begin == sorted[i - 1]->end,
                            "safetensors: tensors '", sorted[i - 1]->name, "' and '", sorted[i]->name, "' overlap");
        return f;
    }

    const std::vector<tensor_info>& tensors() const { return tensors_; }

    const tensor_info* find(std::string_view name) const {
        for (const auto& t : tensors_)
            if (t.name == name) return &t;
        return nullptr;
    }
    bool contains(std::string_view name) const { return find(name) != nullptr; }

    const tensor_info& info(std::string_view name) const {
        const tensor_info* t = find(name);
        KVSHARE_REQUIRE(t != nullptr, "safetensors: no tensor named '", name, "'");
        return *t;
    }

    // The tensor's elements as float, row-major.
    std::vector<float> read(std::string_view name) const {
        const tensor_info& t = info(name);
        const char* data = bytes_.data() + data_offset_ + t.begin;
        std::vector<float> out(static_cast<std::size_t>(t.elements()));
        switch (t.type) {
            case dtype::fp32: std::memcpy(out.data(), data, out.size() * sizeof(float)); break;
            case dtype::bf16:
                for (std::size_t i = 0; i < out.size(); ++i) {
                    Eigen::bfloat16 x;
                    std::memcpy(&x, data + 2 * i, 2);
                    out[i] = static_cast<float>(x);
                }
                break;
            case dtype::fp16:
                for (std::size_t i = 0; i < out.size(); ++i) {
                    Eigen::half x;
                    std::memcpy(&x, data + 2 * i, 2);
                    out[i] = static_cast<float>(x);
                }
                break;
            default: break;   // parse_format admits nothing else
        }
        return out;
    }

private:
    std::vector<char> bytes_;
    std::uint64_t data_offset_ = 0;
    std::vector<tensor_info> tensors_;
};

// A tensor to write: float data [shape...] row-major, stored as `type`.
struct tensor_to_write {
    std::string name;
    std::vector<std::int64_t> shape;
    std::span<const float> data;
    dtype type = dtype::fp32;
};

inline std::vector<char> to_bytes(const std::vector<tensor_to_write>& tensors) {
    json::object header;
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        std::int64_t n = 1;
        json::array shape;
        for (auto e : t.shape) {
            n *= e;
            shape.emplace_back(e);
        }
        KVSHARE_REQUIRE(static_cast<std::size_t>(n) == t.data.size(), "safetensors: tensor '", t.name, "' has ",
                        t.data.size(), " values but its shape needs ", n);
        const std::uint64_t size = static_cast<std::uint64_t>(n) * bytes_of(t.type);
        header.emplace_back(t.name, json::object{{"dtype", std::string(format_name(t.type))},
                                                 {"shape", std::move(shape)},
                                                 {"data_offsets", json::array{offset, offset + size}}});
        offset += size;
    }
    std::string text = json::dump(json::value(std::move(header)));
    text.append((8 - text.size() % 8) % 8, ' ');   // keep the data 8-byte aligned (the format allows padding)
    std::vector<char> out(8 + text.size() + offset);
    const std::uint64_t header_size = text.size();
    std::memcpy(out.data(), &header_size, 8);
    std::memcpy(out.data() + 8, text.data(), text.size());
    char* data = out.data() + 8 + text.size();
    for (const auto& t : tensors) {
        for (const float x : t.data) {
            if (t.type == dtype::fp32) {
                std::memcpy(data, &x, 4);
                data += 4;
            } else if (t.type == dtype::bf16) {
                const Eigen::bfloat16 y(x);
                std::memcpy(data, &y, 2);
                data += 2;
            } else {
                const Eigen::half y(x);
                std::memcpy(data, &y, 2);
                data += 2;
            }
        }
    }
    return out;
}

inline void write(const std::string& path, const std::vector<tensor_to_write>& tensors) {
    const std::vector<char> bytes = to_bytes(tensors);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    KVSHARE_REQUIRE(out.good(), "safetensors: cannot create '", path, "'");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    KVSHARE_REQUIRE(out.good(), "safetensors: cannot write '", path, "'");
}

}  // namespace kvshare::safetensors
