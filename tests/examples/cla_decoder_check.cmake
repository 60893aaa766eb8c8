# ctest script: runs build/examples/cla_decoder end to end and checks what it reports.
#   cmake -D DECODER=<cla_decoder binary> -D WORK=<scratch dir> -P cla_decoder_check.cmake
# - every variant prints one JSON object with the documented keys; incremental decode matches a full
#   recomputation (max |logit diff| <= 1e-4), contiguous and paged (page size 3, ragged batch);
# - the bytes the cache allocates (measured from it, contiguous) follow the variants' K/V heads and
#   layers exactly (8 query heads: MHA 8 K/V heads, gqa4 2, MQA 1, MQA-CLA2 1 on half the layers);
# - a checkpoint written by --save-checkpoint loads back and decodes consistently;
# - a bad argument exits 2 with a message naming it.
cmake_minimum_required(VERSION 3.25)

function(fail)
  string(JOIN "" msg ${ARGN})
  message(FATAL_ERROR "cla_decoder check: ${msg}")
endfunction()

# run_json(<out var> <args...>): runs the decoder with --json, returns its stdout, fails on rc != 0.
function(run_json out)
  execute_process(COMMAND ${DECODER} ${ARGN} --json RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    fail("`cla_decoder ${ARGN} --json` exited with ${rc}: ${err}")
  endif()
  set(${out} "${json}" PARENT_SCOPE)
endfunction()

# check_run(<json> <what>): the documented keys exist and incremental decode equals full recomputation.
function(check_run json what)
  foreach(key kv_bytes_allocated kv_bytes_per_token prefill_tokens_per_s decode_tokens_per_s
              max_logit_diff_incremental_vs_full)
    string(JSON value ERROR_VARIABLE err GET "${json}" ${key})
    if(err)
      fail("${what}: key '${key}' missing in ${json}")
    endif()
  endforeach()
  string(JSON diff GET "${json}" max_logit_diff_incremental_vs_full)
  string(JSON rate GET "${json}" decode_tokens_per_s)
  # CMake compares numbers in scientific notation correctly with LESS/GREATER (as doubles).
  if(NOT diff LESS_EQUAL 1e-4)
    fail("${what}: max |logit diff| incremental vs full = ${diff} > 1e-4")
  endif()
  if(NOT rate GREATER 0)
    fail("${what}: decode_tokens_per_s = ${rate}")
  endif()
endfunction()

set(common --layers 4 --d-model 128 --ffn 256 --vocab 97 --batch 3 --prompt-len 11 --new-tokens 5 --threads 2)
foreach(variant mha gqa4 mqa mqa-cla2)
  foreach(page 0 3)
    run_json(json --variant ${variant} --page-size ${page} ${common})
    check_run("${json}" "${variant} page-size ${page}")
    if(page EQUAL 0)
      string(JSON bytes_${variant} GET "${json}" kv_bytes_allocated)
    endif()
  endforeach()
endforeach()

# K/V heads 8 : 2 : 1, and CLA2 keeps half of the layers' caches: 16 : 4 : 2 : 1 in the allocation.
foreach(pair "mha;16" "gqa4;4" "mqa;2")
  list(GET pair 0 variant)
  list(GET pair 1 ratio)
  math(EXPR expect "${bytes_mqa-cla2} * ${ratio}")
  if(NOT bytes_${variant} EQUAL expect)
    fail("${variant} allocated ${bytes_${variant}} bytes, expected ${ratio} x mqa-cla2's ${bytes_mqa-cla2}")
  endif()
endforeach()

# A checkpoint written by the example loads back (config.json + model.safetensors).
file(REMOVE_RECURSE "${WORK}")
execute_process(COMMAND ${DECODER} --variant gqa4 --layers 4 --save-checkpoint "${WORK}"
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS "${WORK}/config.json" OR NOT EXISTS "${WORK}/model.safetensors")
  fail("--save-checkpoint exited with ${rc} (${err}) or wrote no config.json / model.safetensors")
endif()
run_json(json --checkpoint "${WORK}" --batch 2 --prompt-len 9 --new-tokens 4 --page-size 4)
check_run("${json}" "checkpoint")

# Bad arguments: exit 2 and a message that names the problem.
foreach(case "--variant;foo;unknown variant 'foo'" "--variant;gqa3;do not split into groups of 3"
             "--sharing;cla:0;the sharing factor must be >= 1" "--sharing;tail:9;the tail must leave"
             "--page-size;-1;page")
  list(GET case 0 flag)
  list(GET case 1 value)
  list(GET case 2 expect)
  execute_process(COMMAND ${DECODER} ${flag} ${value} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 2)
    fail("`cla_decoder ${flag} ${value}` exited with ${rc}, expected 2 (stderr: ${err})")
  endif()
  string(FIND "${err}" "${expect}" at)
  if(at EQUAL -1)
    fail("`cla_decoder ${flag} ${value}`: stderr does not say '${expect}': ${err}")
  endif()
endforeach()
message(STATUS "cla_decoder check: all passed")
