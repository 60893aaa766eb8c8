# Builds and runs one packaging consumer (cmake -P). Registered by tests/packaging/CMakeLists.txt.
#   -D MODE=find_package|subdirectory
#   -D CONSUMER_DIR=<consumer source dir>   -D WORK_DIR=<scratch dir, wiped first>
#   -D KVSHARE_SOURCE_DIR=<kvshare source>  -D KVSHARE_BINARY_DIR=<kvshare build tree> (find_package)
#   -D GENERATOR=... -D MAKE_PROGRAM=... -D CXX_COMPILER=... -D CONFIG=... -D EIGEN3_DIR=...
#   -D EXPECT_CUDA_TARGET=ON|OFF -D CUDATOOLKIT_ROOT=...   (find_package: check the kvshare::cuda export)
# find_package: `cmake --install <kvshare build> --prefix <WORK_DIR>/prefix`, then configure the
# consumer with CMAKE_PREFIX_PATH=<WORK_DIR>/prefix. subdirectory: the consumer add_subdirectory()s
# the kvshare source tree. Then build, then run the consumer (it exits 0 on success).
cmake_minimum_required(VERSION 3.25)

foreach(var MODE CONSUMER_DIR WORK_DIR KVSHARE_SOURCE_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D ${var}=... is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "packaging (${MODE}): ${what} failed (exit ${rc})\n  command: ${cmd}\n${out}")
  endif()
  message(STATUS "packaging (${MODE}): ${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(configure_args
  -S "${CONSUMER_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_BUILD_TYPE=${CONFIG}")
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(EIGEN3_DIR)
  list(APPEND configure_args "-DEigen3_DIR=${EIGEN3_DIR}")
endif()

if(MODE STREQUAL "find_package")
  if(NOT KVSHARE_BINARY_DIR)
    message(FATAL_ERROR "run_consumer.cmake: -D KVSHARE_BINARY_DIR=... is required for find_package")
  endif()
  set(prefix "${WORK_DIR}/prefix")
  step("install kvshare into ${prefix}"
    "${CMAKE_COMMAND}" --install "${KVSHARE_BINARY_DIR}" --prefix "${prefix}" --config "${CONFIG}")
  if(NOT EXISTS "${prefix}/include/kvshare/kvshare.hpp")
    message(FATAL_ERROR "packaging (find_package): ${prefix}/include/kvshare/kvshare.hpp was not installed")
  endif()
  list(APPEND configure_args
    "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DKVSHARE_EXPECTED_PREFIX=${prefix}"
    # Only the temporary prefix may provide kvshare: no user/system package registry.
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
  if(DEFINED EXPECT_CUDA_TARGET)
    list(APPEND configure_args "-DKVSHARE_EXPECT_CUDA_TARGET=${EXPECT_CUDA_TARGET}")
  endif()
  if(CUDATOOLKIT_ROOT)
    list(APPEND configure_args "-DCUDAToolkit_ROOT=${CUDATOOLKIT_ROOT}")
  endif()
elseif(MODE STREQUAL "subdirectory")
  list(APPEND configure_args "-DKVSHARE_SOURCE_DIR=${KVSHARE_SOURCE_DIR}")
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE '${MODE}'")
endif()

step("configure consumer" "${CMAKE_COMMAND}" ${configure_args})
message(STATUS "${step_output}")
step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --config "${CONFIG}")

set(exe "${WORK_DIR}/build/consumer")
if(NOT EXISTS "${exe}")
  set(exe "${WORK_DIR}/build/${CONFIG}/consumer")   # multi-config generators
endif()
step("run consumer" "${exe}")
