#pragma once
// kvshare::error — the one exception type of the library. Every runtime check names the argument
// and the value that was wrong, and runs before anything is written.
#include <sstream>
#include <stdexcept>
#include <string>

namespace kvshare {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
[[noreturn]] void throw_error(const Parts&... parts) {
    std::ostringstream message;
    message << "kvshare: ";
    (message << ... << parts);
    throw error(message.str());
}
}  // namespace detail

}  // namespace kvshare

// KVSHARE_REQUIRE(condition, parts...): throws kvshare::error("kvshare: " + parts...) when the
// condition is false. The message parts are only formatted on failure.
#define KVSHARE_REQUIRE(condition, ...)                    \
    do {                                                   \
        if (!(condition)) {                                \
            ::kvshare::detail::throw_error(__VA_ARGS__);   \
        }                                                  \
    } while (false)
