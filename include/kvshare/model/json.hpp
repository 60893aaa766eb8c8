#pragma once
// A minimal JSON reader and writer, enough for config.json and safetensors headers (RFC 8259:
// objects, arrays, strings with escapes incl. \uXXXX and surrogate pairs, numbers, true/false/null).
// Numbers are held as double (integers are exact up to 2^53); objects keep their key order.
// Parse errors throw kvshare::error with the byte offset.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "kvshare/core/error.hpp"

namespace kvshare::json {

class value;
using array = std::vector<value>;
using object = std::vector<std::pair<std::string, value>>;

class value {
public:
    value() = default;   // null
    value(std::nullptr_t) {}
    value(bool b) : data_(b) {}
    value(double n) : data_(n) {}
    value(int n) : data_(static_cast<double>(n)) {}
    value(std::int64_t n) : data_(static_cast<double>(n)) {}
    value(std::uint64_t n) : data_(static_cast<double>(n)) {}
    value(const char* s) : data_(std::string(s)) {}
    value(std::string s) : data_(std::move(s)) {}
    value(array a) : data_(std::make_shared<array>(std::move(a))) {}
    value(object o) : data_(std::make_shared<object>(std::move(o))) {}

    bool is_null() const { return std::holds_alternative<std::nullptr_t>(data_); }
    bool is_bool() const { return std::holds_alternative<bool>(data_); }
    bool is_number() const { return std::holds_alternative<double>(data_); }
    bool is_string() const { return std::holds_alternative<std::string>(data_); }
    bool is_array() const { return std::holds_alternative<std::shared_ptr<array>>(data_); }
    bool is_object() const { return std::holds_alternative<std::shared_ptr<object>>(data_); }

    bool as_bool(std::string_view what = "value") const {
        KVSHARE_REQUIRE(is_bool(), "json: ", what, " is not a boolean");
        return std::get<bool>(data_);
    }
    double as_number(std::string_view what = "value") const {
        KVSHARE_REQUIRE(is_number(), "json: ", what, " is not a number");
        return std::get<double>(data_);
    }
    std::int64_t as_int(std::string_view what = "value") const {
        const double n = as_number(what);
        KVSHARE_REQUIRE(n == std::floor(n) && std::fabs(n) <= 9007199254740992.0, "json: ", what, " = ", n,
                        " is not an integer");
        return static_cast<std::int64_t>(n);
    }
    const std::string& as_string(std::string_view what = "value") const {
        KVSHARE_REQUIRE(is_string(), "json: ", what, " is not a string");
        return std::get<std::string>(data_);
    }
    const array& as_array(std::string_view what = "value") const {
        KVSHARE_REQUIRE(is_array(), "json: ", what, " is not an array");
        return *std::get<std::shared_ptr<array>>(data_);
    }
    const object& as_object(std::string_view what = "value") const {
        KVSHARE_REQUIRE(is_object(), "json: ", what, " is not an object");
        return *std::get<std::shared_ptr<object>>(data_);
    }

    // Object member lookup; nullptr when absent (or when this is not an object).
    const value* find(std::string_view key) const {
        if (!is_object()) return nullptr;
        for (const auto& [k, v] : as_object())
            if (k == key) return &v;
        return nullptr;
    }
    const value& at(std::string_view key) const {
        const value* member = find(key);
        KVSHARE_REQUIRE(member != nullptr, "json: missing key \"", key, "\"");
        return *member;
    }

private:
    std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<array>, std::shared_ptr<object>> data_{
        nullptr};
};

namespace detail {

class parser {
public:
    explicit parser(std::string_view text) : text_(text) {}

    value document() {
        value v = parse_value(0);
        skip_space();
        KVSHARE_REQUIRE(pos_ == text_.size(), "json: unexpected text after the value at byte ", pos_);
        return v;
    }

private:
    static constexpr int max_depth = 256;

