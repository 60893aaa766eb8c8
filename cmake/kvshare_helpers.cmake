# Helpers for kvshare's own tests, benchmarks and examples.
#
#   kvshare_add_test(NAME <name> SOURCES <files...> [LABELS <labels...>] [LIBS <libs...>])
#   kvshare_add_cuda_test(NAME <name> SOURCES <files.cu...> [LABELS <labels...>] [LIBS <libs...>])
#   kvshare_add_compile_fail_test(NAME <name> SOURCE <file.cpp> [REGEX <regex>] [LABELS <labels...>])
#   kvshare_add_benchmark(NAME <name> SOURCES <files...> [LIBS <libs...>])
#   kvshare_add_cuda_benchmark(NAME <name> SOURCES <files...> [LIBS <libs...>])
#   kvshare_add_example(NAME <name> SOURCES <files...> [CUDA] [LIBS <libs...>])
#
# Project-only flags (never put on kvshare::kvshare / kvshare::cuda, which users link):
#   KVSHARE_NATIVE   -> -march=native on C++ sources (not on .cu: nvcc's front end chokes on some
#                       newer x86 intrinsics headers that -march=native can pull in)
#   KVSHARE_SANITIZE -> ASan + UBSan on CPU tests (kvshare_add_test) and their doctest main
include_guard(GLOBAL)

# ---- internal --------------------------------------------------------------------------------------

function(_kvshare_require_args fn)
  foreach(arg IN LISTS ARGN)
    if(NOT _arg_${arg})
      message(FATAL_ERROR "${fn}: ${arg} is required")
    endif()
  endforeach()
  if(_arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${fn}: unexpected arguments: ${_arg_UNPARSED_ARGUMENTS}")
  endif()
endfunction()

# -march=native on the project's own C++ sources.
function(_kvshare_apply_native target)
  if(KVSHARE_NATIVE_ACTIVE)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  endif()
endfunction()

# ASan + UBSan; UB is fatal (-fno-sanitize-recover) so ctest sees a failure, not just a log line.
# ASan's fake-stack frames (detect_stack_use_after_return) are not aligned for locals that need 64
# bytes, as AVX-512 vectors do: GCC 12's code for such frames then faults on an aligned vector move
# (seen here as SEGVs at wild addresses; the same limitation: llvm-project #91565, #152889). With GCC,
# keep the fake stack out of instrumented code; everything else of ASan/UBSan stays on.
function(_kvshare_apply_sanitizers target)
  if(KVSHARE_SANITIZE)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address>
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=undefined>
      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=undefined>)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:--param=asan-use-after-return=0>)
    endif()
    target_link_options(${target} PRIVATE -fsanitize=address -fsanitize=undefined)
  endif()
endfunction()

# ---- tests -----------------------------------------------------------------------------------------

# kvshare_add_test(NAME <name> SOURCES <files...> [LABELS <labels...>] [LIBS <libs...>])
# Executable <name> (doctest, main from kvshare_doctest_main) linking kvshare::kvshare, registered in
# ctest as <name> with the given labels. Gets -march=native (KVSHARE_NATIVE) and ASan/UBSan
# (KVSHARE_SANITIZE). Note: scripts/test runs the sanitizer build with `ctest -L cpu`, so label CPU
# tests `cpu` to have them run under the sanitizers.
function(kvshare_add_test)
  cmake_parse_arguments(PARSE_ARGV 0 _arg "" "NAME" "SOURCES;LABELS;LIBS")
  _kvshare_require_args(kvshare_add_test NAME SOURCES)
  add_executable(${_arg_NAME} ${_arg_SOURCES})
  target_link_libraries(${_arg_NAME} PRIVATE
    kvshare::kvshare kvshare_doctest_main doctest::doctest ${_arg_LIBS})
  _kvshare_apply_native(${_arg_NAME})
  _kvshare_apply_sanitizers(${_arg_NAME})
  add_test(NAME ${_arg_NAME} COMMAND ${_arg_NAME})
  if(_arg_LABELS)
    set_tests_properties(${_arg_NAME} PROPERTIES LABELS "${_arg_LABELS}")
  endif()
