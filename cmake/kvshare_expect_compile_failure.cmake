# Run by the ctest of kvshare_add_compile_fail_test() (cmake -P):
#   -D KVSHARE_BUILD_DIR=<top build dir> -D KVSHARE_CONFIG=<config> -D KVSHARE_EXPECT_FILE=<file>
# <file> sets KVSHARE_EXPECT_TARGET, KVSHARE_EXPECT_SOURCE and KVSHARE_EXPECT_REGEX (may be empty).
# Passes iff building the target fails and, when a regex is given, the build output matches it.
cmake_minimum_required(VERSION 3.25)

foreach(var KVSHARE_BUILD_DIR KVSHARE_EXPECT_FILE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "kvshare_expect_compile_failure: -D ${var}=... is required")
  endif()
endforeach()
include(${KVSHARE_EXPECT_FILE})

set(config_args)
if(KVSHARE_CONFIG)
  set(config_args --config ${KVSHARE_CONFIG})
endif()

execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${KVSHARE_BUILD_DIR} --target ${KVSHARE_EXPECT_TARGET} ${config_args}
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)

if(rc EQUAL 0)
  message(FATAL_ERROR
    "MUST-NOT-COMPILE test FAILED: ${KVSHARE_EXPECT_SOURCE} compiled successfully.\n"
    "Build output:\n${out}")
endif()

if(NOT KVSHARE_EXPECT_REGEX STREQUAL "")
  if(NOT out MATCHES "${KVSHARE_EXPECT_REGEX}")
    message(FATAL_ERROR
      "MUST-NOT-COMPILE test FAILED: ${KVSHARE_EXPECT_SOURCE} failed to compile, but not with the "
      "expected message.\nExpected regex: ${KVSHARE_EXPECT_REGEX}\nBuild output:\n${out}")
  endif()
  message(STATUS "${KVSHARE_EXPECT_SOURCE} failed to compile as expected; matched: ${CMAKE_MATCH_0}")
else()
  message(STATUS "${KVSHARE_EXPECT_SOURCE} failed to compile as expected (no REGEX given: any error counts)")
endif()