    [[noreturn]] void fail(std::string_view what) const {
        kvshare::detail::throw_error("json: ", what, " at byte ", pos_);
    }
    void skip_space() {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }
    char peek() {
        skip_space();
        if (pos_ >= text_.size()) fail("unexpected end of input");
        return text_[pos_];
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++pos_;
    }
    bool literal(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    value parse_value(int depth) {
        if (depth > max_depth) fail("nesting too deep");
        const char c = peek();
        if (c == '{') return parse_object(depth);
        if (c == '[') return parse_array(depth);
        if (c == '"') return value(parse_string());
        if (literal("true")) return value(true);
        if (literal("false")) return value(false);
        if (literal("null")) return value(nullptr);
        if (c == '-' || (c >= '0' && c <= '9')) return value(parse_number());
        fail("unexpected character");
    }

    value parse_object(int depth) {
        expect('{');
        object members;
        if (peek() == '}') {
            ++pos_;
            return value(std::move(members));
        }
        while (true) {
            if (peek() != '"') fail("expected a string key");
            std::string key = parse_string();
            expect(':');
            members.emplace_back(std::move(key), parse_value(depth + 1));
            const char c = peek();
            ++pos_;
            if (c == '}') break;
            if (c != ',') fail("expected ',' or '}'");
        }
        return value(std::move(members));
    }

    value parse_array(int depth) {
        expect('[');
        array items;
        if (peek() == ']') {
            ++pos_;
            return value(std::move(items));
        }
        while (true) {
            items.push_back(parse_value(depth + 1));
            const char c = peek();
            ++pos_;
            if (c == ']') break;
            if (c != ',') fail("expected ',' or ']'");
        }
        return value(std::move(items));
    }

    double parse_number() {
        const std::size_t start = pos_;
        auto digits = [&] {
            const std::size_t from = pos_;
            while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
            return pos_ > from;
        };
        if (text_[pos_] == '-') ++pos_;
        if (pos_ < text_.size() && text_[pos_] == '0') {
            ++pos_;
        } else if (!digits()) {
            fail("bad number");
        }
        if (pos_ < text_.size() && text_[pos_] == '.') {
            ++pos_;
            if (!digits()) fail("bad number (digits expected after '.')");
        }
        if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (!digits()) fail("bad number (digits expected in the exponent)");
        }
        const std::string token(text_.substr(start, pos_ - start));
        return std::strtod(token.c_str(), nullptr);
    }

    unsigned hex4() {
        if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = text_[pos_++];
            code <<= 4;
            if (h >= '0' && h <= '9') code |= h - '0';
            else if (h >= 'a' && h <= 'f') code |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') code |= h - 'A' + 10;
            else fail("bad hex digit in \\u escape");
        }
        return code;
    }

    static void append_utf8(std::string& out, unsigned code) {
        if (code < 0x80) {
            out += static_cast<char>(code);
        } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (code >> 18));
            out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
    }

    std::string parse_string() {
        expect('"');
        std::string out;
        while (true) {
            if (pos_ >= text_.size()) fail("unterminated string");
            const char c = text_[pos_++];
            if (c == '"') break;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) fail("unterminated escape");
            const char e = text_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned code = hex4();
                    if (code >= 0xD800 && code < 0xDC00) {   // high surrogate: a low one must follow
                        if (!literal("\\u")) fail("lone high surrogate");
                        const unsigned low = hex4();
                        if (low < 0xDC00 || low >= 0xE000) fail("bad low surrogate");
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    } else if (code >= 0xDC00 && code < 0xE000) {
                        fail("lone low surrogate");
                    }
                    append_utf8(out, code);
                    break;
                }
                default: fail("unknown escape");
            }
        }
        return out;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

inline void write_string(std::ostream& out, const std::string& s) {
    out << '"';
    for (const char c : s) {
        switch (c) {
            case '"': out << "\\\""; break;
            case '\\': out << "\\\\"; break;
            case '\n': out << "\\n"; break;
            case '\r': out << "\\r"; break;
            case '\t': out << "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    const char* hex = "0123456789abcdef";
                    out << "\\u00" << hex[(c >> 4) & 0xF] << hex[c & 0xF];
                } else {
                    out << c;
                }
        }
    }
    out << '"';
}

inline void write_value(std::ostream& out, const value& v) {
    if (v.is_null()) {
        out << "null";
    } else if (v.is_bool()) {
        out << (v.as_bool() ? "true" : "false");
    } else if (v.is_number()) {
        const double n = v.as_number();
        KVSHARE_REQUIRE(std::isfinite(n), "json: cannot write the non-finite number ", n);
        if (n == std::floor(n) && std::fabs(n) < 9007199254740992.0) {
            out << static_cast<std::int64_t>(n);
        } else {
            std::ostringstream text;
            text.precision(17);
            text << n;
            out << text.str();
        }
    } else if (v.is_string()) {
        write_string(out, v.as_string());
    } else if (v.is_array()) {
        out << '[';
        bool first = true;
        for (const auto& item : v.as_array()) {
            if (!first) out << ',';
            first = false;
            write_value(out, item);
        }
        out << ']';
    } else {
        out << '{';
        bool first = true;
        for (const auto& [key, item] : v.as_object()) {
            if (!first) out << ',';
            first = false;
            write_string(out, key);
            out << ':';
            write_value(out, item);
        }
        out << '}';
    }
}

}  // namespace detail

inline value parse(std::string_view text) { return detail::parser(text).document(); }

inline std::string dump(const value& v) {
    std::ostringstream out;
    detail::write_value(out, v);
    return out.str();
}

}  // namespace kvshare::json