endfunction()

# kvshare_add_cuda_test(NAME <name> SOURCES <files.cu...> [LABELS <labels...>] [LIBS <libs...>])
# Only when the CUDA backend is enabled (KVSHARE_CUDA_ENABLED); otherwise does nothing.
# Like kvshare_add_test but links kvshare::cuda, always carries the label `cuda`, and is registered
# with SKIP_RETURN_CODE 77: a test program that exits with 77 is reported by ctest as SKIPPED, not
# failed. The shared CUDA doctest main (kvshare_doctest_cuda_main, tests/doctest_main.cpp) already
# returns 77 before running any test case when cudaGetDeviceCount() finds no usable device; a test
# that needs more (e.g. a compute capability the binary was not built for) may itself
# `std::exit(77)`. Not sanitized (ASan and the CUDA runtime do not mix by default).
function(kvshare_add_cuda_test)
  cmake_parse_arguments(PARSE_ARGV 0 _arg "" "NAME" "SOURCES;LABELS;LIBS")
  _kvshare_require_args(kvshare_add_cuda_test NAME SOURCES)
  if(NOT KVSHARE_CUDA_ENABLED)
    return()
  endif()
  add_executable(${_arg_NAME} ${_arg_SOURCES})
  target_link_libraries(${_arg_NAME} PRIVATE
    kvshare::cuda kvshare_doctest_cuda_main doctest::doctest ${_arg_LIBS})
  _kvshare_apply_native(${_arg_NAME})
  add_test(NAME ${_arg_NAME} COMMAND ${_arg_NAME})
  set(_labels cuda ${_arg_LABELS})
  list(REMOVE_DUPLICATES _labels)
  set_tests_properties(${_arg_NAME} PROPERTIES LABELS "${_labels}" SKIP_RETURN_CODE 77)
endfunction()

# kvshare_add_compile_fail_test(NAME <name> SOURCE <file.cpp> [REGEX <regex>] [LABELS <labels...>])
# A must-not-compile test. <file.cpp> becomes an OBJECT library `<name>_must_not_compile` linking
# kvshare::kvshare, excluded from the normal build (EXCLUDE_FROM_ALL + EXCLUDE_FROM_DEFAULT_BUILD), so
# `cmake --build` is unaffected. The ctest <name> builds that target and passes only if
#   * the build fails, and
#   * when REGEX is given, the compiler output matches it (CMake regex syntax, e.g. the static_assert
#     message), so a failure for the wrong reason (typo, missing header) is reported as a failure.
# Labels: `compile_fail` plus LABELS. The tests share RESOURCE_LOCK kvshare_build_tree (two concurrent
# `cmake --build` in one tree are not safe with every generator).
function(kvshare_add_compile_fail_test)
  cmake_parse_arguments(PARSE_ARGV 0 _arg "" "NAME;SOURCE;REGEX" "LABELS")
  _kvshare_require_args(kvshare_add_compile_fail_test NAME SOURCE)
  set(_target ${_arg_NAME}_must_not_compile)
  add_library(${_target} OBJECT EXCLUDE_FROM_ALL ${_arg_SOURCE})
  set_target_properties(${_target} PROPERTIES EXCLUDE_FROM_DEFAULT_BUILD TRUE)
  target_link_libraries(${_target} PRIVATE kvshare::kvshare)

  # The regex travels in a file (bracket argument), so no quoting/escaping survives the command line.
  set(_expect_file ${CMAKE_CURRENT_BINARY_DIR}/${_arg_NAME}.expect.cmake)
  set(_content "set(KVSHARE_EXPECT_TARGET [==[${_target}]==])\n")
  string(APPEND _content "set(KVSHARE_EXPECT_SOURCE [==[${_arg_SOURCE}]==])\n")
  string(APPEND _content "set(KVSHARE_EXPECT_REGEX [==[${_arg_REGEX}]==])\n")
  file(WRITE ${_expect_file} "${_content}")

  add_test(NAME ${_arg_NAME}
    COMMAND ${CMAKE_COMMAND}
      -D KVSHARE_BUILD_DIR=${CMAKE_BINARY_DIR}
      -D KVSHARE_CONFIG=$<CONFIG>
      -D KVSHARE_EXPECT_FILE=${_expect_file}
      -P ${kvshare_SOURCE_DIR}/cmake/kvshare_expect_compile_failure.cmake)
  set(_labels compile_fail ${_arg_LABELS})
  list(REMOVE_DUPLICATES _labels)
  set_tests_properties(${_arg_NAME} PROPERTIES
    LABELS "${_labels}" RESOURCE_LOCK kvshare_build_tree TIMEOUT 300)
