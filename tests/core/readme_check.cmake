# ctest core_readme_in_sync (cmake -P): the C++ block of README.md that follows the marker line
#   <!-- compiled by tests/core/readme_example.cpp: keep them identical -->
# must equal tests/core/readme_example.cpp byte for byte, so the usage example the README shows is the
# one that core_readme_example compiles and runs.
#   -D README=<README.md> -D EXAMPLE=<readme_example.cpp>
cmake_minimum_required(VERSION 3.25)

set(marker "<!-- compiled by tests/core/readme_example.cpp: keep them identical -->")
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)

string(FIND "${readme}" "${marker}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README}: the marker line is missing:\n  ${marker}")
endif()
string(SUBSTRING "${readme}" ${at} -1 rest)
set(fence "```cpp\n")
string(FIND "${rest}" "${fence}" open)
if(open EQUAL -1)
  message(FATAL_ERROR "${README}: no ```cpp block after the marker line")
endif()
string(LENGTH "${fence}" fence_length)
math(EXPR begin "${open} + ${fence_length}")
string(SUBSTRING "${rest}" ${begin} -1 rest)
string(FIND "${rest}" "\n```" close)
if(close EQUAL -1)
  message(FATAL_ERROR "${README}: the ```cpp block after the marker line is not closed")
endif()
math(EXPR close "${close} + 1")   # keep the block's last newline
string(SUBSTRING "${rest}" 0 ${close} block)

if(NOT block STREQUAL example)
  file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/readme_block.cpp" "${block}")
  message(FATAL_ERROR "README.md's usage example differs from ${EXAMPLE}.\n"
                      "Copy one onto the other (README block written to ${CMAKE_CURRENT_BINARY_DIR}/readme_block.cpp; "
                      "compare with: diff ${EXAMPLE} ${CMAKE_CURRENT_BINARY_DIR}/readme_block.cpp).")
endif()
message(STATUS "README.md's usage example equals ${EXAMPLE}")