endfunction()

# ---- benchmarks ------------------------------------------------------------------------------------

function(_kvshare_benchmark_common name)
  # benchmark_main is a static library: sources with their own BENCHMARK_MAIN() win, sources without
  # one get the default main.
  set(_bench_libs benchmark::benchmark)
  if(TARGET benchmark::benchmark_main)
    list(APPEND _bench_libs benchmark::benchmark_main)
  endif()
  target_link_libraries(${name} PRIVATE ${_bench_libs})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${kvshare_BINARY_DIR}/benchmarks)
  _kvshare_apply_native(${name})
endfunction()

# kvshare_add_benchmark(NAME <name> SOURCES <files...> [LIBS <libs...>])
# -> ${kvshare_BINARY_DIR}/benchmarks/<name>, links kvshare::kvshare and Google Benchmark. Not a ctest.
function(kvshare_add_benchmark)
  cmake_parse_arguments(PARSE_ARGV 0 _arg "" "NAME" "SOURCES;LIBS")
  _kvshare_require_args(kvshare_add_benchmark NAME SOURCES)
  add_executable(${_arg_NAME} ${_arg_SOURCES})
  target_link_libraries(${_arg_NAME} PRIVATE kvshare::kvshare ${_arg_LIBS})
  _kvshare_benchmark_common(${_arg_NAME})
endfunction()

# kvshare_add_cuda_benchmark(NAME <name> SOURCES <files...> [LIBS <libs...>])
# Same, linking kvshare::cuda; does nothing unless the CUDA backend is enabled.
function(kvshare_add_cuda_benchmark)
  cmake_parse_arguments(PARSE_ARGV 0 _arg "" "NAME" "SOURCES;LIBS")
  _kvshare_require_args(kvshare_add_cuda_benchmark NAME SOURCES)
  if(NOT KVSHARE_CUDA_ENABLED)
    return()
  endif()
  add_executable(${_arg_NAME} ${_arg_SOURCES})
  target_link_libraries(${_arg_NAME} PRIVATE kvshare::cuda ${_arg_LIBS})
  _kvshare_benchmark_common(${_arg_NAME})
endfunction()

# ---- examples --------------------------------------------------------------------------------------

# kvshare_add_example(NAME <name> SOURCES <files...> [CUDA] [LIBS <libs...>])
# -> ${kvshare_BINARY_DIR}/examples/<name>. With CUDA: links kvshare::cuda and is skipped (with a
# status line) when the CUDA backend is not enabled.
function(kvshare_add_example)
  cmake_parse_arguments(PARSE_ARGV 0 _arg "CUDA" "NAME" "SOURCES;LIBS")
  _kvshare_require_args(kvshare_add_example NAME SOURCES)
  if(_arg_CUDA AND NOT KVSHARE_CUDA_ENABLED)
    message(STATUS "kvshare: example ${_arg_NAME} needs CUDA, not built")
    return()
  endif()
  add_executable(${_arg_NAME} ${_arg_SOURCES})
  if(_arg_CUDA)
    target_link_libraries(${_arg_NAME} PRIVATE kvshare::cuda ${_arg_LIBS})
  else()
    target_link_libraries(${_arg_NAME} PRIVATE kvshare::kvshare ${_arg_LIBS})
  endif()
  set_target_properties(${_arg_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${kvshare_BINARY_DIR}/examples)
  _kvshare_apply_native(${_arg_NAME})
endfunction()
